//! A TCP proxy on loopback between the application and its database, that a test can cut and
//! restore: a database outage without stopping the shared PostgreSQL server. Cut, it closes every
//! connection it carries and stops listening, so new connections are refused, as when the server
//! is down; restored, it listens on the same port again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    /// Bumped on every cut: the connections carried then end.
    cuts: watch::Sender<u64>,
    accepting: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts carrying connections to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cuts, _) = watch::channel(0u64);
        let mut proxy = Proxy { addr, upstream, cuts, accepting: None };
        proxy.accepting = Some(proxy.accept(listener));
        proxy
    }

    fn accept(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream;
        let cuts = self.cuts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        })
    }

    /// The database is gone: every carried connection closes, new ones are refused.
    pub fn cut(&mut self) {
        if let Some(task) = self.accepting.take() {
            task.abort();
        }
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The database is back, on the same address.
    pub async fn restore(&mut self) {
        if self.accepting.is_some() {
            return;
        }
        // The aborted task drops its listener soon after the abort; retry the bind briefly.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "proxy cannot listen again on {}: {e}", self.addr);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        self.accepting = Some(self.accept(listener));
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("a database URL");
        u.set_host(Some("127.0.0.1")).expect("host");
        u.set_port(Some(self.addr.port())).expect("port");
        u.to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The address a `postgres://` URL points at (loopback in tests).
pub fn upstream_of(url: &str) -> SocketAddr {
    let u = url::Url::parse(url).expect("a database URL");
    let host = match u.host_str() {
        None | Some("localhost") => "127.0.0.1",
        Some(h) => h,
    };
    format!("{host}:{}", u.port().unwrap_or(5432)).parse().expect("a loopback address")
}
