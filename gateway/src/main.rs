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
    Run,
    /// Check a config file: exit 0, or print every error and exit 1.
    Validate,
    /// Print the JSON Schema of the config file.
    Schema,
    /// Print the CustomResourceDefinitions Switchboard reads (InferencePool,
    /// SwitchboardBackend, SwitchboardPolicy) as multi-document YAML, for `kubectl apply -f -`.
    Crds,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run);
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
        Command::Run => {
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let settings = model.settings.clone();
        let _telemetry = gateway::telemetry::init(&settings)?;
        if settings.session_key.is_none() {
            tracing::debug!("no config.sessionKey: MCP sessions (when configured) are local to this process");
        }
        let workers = settings.workers.unwrap_or_else(gateway::server::Workers::default_count);
        let runtime = Runtime::new(path, settings.drain_timeout, workers).context("cannot start the worker threads")?;
        tracing::debug!(workers, "worker threads started");
        let admin = gateway::admin::serve(settings.admin_addr, runtime.clone())
            .await
            .with_context(|| format!("cannot listen on the admin address {}", settings.admin_addr))?;
        tracing::info!(addr = %admin, "admin endpoints listening");
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
        tracing::info!(drain = ?settings.drain_timeout, "shutting down: no new connections; draining in-flight requests");
        runtime.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
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
