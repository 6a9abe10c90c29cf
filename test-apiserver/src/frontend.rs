//! A TCP front for several API servers, as the load balancer (or VIP) in front of a real
//! cluster's API servers: a kube client has one server URL, so to see a client survive the death
//! of an API server, point it here. Each connection goes to the next backend that accepts it
//! (round robin); a killed backend's connections break and the client's reconnects land on a
//! live one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running front; dropping it closes the listener and every proxied connection.
pub struct ApiFrontend {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl ApiFrontend {
    /// Listens on 127.0.0.1:0 and spreads connections over `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> std::io::Result<ApiFrontend> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(backends);
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = token.cancelled() => return,
                };
                let backends = backends.clone();
                let next = next.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let Some(mut upstream) = connect_any(&backends, &next).await else {
                        return; // no backend alive: the client sees the connection close
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
        Ok(ApiFrontend { addr, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at the front.
    pub fn kubeconfig_yaml(&self) -> String {
        crate::server::kubeconfig_yaml(&self.url())
    }
}

impl Drop for ApiFrontend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The next backend, in turn, that accepts a connection.
async fn connect_any(backends: &[SocketAddr], next: &AtomicUsize) -> Option<TcpStream> {
    let n = backends.len();
    let start = next.fetch_add(1, Ordering::Relaxed);
    for i in 0..n {
        let addr = backends[(start + i) % n];
        let attempt = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
        if let Ok(Ok(s)) = attempt {
            let _ = s.set_nodelay(true);
            return Some(s);
        }
    }
    None
}
