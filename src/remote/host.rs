//! What an operation needs from a host, whatever carries it: run a script under a step name,
//! open a byte stream to a Unix socket there. The SSH session implements it for real hosts;
//! `remote::fake` implements it in-process for tests. Operations take `&dyn RemoteHost`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Output, RemoteError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream to a socket on a host (slapd's ldapi socket, say).
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

pub trait RemoteHost: Send + Sync {
    /// The inventory name of the host, used in every error about it.
    fn name(&self) -> &str;

    /// Runs a shell script as root, killed after `limit`; `step` names it in errors.
    fn run_for<'a>(
        &'a self,
        step: &'a str,
        script: &'a str,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Output, RemoteError>>;

    /// The limit `run` applies.
    fn command_timeout(&self) -> Duration;

    /// A byte stream to the Unix socket at `path` on the host.
    fn open_unix_socket<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>>;

    /// A byte stream to `port` on the host's loopback (SSH direct-tcpip): a service that
    /// listens there only is reached through mailctl's own session.
    fn open_loopback_tcp<'a>(&'a self, port: u16) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>>;

    /// Asks the host to listen on a free port of its loopback and hand every connection made
    /// to it to mailctl (SSH remote forwarding); the port and the connections as they come.
    /// The listener goes when the receiver is dropped and `stop_forward` is called.
    fn forward_loopback_port<'a>(&'a self) -> BoxFuture<'a, Result<(u16, Incoming), RemoteError>>;

    /// Ends a listener `forward_loopback_port` made.
    fn stop_forward<'a>(&'a self, port: u16) -> BoxFuture<'a, ()>;

    /// True once the connection has dropped (the host went away, or a timeout closed it).
    fn is_closed(&self) -> bool;

    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Connections made to a forwarded port, as they come.
pub type Incoming = tokio::sync::mpsc::UnboundedReceiver<Box<dyn ByteStream>>;

/// A connected host, as operations hold it.
pub type HostConn = Box<dyn RemoteHost>;

impl dyn RemoteHost + '_ {
    /// Runs a shell script with the default command timeout.
    pub async fn run(&self, step: &str, script: &str) -> Result<Output, RemoteError> {
        self.run_for(step, script, self.command_timeout()).await
    }

    /// Like `run`, but a non-zero exit is an error carrying what the command said.
    pub async fn run_ok(&self, step: &str, script: &str) -> Result<Output, RemoteError> {
        let out = self.run(step, script).await?;
        if out.success() { Ok(out) } else { Err(self.failed(step, &out)) }
    }

    /// The error for a step that exited non-zero.
    pub fn failed(&self, step: &str, out: &Output) -> RemoteError {
        let code = out.status.map(|c| format!("exit {c}")).unwrap_or_else(|| "killed".into());
        let message = out.message();
        RemoteError::Ssh {
            host: self.name().to_string(),
            step: step.into(),
            message: if message.is_empty() { code } else { format!("{message} ({code})") },
        }
    }
}
