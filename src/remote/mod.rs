//! SSH to the cluster's hosts (russh): one connection per host reused for every step, strict
//! host-key checking, agent and key-file auth, jump hosts, timeouts, and bounded fan-out.

pub mod connector;
pub mod fake;
pub mod fanout;
pub mod host;
pub mod keys;
pub mod known_hosts;
pub mod session;
pub mod target;

use std::path::{Path, PathBuf};

pub use connector::{Connector, SshConnector};
pub use fanout::fan_out;
pub use host::{HostConn, RemoteHost};
pub use session::{ConnectOptions, Output, Session};
pub use target::{SshConfigFile, Target};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{host}: cannot connect to {addr}: {message}")]
    Connect { host: String, addr: String, message: String },
    #[error(
        "{host}: host key of {entry} is not in {}: refusing to connect. Check the key out of band, then add it \
         (`ssh-keyscan -p PORT HOST >> FILE`) or run once with --accept-new-host-keys",
        path.display()
    )]
    HostKeyUnknown { host: String, entry: String, path: PathBuf },
    #[error(
        "{host}: HOST KEY OF {entry} HAS CHANGED: it differs from {}:{line}. Refusing to connect: this may be an \
         attack, or the host was reinstalled; if you are sure, remove that line and connect again",
        path.display()
    )]
    HostKeyChanged { host: String, entry: String, path: PathBuf, line: usize },
    #[error("{host}: host key of {entry} is marked @revoked at {}:{line}: refusing to connect", path.display())]
    HostKeyRevoked { host: String, entry: String, path: PathBuf, line: usize },
    #[error("{host}: cannot record the host key in {}: {message}", path.display())]
    HostKeyLearn { host: String, path: PathBuf, message: String },
    #[error("{host}: {user} was not let in ({tried}); load the key into ssh-agent or set ssh.identity_file")]
    Auth { host: String, user: String, tried: String },
    #[error("{host}: {step} timed out after {secs} s")]
    Timeout { host: String, step: String, secs: u64 },
    #[error("{host}: {step}: {message}")]
    Ssh { host: String, step: String, message: String },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("jump host `{spec}` is not [user@]host[:port]")]
    Jump { spec: String },
}

impl RemoteError {
    fn config(path: &Path, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::Config { path: path.to_path_buf(), message: e.to_string() }
    }
}

/// A POSIX-shell-quoted argument.
pub fn quote(s: &str) -> String {
    crate::render::sandbox::quote(s)
}
