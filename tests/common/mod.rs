//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod pairs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mailctl::inventory::{self, Cluster};
use mailctl::lab::{self, LabPaths};
use mailctl::playbook::Playbook;
use mailctl::render::{RenderedHost, Renderer};
use mailctl::state::LocalState;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub const SHIPPED: [&str; 6] = ["tgg", "lvlogistics", "hudedu", "excellent", "smknh", "lab"];

pub fn shipped(name: &str) -> PathBuf {
    repo().join("inventories").join(format!("{name}.yaml"))
}

/// A shipped inventory copied into `dir`, for commands that write beside the inventory
/// (its lock, state, move journals): a test never writes into the repository.
pub fn shipped_copy(name: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::copy(shipped(name), &path).unwrap();
    path
}

pub fn load(path: &Path) -> Cluster {
    match inventory::load(path) {
        Ok(l) => l.cluster,
        Err(e) => panic!("{} does not load:\n{e}", path.display()),
    }
}

/// Renders a cluster with its state in `state_dir` (never beside the shipped inventories).
pub fn render(cluster: &Cluster, state_dir: &Path) -> Vec<RenderedHost> {
    let mut state = LocalState::open(&state_dir.join(format!("{}.state.yaml", cluster.name))).unwrap();
    let renderer = Renderer::new(Playbook::builtin().unwrap(), None).unwrap();
    let hosts = renderer.render(cluster, &mut state, &[]).unwrap();
    state.save().unwrap();
    hosts
}

pub fn file<'a>(hosts: &'a [RenderedHost], host: &str, dest: &str) -> &'a str {
    let h = hosts.iter().find(|h| h.host == host).unwrap_or_else(|| panic!("no host {host}"));
    let f = h.files.iter().find(|f| f.dest == dest).unwrap_or_else(|| panic!("{host} has no {dest}"));
    std::str::from_utf8(&f.content).unwrap()
}

/// The release the lab tests' hosts run: Debian 12, or what MAILCTL_TEST_OS names
/// (`debian-13`), so the whole lab tier can run on either (scripts/test.sh runs both).
pub fn test_release() -> Option<String> {
    std::env::var("MAILCTL_TEST_OS").ok().filter(|v| !v.is_empty())
}

/// An inventory text with `os:` under `cluster:` set to the test release, if one is named.
pub fn on_test_release(text: &str) -> String {
    match test_release() {
        Some(os) => with_cluster_os(text, &os),
        None => text.to_string(),
    }
}

/// An inventory text whose `cluster:` section says `os: <os>` (replacing any `os:` there).
pub fn with_cluster_os(text: &str, os: &str) -> String {
    let mut out = String::new();
    let mut in_cluster = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            in_cluster = line.starts_with("cluster:");
        }
        if in_cluster && line.trim_start().starts_with("os:") && line.starts_with("  ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with("cluster:") {
            out.push_str(&format!("  os: {os}\n"));
        }
    }
    out
}

pub fn mailctl() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailctl"))
}

/// The shipped lab inventory brought to a test's own cluster name, subnet and bridge (so a
/// test never touches a developer's lab), with its credentials, in a temporary directory.
pub struct LabCluster {
    pub dir: tempfile::TempDir,
    pub cluster: Cluster,
    inventory: PathBuf,
}

impl LabCluster {
    /// `net` is the first three octets with a trailing dot ("10.97.0."); `edit` may change
    /// the inventory text further.
    pub fn new(name: &str, net: &str, bridge: &str, edit: impl Fn(String) -> String) -> LabCluster {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string(shipped("lab")).unwrap();
        let text = shipped
            .replace("name: tgg-lab", &format!("name: {name}"))
            .replace("/lab/tgg-lab/", &format!("/lab/{name}/"))
            .replace("10.99.0.", net)
            .replace("bridge: mailctl0", &format!("bridge: {bridge}"));
        std::fs::write(dir.path().join("lab.yaml"), edit(on_test_release(&text))).unwrap();
        let creds = dir.path().join("lab-credentials");
        std::fs::create_dir(&creds).unwrap();
        for e in std::fs::read_dir(repo().join("inventories/lab-credentials")).unwrap().flatten() {
            std::fs::copy(e.path(), creds.join(e.file_name())).unwrap();
        }
        let inventory = dir.path().join("lab.yaml");
        let cluster = load(&inventory);
        LabCluster { dir, cluster, inventory }
    }

