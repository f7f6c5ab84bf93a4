//! Host forwards: connections accepted on listeners a jail's init created
//! on its own loopback are relayed to fixed host services (the phantom
//! proxy, for instance). The jail picks nothing: each listener reaches the
//! one address the caller configured.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Connections one forward relays at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 64;
/// Longest wait for the host service to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The relays of one jail; dropping them closes every connection.
#[derive(Debug, Default)]
pub(crate) struct Forwards {
    tasks: Vec<JoinHandle<()>>,
}

impl Forwards {
    /// Starts one relay per `(listener, target)`. Needs a tokio runtime.
    pub(crate) fn start(pairs: Vec<(std::net::TcpListener, SocketAddr)>) -> std::io::Result<Forwards> {
        let mut tasks = Vec::with_capacity(pairs.len());
        for (listener, target) in pairs {
            listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(listener)?;
            tasks.push(tokio::spawn(relay(listener, target)));
        }
        Ok(Forwards { tasks })
    }
}

impl Drop for Forwards {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts on `listener` and relays each connection to `target`. The
/// connections live in a `JoinSet` owned by this task, so aborting the
/// task ends them all.
async fn relay(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((inbound, _)) if connections.len() < MAX_CONNECTIONS => {
                    connections.spawn(pipe(inbound, target));
                }
                Ok(_) => tracing::warn!(%target, "host forward at its connection cap; connection closed"),
                Err(err) => {
                    tracing::warn!(%err, "host forward accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn pipe(mut inbound: TcpStream, target: SocketAddr) {
    let _ = inbound.set_nodelay(true);
    let mut outbound = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::warn!(%err, %target, "host forward cannot reach its target");
            return;
        }
        Err(_) => {
            tracing::warn!(%target, "host forward target did not answer");
            return;
        }
    };
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
