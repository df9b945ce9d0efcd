//! In-process hosts for tests of our own logic (deploy's stage order, a move's phases): each
//! step an operation runs is recorded and answered by a handler the test writes, and any step
//! can be made to fail. They are held to the real contract by the lab tests, which run the
//! same operations against real hosts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::connector::Connector;
use super::host::{BoxFuture, ByteStream, HostConn, Incoming, RemoteHost};
use super::{Output, RemoteError};
use crate::directory::DirectoryError;
use crate::directory::client::DirectoryClient;
use crate::directory::memory::MemoryDirectory;
use crate::inventory::model::Host;

/// Answers one step on one host: (host, step, script) → output.
pub type Handler = dyn Fn(&str, &str, &str) -> Output + Send + Sync;

/// A step a test wants to fail, on one host or any (`host: None`), `times` times.
#[derive(Debug, Clone)]
struct Failure {
    host: Option<String>,
    step: String,
    times: usize,
}

/// Every fake host of a test, sharing one log, one handler and one list of failures.
#[derive(Clone)]
pub struct FakeFleet {
    inner: Arc<Inner>,
}

struct Inner {
    handler: Box<Handler>,
    log: Mutex<Vec<(String, String)>>,
    failures: Mutex<Vec<Failure>>,
    unreachable: Mutex<Vec<String>>,
    directory: MemoryDirectory,
}

impl FakeFleet {
    pub fn new(handler: impl Fn(&str, &str, &str) -> Output + Send + Sync + 'static) -> FakeFleet {
        FakeFleet {
            inner: Arc::new(Inner {
                handler: Box::new(handler),
                log: Mutex::new(Vec::new()),
                failures: Mutex::new(Vec::new()),
                unreachable: Mutex::new(Vec::new()),
                directory: MemoryDirectory::default(),
            }),
        }
    }

    /// Every step answers exit 0 with no output, but facts, which say the hosts run Debian 12
    /// (the release the shipped inventories name, by default).
    pub fn succeeding() -> FakeFleet {
        FakeFleet::new(|_, step, _| if step == "facts" { ok(DEBIAN_12_FACTS) } else { ok("") })
    }

    /// The next `times` runs of `step` (on `host`, or on any host) exit 1.
    pub fn fail_step(&self, host: Option<&str>, step: &str, times: usize) {
        let f = Failure { host: host.map(str::to_string), step: step.to_string(), times };
        self.inner.failures.lock().unwrap().push(f);
    }

    /// The directory every `Connector::directory` call of this fleet opens.
    pub fn directory(&self) -> &MemoryDirectory {
        &self.inner.directory
    }

    /// Connections to `host` are refused.
    pub fn unreachable(&self, host: &str) {
        self.inner.unreachable.lock().unwrap().push(host.to_string());
    }

    /// (host, step) of every step run so far, in order.
    pub fn log(&self) -> Vec<(String, String)> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The steps run on `host`, in order.
    pub fn steps_on(&self, host: &str) -> Vec<String> {
        self.log().into_iter().filter(|(h, _)| h == host).map(|(_, s)| s).collect()
    }

    pub fn host(&self, name: &str) -> FakeHost {
        FakeHost { name: name.to_string(), fleet: self.clone() }
    }

    fn take_failure(&self, host: &str, step: &str) -> bool {
        let mut failures = self.inner.failures.lock().unwrap();
        let found =
            failures.iter_mut().find(|f| f.times > 0 && f.step == step && f.host.as_deref().is_none_or(|h| h == host));
        match found {
            Some(f) => {
                f.times -= 1;
                true
            }
            None => false,
        }
    }
}

/// What a bare Debian 12 host answers to deploy's facts step (src/deploy/facts.rs).
pub const DEBIAN_12_FACTS: &str = "O debian 12\n";

/// Output with exit 0 and `stdout`.
pub fn ok(stdout: &str) -> Output {
    Output { status: Some(0), stdout: stdout.as_bytes().to_vec(), stderr: Vec::new() }
}

/// Output with exit `code` and `stderr`.
pub fn fail(code: u32, stderr: &str) -> Output {
    Output { status: Some(code), stdout: Vec::new(), stderr: stderr.as_bytes().to_vec() }
}

pub struct FakeHost {
    name: String,
    fleet: FakeFleet,
}

impl RemoteHost for FakeHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn run_for<'a>(
        &'a self,
        step: &'a str,
        script: &'a str,
        _limit: Duration,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        Box::pin(async move {
            self.fleet.inner.log.lock().unwrap().push((self.name.clone(), step.to_string()));
            // Let other hosts' steps interleave, as they would over the network.
            tokio::task::yield_now().await;
            if self.fleet.take_failure(&self.name, step) {
                return Ok(fail(1, &format!("{step}: failed on purpose (test)")));
            }
            Ok((self.fleet.inner.handler)(&self.name, step, script))
        })
    }

    fn command_timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    fn open_unix_socket<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>> {
        Box::pin(async move {
            Err(RemoteError::Ssh {
                host: self.name.clone(),
                step: format!("open {path}"),
                message: "fake hosts have no sockets: use directory::memory".into(),
            })
        })
    }

    fn open_loopback_tcp<'a>(&'a self, port: u16) -> BoxFuture<'a, Result<Box<dyn ByteStream>, RemoteError>> {
        Box::pin(async move {
            Err(RemoteError::Ssh {
                host: self.name.clone(),
                step: format!("open 127.0.0.1:{port}"),
                message: "fake hosts have no sockets".into(),
            })
        })
    }

    /// A port nobody connects to: the fake's handler plays both ends of what would flow.
    fn forward_loopback_port<'a>(&'a self) -> BoxFuture<'a, Result<(u16, Incoming), RemoteError>> {
        Box::pin(async { Ok((40000, tokio::sync::mpsc::unbounded_channel().1)) })
    }

    fn stop_forward<'a>(&'a self, _port: u16) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn is_closed(&self) -> bool {
        false
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl Connector for FakeFleet {
    fn connect<'a>(&'a self, host: &'a Host) -> BoxFuture<'a, Result<HostConn, RemoteError>> {
        Box::pin(async move {
            if self.inner.unreachable.lock().unwrap().contains(&host.name) {
                return Err(RemoteError::Connect {
                    host: host.name.clone(),
                    addr: format!("{}:22", host.address),
                    message: "Connection refused (test)".into(),
                });
            }
            Ok(Box::new(self.host(&host.name)) as HostConn)
        })
    }

    fn directory<'a>(
        &'a self,
        _provider: &'a dyn RemoteHost,
    ) -> BoxFuture<'a, Result<Box<dyn DirectoryClient>, DirectoryError>> {
        Box::pin(async move { Ok(self.inner.directory.client()) })
    }
}
