//! The `switchboard` command: run the gateway, validate a config file, or print its schema.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::config::Source;
use gateway::server::{reload, Runtime};

/// mimalloc: the proxy allocates small, short-lived buffers per request; glibc's malloc showed
/// up at about 4% of the CPU profile under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Switchboard: one gateway endpoint for agents.
#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about,
    args_conflicts_with_subcommands = false
)]
struct Cli {
    /// Config file (YAML or JSON).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        env = "SWITCHBOARD_CONFIG"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default when only -c is given).
    Run(RunArgs),
    /// Check a config file: exit 0, or print every error and exit 1.
    Validate,
    /// Print the JSON Schema of the config file.
    Schema,
    /// Print the CustomResourceDefinitions Switchboard reads (InferencePool,
    /// SwitchboardBackend, SwitchboardPolicy) as multi-document YAML, for `kubectl apply -f -`.
    Crds,
}

/// Options of `switchboard run`.
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    kube: gateway::kubernetes::KubernetesOptions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| {
        Command::Run(RunArgs {
            kube: gateway::kubernetes::KubernetesOptions::defaults(),
        })
    });
    match command {
        Command::Schema => {
            match serde_json::to_string_pretty(&gateway::config::schema()) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("switchboard: cannot print the schema: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Crds => {
            print!("{}", gateway::kubernetes::crd::yaml());
            ExitCode::SUCCESS
        }
        Command::Validate => {
            let Some(path) = cli.config else {
                eprintln!(
                    "switchboard: validate needs a config file: switchboard validate -c FILE"
                );
                return ExitCode::from(2);
            };
            match load(&path) {
                Ok(_) => {
                    println!("{}: ok", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(args) if args.kube.kubernetes => {
            match run_kubernetes(cli.config.as_deref(), args.kube) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(_) => {
            let Some(path) = cli.config else {
                eprintln!("switchboard: no config file: run `switchboard run -c FILE` (try examples/quickstart.yaml)");
                return ExitCode::from(2);
            };
            match run(&path) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn load(path: &Path) -> Result<(Source, gateway::model::Model), gateway::config::ConfigErrors> {
    gateway::model::load(path, gateway::mcp::build)
}

fn run(path: &Path) -> anyhow::Result<()> {
    let (source, model) = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = async_runtime()?;
    rt.block_on(async move {
        let settings = model.settings.clone();
        let _telemetry = gateway::telemetry::init(&settings)?;
        let runtime = start(&settings, Some(path)).await?;
        runtime.apply(model, source.redacted()).await?;
        let _watcher = match reload::watch(path, runtime.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the config file; send SIGHUP to reload");
                None
            }
        };
        tracing::info!("ready");
        wait_for_shutdown(&runtime).await;
        stop(&runtime, settings.drain_timeout).await;
        Ok(())
    })
}

/// `switchboard run --kubernetes`: routes from the API server; `settings_file`, when given,
/// holds only process settings.
fn run_kubernetes(
    settings_file: Option<&Path>,
    options: gateway::kubernetes::KubernetesOptions,
) -> anyhow::Result<()> {
    let (source, model) = match settings_file {
        Some(path) => load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => gateway::model::from_checked(
            Source::check("{}", Path::new("kubernetes"), &|name| {
                std::env::var(name).ok()
            }),
            gateway::mcp::build,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    if !source.file.binds.is_empty() || !source.file.backends.is_empty() {
        anyhow::bail!(
            "{}: with --kubernetes, listeners, routes and backends come from the API server; keep only the `config:` section in this file",
            source.path.display()
        );
    }
    let process = source.file.config.clone();
    let rt = async_runtime()?;
    rt.block_on(async move {
        let settings = model.settings.clone();
        let _telemetry = gateway::telemetry::init(&settings)?;
        let client = gateway::kubernetes::client(&options).await?;
        let runtime = start(&settings, None).await?;
        let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        let source = tokio::spawn(gateway::kubernetes::run(
            runtime.clone(),
            client,
            options,
            process,
            shutdown,
        ));
        tracing::info!("watching the Kubernetes API server");
        wait_for_shutdown(&runtime).await;
        shutdown_tx.send_replace(true);
        // The source releases the status lease before the ports close.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), source).await;
        stop(&runtime, settings.drain_timeout).await;
        Ok(())
    })
}

fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Starts the worker threads and the admin endpoints; the runtime serves nothing until a
/// model is applied.
async fn start(
    settings: &gateway::model::Settings,
    config_path: Option<&Path>,
) -> anyhow::Result<std::sync::Arc<Runtime>> {
    if settings.session_key.is_none() {
        tracing::debug!(
            "no config.sessionKey: MCP sessions (when configured) are local to this process"
        );
    }
    let workers = settings
        .workers
        .unwrap_or_else(gateway::server::Workers::default_count);
    let runtime = Runtime::new(config_path, settings.drain_timeout, workers)
        .context("cannot start the worker threads")?;
    tracing::debug!(workers, "worker threads started");
    let admin = gateway::admin::serve(settings.admin_addr, runtime.clone())
        .await
        .with_context(|| format!("cannot listen on the admin address {}", settings.admin_addr))?;
    tracing::info!(addr = %admin, "admin endpoints listening");
    Ok(runtime)
}

async fn stop(runtime: &Runtime, drain: std::time::Duration) {
    tracing::info!(
        ?drain,
        "shutting down: no new connections; draining in-flight requests"
    );
    runtime.shutdown().await;
    tracing::info!("stopped");
}

/// Waits for SIGTERM or SIGINT; SIGHUP reloads the config.
async fn wait_for_shutdown(runtime: &Runtime) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the config");
                let _ = runtime.reload().await;
            }
        }
    }
}