    /// The lab twin (`mailctl lab twin`) of a shipped field inventory, under a test's own
    /// cluster name, subnet and bridge.
    pub fn twin(shipped_name: &str, name: &str, subnet: &str, bridge: &str) -> LabCluster {
        LabCluster::twin_with(shipped_name, "", name, subnet, bridge)
    }

    /// The twin of a shipped field inventory with `extra` appended to the original (say, a
    /// `pairs:` section in the original's addresses, which the twin then moves to the lab).
    pub fn twin_with(shipped_name: &str, extra: &str, name: &str, subnet: &str, bridge: &str) -> LabCluster {
        let dir = tempfile::tempdir().unwrap();
        let original = shipped_copy(shipped_name, dir.path());
        if !extra.is_empty() {
            let text = std::fs::read_to_string(&original).unwrap();
            std::fs::write(&original, format!("{text}\n{extra}")).unwrap();
        }
        let out = mailctl()
            .args(["lab", "twin", "--name", name, "--subnet", subnet, "--bridge", bridge])
            .arg(&original)
            .output()
            .unwrap();
        assert!(out.status.success(), "lab twin {shipped_name}: {}", String::from_utf8_lossy(&out.stderr));
        let inventory = mailctl::lab::twin::twin_path(&original);
        let text = std::fs::read_to_string(&inventory).unwrap();
        std::fs::write(&inventory, on_test_release(&text)).unwrap();
        let cluster = load(&inventory);
        LabCluster { dir, cluster, inventory }
    }

    /// Fresh lab hosts (any earlier ones of this test dropped) with the cluster deployed.
    pub fn up_and_deployed(&self) {
        lab::down(&self.cluster, true).unwrap();
        lab::up(&self.cluster, &lab_packages(), &mut |_| {}).unwrap();
        let (code, report, out) = self.deploy(&[]);
        assert_eq!(code, 0, "deploy: {report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn inventory(&self) -> PathBuf {
        self.inventory.clone()
    }

    pub fn address(&self, host: &str) -> String {
        self.cluster.host(host).unwrap().address.to_string()
    }

    /// The password of an inventory account, by local part (`siti`) or whole address.
    pub fn password(&self, user: &str) -> String {
        let account = self
            .cluster
            .accounts
            .iter()
            .find(|a| a.address == user || a.local_part == user)
            .unwrap_or_else(|| panic!("no account {user} in the inventory"));
        account.password.as_ref().expect("a password reference").resolve(&self.cluster.base_dir()).unwrap()
    }

    /// `mailctl deploy --format json` with extra arguments: (exit code, report).
    pub fn deploy(&self, extra: &[&str]) -> (i32, serde_json::Value, Output) {
        let out = mailctl().args(["deploy", "--format", "json"]).arg(self.inventory()).args(extra).output().unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), report, out)
    }

    /// Like `ssh`, but a failure is ignored: for putting things back from a `Restore`, where a
    /// panic would abort the test binary.
    pub fn ssh_quietly(&self, host: &str, cmd: &str) {
        if let Some(h) = self.cluster.host(host) {
            let _ = lab::container::ssh(&LabPaths::for_cluster(&self.cluster), h, cmd);
        }
    }

    pub fn ssh(&self, host: &str, cmd: &str) -> String {
        let h = self.cluster.host(host).unwrap();
        lab::container::ssh(&LabPaths::for_cluster(&self.cluster), h, cmd).unwrap_or_else(|e| panic!("{host}: {e}"))
    }

    /// A copy of the built-in templates that a test may edit.
    pub fn templates(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        let status = Command::new("cp").arg("-r").arg(repo().join("templates")).arg(&dest).status().unwrap();
        assert!(status.success());
        dest
    }
}

