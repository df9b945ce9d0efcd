//! One SSH connection to one host, reused for every command sent to it. Each command runs in
//! its own channel under `sh -c` (through `sudo -n` when the SSH user is not root).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use russh::keys::agent::client::AgentClient;
use russh::{ChannelMsg, Disconnect};

use super::host::{BoxFuture, ByteStream, Incoming, RemoteHost};
use super::keys::KeyStore;
use super::known_hosts::{self, Verdict};
use super::{RemoteError, Target};

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Record keys of hosts not yet in known_hosts (like `StrictHostKeyChecking=accept-new`).
    /// A changed key is refused regardless.
    pub accept_new_host_keys: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(600),
            accept_new_host_keys: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The exit status; None when the command died of a signal.
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr, or stdout when stderr is empty: what a checker said, trimmed, with control
    /// characters escaped (it is printed on the admin's terminal).
    pub fn message(&self) -> String {
        let err = String::from_utf8_lossy(&self.stderr);
        let text = if err.trim().is_empty() { String::from_utf8_lossy(&self.stdout) } else { err };
        crate::escape::block(text.trim())
    }
}

/// russh's defaults with the host key types known_hosts holds for this host asked for first.
fn preferred_for(target: &Target) -> russh::Preferred {
    use russh::keys::{Algorithm, HashAlg};
    let known = known_hosts::recorded_algorithms(&target.known_hosts, &target.hostname, target.port);
    let defaults = russh::Preferred::DEFAULT;
    // An RSA key is negotiated as rsa-sha2-512/256: ask for those when "ssh-rsa" is known.
    let wanted: Vec<Algorithm> = known
        .into_iter()
        .flat_map(|a| match a {
            Algorithm::Rsa { .. } => vec![
                Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
                Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
                Algorithm::Rsa { hash: None },
            ],
            a => vec![a],
        })
        .collect();
    let mut key: Vec<Algorithm> = wanted.iter().filter(|a| defaults.key.contains(a)).cloned().collect();
    key.extend(defaults.key.iter().filter(|a| !wanted.contains(a)).cloned());
    russh::Preferred { key: key.into(), ..defaults }
}

pub struct Session {
    host: String,
    sudo: bool,
    handle: Handle<Verifier>,
    /// Where connections to each remotely forwarded port go (shared with the handler).
    forwards: Forwards,
    /// Kept open for as long as the host's connection runs through it.
    _jump: Option<Box<Session>>,
    command_timeout: Duration,
}

