//! `test-apiserver`: runs the test API server by hand.
//!
//!   test-apiserver --etcd http://127.0.0.1:2379[,http://...] [--listen 127.0.0.1:6443]
//!                  [--kubeconfig PATH] [--bookmark-seconds N]
//!   test-apiserver --start-etcd 3 [--listen ...] [--kubeconfig PATH]
//!
//! With `--start-etcd N` it launches an N-member etcd cluster itself (killed on exit).

use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: test-apiserver (--etcd URL[,URL...] | --start-etcd N) [--listen ADDR] [--kubeconfig PATH] [--bookmark-seconds N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut endpoints: Vec<String> = Vec::new();
    let mut start_etcd = 0usize;
    let mut listen = None;
    let mut kubeconfig = None;
    let mut bookmark = None;
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--etcd" => endpoints = val().split(',').map(String::from).collect(),
            "--start-etcd" => start_etcd = val().parse().unwrap_or_else(|_| usage()),
            "--listen" => listen = Some(val().parse().unwrap_or_else(|_| usage())),
            "--kubeconfig" => kubeconfig = Some(val()),
            "--bookmark-seconds" => bookmark = Some(val().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    let _cluster = if start_etcd > 0 {
        match test_apiserver::EtcdCluster::start(start_etcd).await {
            Ok(c) => {
                endpoints = c.endpoints();
                Some(c)
            }
            Err(e) => {
                eprintln!("etcd: {e}");
                std::process::exit(1)
            }
        }
    } else {
        None
    };
    if endpoints.is_empty() {
        usage();
    }
    let mut config = test_apiserver::Config::new(endpoints.clone());
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(b) = bookmark {
        config.bookmark_interval = Duration::from_secs(b);
    }
    let server = match test_apiserver::TestApiServer::start_with(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    if let Some(path) = kubeconfig {
        if let Err(e) = server.write_kubeconfig(std::path::Path::new(&path)) {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        }
    }
    println!(
        "test-apiserver on {} over etcd {}",
        server.url(),
        endpoints.join(",")
    );
    // SIGINT or SIGTERM: stop the server, then the etcd cluster (dropped on return).
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot handle SIGTERM: {e}");
            std::process::exit(1)
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.kill();
}