/// The packages the lab's repository must hold.
pub fn lab_packages() -> Vec<String> {
    Playbook::builtin().unwrap().all_packages()
}

/// Runs a Python script (Debian's python3, whose packages install-deps.sh provides) with
/// arguments: (success, stdout + stderr).
pub fn python(script: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Validates a JSON document (argv[2]) against a 2020-12 schema file (argv[1]) with Python's
/// jsonschema, formats checked; prints the errors or `valid`.
pub const VALIDATE_JSON: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
errors = [f"{list(e.path)}: {e.message}" for e in v.iter_errors(json.loads(sys.argv[2]))]
print("\n".join(errors) or "valid")
sys.exit(1 if errors else 0)
"#;

/// One lab per test binary, shared by its scenarios: brought up by the first scenario that
/// runs, handed to one scenario at a time (they change the lab), torn down when the binary
/// exits. Each scenario is its own `#[test]`, so one failing does not hide the others;
/// they are `#[ignore]`d in a plain `cargo test` (they need root), and `scripts/test.sh` runs
/// them with `--ignored --test-threads=1`, in name order (`s1_…`, `s2_…`).
pub struct Shared<T: Send + 'static> {
    cell: std::sync::Mutex<Option<T>>,
    init: fn() -> T,
    teardown: fn(&T),
}

static TEARDOWNS: std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>> = std::sync::Mutex::new(Vec::new());

extern "C" fn run_teardowns() {
    let jobs = std::mem::take(&mut *TEARDOWNS.lock().unwrap_or_else(|e| e.into_inner()));
    for job in jobs {
        job();
    }
}

impl<T: Send + 'static> Shared<T> {
    pub const fn new(init: fn() -> T, teardown: fn(&T)) -> Shared<T> {
        Shared { cell: std::sync::Mutex::new(None), init, teardown }
    }

    /// Runs `scenario` on the shared lab, bringing it up first if no scenario has yet. A
    /// scenario that panicked leaves the lab to the next one as it is.
    pub fn run(&'static self, scenario: impl FnOnce(&T)) {
        let mut guard = self.cell.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some((self.init)());
            let mut jobs = TEARDOWNS.lock().unwrap_or_else(|e| e.into_inner());
            if jobs.is_empty() {
                // SAFETY: registers a plain function; it runs once, at exit.
                unsafe { libc::atexit(run_teardowns) };
            }
            jobs.push(Box::new(move || {
                let taken = self.cell.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(t) = taken {
                    (self.teardown)(&t);
                }
            }));
        }
        scenario(guard.as_ref().expect("initialised above"));
    }
}

/// The teardown of a `LabCluster`: its hosts and bridge removed.
/// Drops a test file's lab at the end; `MAILCTL_KEEP_LAB=1` keeps it running to look into.
pub fn lab_down(f: &LabCluster) {
    if std::env::var_os("MAILCTL_KEEP_LAB").is_some() {
        eprintln!("kept the lab {} (MAILCTL_KEEP_LAB): inventory {}", f.cluster.name, f.inventory.display());
        return;
    }
    let _ = lab::down(&f.cluster, true);
}

/// Runs its closure when dropped, a failing assertion's unwinding included: a scenario that
/// breaks something on the shared lab puts it back even when it fails, so the scenarios after
/// it start from a working cluster.
pub struct Restore<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Stops a client process that is still running: a scenario that panics must not leave a
/// sender hammering the next lab on the same addresses.
pub fn kill_if_running(child: &mut std::process::Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A child process stopped when dropped, however the scenario ends.
pub struct Guarded(pub std::process::Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        kill_if_running(&mut self.0);
    }
}