impl Session {
    pub async fn connect(target: &Target, opts: &ConnectOptions, keys: &KeyStore) -> Result<Session, RemoteError> {
        let secs = opts.connect_timeout.as_secs();
        let timeout = |step: &str| RemoteError::Timeout { host: target.name.clone(), step: step.into(), secs };
        let jump = match &target.jump {
            Some(j) => Some(Box::new(Box::pin(Session::connect(j, opts, keys)).await?)),
            None => None,
        };
        let verifier = Verifier::new(target, opts.accept_new_host_keys);
        let verdict = verifier.outcome.clone();
        let forwards = verifier.forwards.clone();
        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(15)),
            nodelay: true,
            preferred: preferred_for(target),
            ..Default::default()
        });
        let addr = format!("{}:{}", target.hostname, target.port);
        let connecting = async {
            match &jump {
                Some(j) => {
                    let channel = j
                        .handle
                        .channel_open_direct_tcpip(target.hostname.clone(), target.port as u32, "127.0.0.1", 0)
                        .await
                        .map_err(|e| RemoteError::Connect {
                            host: target.name.clone(),
                            addr: format!("{addr} via {}", j.host),
                            message: e.to_string(),
                        })?;
                    client::connect_stream(config, channel.into_stream(), verifier).await
                }
                None => {
                    let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| RemoteError::Connect {
                        host: target.name.clone(),
                        addr: addr.clone(),
                        message: e.to_string(),
                    })?;
                    tcp.set_nodelay(true).ok();
                    client::connect_stream(config, tcp, verifier).await
                }
            }
            .map_err(|e| {
                let recorded = verdict.lock().ok().and_then(|mut v| v.take());
                recorded.unwrap_or_else(|| RemoteError::Connect {
                    host: target.name.clone(),
                    addr: addr.clone(),
                    message: e.to_string(),
                })
            })
        };
        let mut handle =
            tokio::time::timeout(opts.connect_timeout, connecting).await.map_err(|_| timeout("connect"))??;
        tokio::time::timeout(opts.connect_timeout * 6, authenticate(&mut handle, target, keys))
            .await
            .map_err(|_| timeout("authenticate"))??;
        Ok(Session {
            host: target.name.clone(),
            sudo: target.user != "root",
            handle,
            forwards,
            _jump: jump,
            command_timeout: opts.command_timeout,
        })
    }

    /// The script travels on stdin, never in argv: no length limit, and the secrets in it
    /// do not show in the host's process list. The braces make the shell read all of it
    /// before running any, so a command that reads stdin cannot swallow the rest.
    ///
    /// The host itself enforces the limit (coreutils `timeout`, which signals the script's
    /// whole process group, then kills it 5 s later): dropping our channel alone would leave
    /// the command running there. Our own timer, a little longer, covers a host gone silent.
    async fn run_script(&self, step: &str, script: &str, limit: Duration) -> Result<Output, RemoteError> {
        let secs = limit.as_secs().max(1);
        let guarded = format!("timeout -k 5 {secs} sh -s");
        let command = if self.sudo { format!("sudo -n -- {guarded}") } else { guarded };
        let input = format!("{{\n{script}\n}} </dev/null\n");
        let timed_out = || RemoteError::Timeout { host: self.host.clone(), step: step.into(), secs };
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(limit + Duration::from_secs(10), self.exec(step, &command, input.as_bytes()))
            .await
            .map_err(|_| timed_out())??;
        // 124: `timeout` ended the script; 137: it had to SIGKILL it. A script can exit 137
        // on its own (a child killed by the OOM killer), so only past the limit is it ours.
        match out.status {
            Some(124 | 137) if started.elapsed() >= Duration::from_secs(secs) => Err(timed_out()),
            _ => Ok(out),
        }
    }

    async fn exec(&self, step: &str, command: &str, stdin: &[u8]) -> Result<Output, RemoteError> {
        let err =
            |e: russh::Error| RemoteError::Ssh { host: self.host.clone(), step: step.into(), message: e.to_string() };
        let mut channel = self.handle.channel_open_session().await.map_err(err)?;
        channel.exec(true, command).await.map_err(err)?;
        channel.data(stdin).await.map_err(err)?;
        channel.eof().await.map_err(err)?;
        let mut out = Output::default();
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                _ => {}
            }
        }
        Ok(out)
    }

    /// A byte stream to a Unix socket on the host (OpenSSH's direct-streamlocal), e.g. slapd's
    /// ldapi socket: the host's sshd connects as the logged-in user, so the socket's peer
    /// credentials are that user's.
    async fn unix_socket(&self, path: &str) -> Result<Box<dyn ByteStream>, RemoteError> {
        let channel = self.handle.channel_open_direct_streamlocal(path).await.map_err(|e| RemoteError::Ssh {
            host: self.host.clone(),
            step: format!("open {path} over SSH"),
            message: e.to_string(),
        })?;
        Ok(Box::new(channel.into_stream()))
    }

    async fn loopback_tcp(&self, port: u16) -> Result<Box<dyn ByteStream>, RemoteError> {
        let channel =
            self.handle.channel_open_direct_tcpip("127.0.0.1", port.into(), "127.0.0.1", 0).await.map_err(|e| {
                RemoteError::Ssh {
                    host: self.host.clone(),
                    step: format!("open 127.0.0.1:{port} over SSH"),
                    message: e.to_string(),
                }
            })?;
        Ok(Box::new(channel.into_stream()))
    }

    async fn forward_port(&self) -> Result<(u16, Incoming), RemoteError> {
        let err = |e: russh::Error| RemoteError::Ssh {
            host: self.host.clone(),
            step: "forward a loopback port over SSH (sshd's AllowTcpForwarding must allow remote forwarding)".into(),
            message: e.to_string(),
        };
        let port = self.handle.tcpip_forward("127.0.0.1", 0).await.map_err(err)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut f) = self.forwards.lock() {
            f.insert(port, tx);
        }
        Ok((port as u16, rx))
    }

    async fn unforward(&self, port: u16) {
        if let Ok(mut f) = self.forwards.lock() {
            f.remove(&u32::from(port));
        }
        let _ = self.handle.cancel_tcpip_forward("127.0.0.1", port.into()).await;
    }
}

impl RemoteHost for Session {
    fn name(&self) -> &str {
        &self.host
    }

    fn run_for<'a>(
        &'a self,
        step: &'a str,
        script: &'a str,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        Box::pin(self.run_script(step, script, limit))
    }

    fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    fn open_unix_socket<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>> {
        Box::pin(self.unix_socket(path))
    }

    fn open_loopback_tcp<'a>(&'a self, port: u16) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>> {
        Box::pin(self.loopback_tcp(port))
    }

    fn forward_loopback_port<'a>(&'a self) -> BoxFuture<'a, Result<(u16, Incoming), RemoteError>> {
        Box::pin(self.forward_port())
    }

    fn stop_forward<'a>(&'a self, port: u16) -> BoxFuture<'a, ()> {
        Box::pin(self.unforward(port))
    }

    fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
        })
    }
}

/// Agent keys first, then key files; the first key the server takes wins.
async fn authenticate(handle: &mut Handle<Verifier>, target: &Target, keys: &KeyStore) -> Result<(), RemoteError> {
    let host = &target.name;
    let ssh_err = |step: &str, e: &dyn std::fmt::Display| RemoteError::Ssh {
        host: host.clone(),
        step: step.into(),
        message: e.to_string(),
    };
    let mut tried = Vec::new();
    let rsa_hash = handle.best_supported_rsa_hash().await.map_err(|e| ssh_err("authenticate", &e))?.flatten();
    if std::env::var_os("SSH_AUTH_SOCK").is_some()
        && let Ok(mut agent) = AgentClient::connect_env().await
    {
        let identities = agent.request_identities().await.unwrap_or_default();
        for identity in identities {
            let key = identity.public_key().into_owned();
            let accepted = handle.authenticate_publickey_with(&target.user, key, rsa_hash, &mut agent).await;
            if matches!(accepted, Ok(r) if r.success()) {
                return Ok(());
            }
        }
        tried.push("ssh-agent".to_string());
    }
    for path in &target.identity_files {
        match keys.get(path).await {
            Ok(key) => {
                let with_hash = PrivateKeyWithHashAlg::new(key, rsa_hash);
                let accepted = handle
                    .authenticate_publickey(&target.user, with_hash)
                    .await
                    .map_err(|e| ssh_err("authenticate", &e))?;
                if accepted.success() {
                    return Ok(());
                }
                tried.push(format!("{} refused", path.display()));
            }
            Err(why) => tried.push(format!("{}: {why}", path.display())),
        }
    }
    if tried.is_empty() {
        tried.push("no agent, no key file".into());
    }
    Err(RemoteError::Auth { host: host.clone(), user: target.user.clone(), tried: tried.join("; ") })
}

/// Checks the server's key against known_hosts and records why it refused, so the
/// connection error can name the file and line.
pub struct Verifier {
    host: String,
    hostname: String,
    port: u16,
    path: std::path::PathBuf,
    accept_new: bool,
    outcome: Arc<Mutex<Option<RemoteError>>>,
    forwards: Forwards,
}

/// Remotely forwarded ports and where their connections go.
type Forwards = Arc<Mutex<std::collections::HashMap<u32, tokio::sync::mpsc::UnboundedSender<Box<dyn ByteStream>>>>>;

impl Verifier {
    fn new(target: &Target, accept_new: bool) -> Verifier {
        Verifier {
            host: target.name.clone(),
            hostname: target.hostname.clone(),
            port: target.port,
            path: target.known_hosts.clone(),
            accept_new,
            outcome: Arc::new(Mutex::new(None)),
            forwards: Arc::default(),
        }
    }

    fn refuse(&self, e: RemoteError) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(e);
        }
        Ok(false)
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    /// A connection to a port this session asked the host to forward: handed to whoever
    /// asked, or refused when nobody waits for it any more.
    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<client::Msg>,
        connected_address: &str,
        connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let waiting = self.forwards.lock().ok().and_then(|f| f.get(&connected_port).cloned());
        match waiting.filter(|_| connected_address == "127.0.0.1") {
            Some(tx) => {
                reply.accept().await;
                let _ = tx.send(Box::new(channel.into_stream()));
            }
            None => reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await,
        }
        Ok(())
    }

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return self.refuse(RemoteError::Ssh {
                host: self.host.clone(),
                step: "host key".into(),
                message: "the server offered a host certificate; mailctl checks plain host keys only".into(),
            });
        };
        let entry = known_hosts::host_entry(&self.hostname, self.port);
        let verdict = known_hosts::check(&self.path, &self.hostname, self.port, key).map_err(russh::Error::IO)?;
        let (host, path) = (self.host.clone(), self.path.clone());
        match verdict {
            Verdict::Known => Ok(true),
            Verdict::Unknown if self.accept_new => match known_hosts::learn(&self.path, &self.hostname, self.port, key)
            {
                Ok(()) => Ok(true),
                Err(e) => self.refuse(RemoteError::HostKeyLearn { host, path, message: e.to_string() }),
            },
            Verdict::Unknown => self.refuse(RemoteError::HostKeyUnknown { host, entry, path }),
            Verdict::Changed { line } => self.refuse(RemoteError::HostKeyChanged { host, entry, path, line }),
            Verdict::Revoked { line } => self.refuse(RemoteError::HostKeyRevoked { host, entry, path, line }),
        }
    }
}
