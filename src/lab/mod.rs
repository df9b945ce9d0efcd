//! The rehearsal lab: one real host per inventory host on this machine, each a
//! systemd-nspawn container booting systemd on its own network namespace, bridged together
//! at the inventory's addresses and reachable over SSH with a key and known_hosts of the
//! lab's own. docs/lab.md says why each step is the way it is.

pub mod container;
pub mod image;
pub mod net;
pub mod twin;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::inventory::{Cluster, Host, Lab};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab needs root (it creates network namespaces and containers)")]
    NotRoot,
    #[error("the lab runs only on Linux")]
    NotLinux,
    #[error("`{tool}` is missing: install the Debian package {package}")]
    MissingTool { tool: &'static str, package: &'static str },
    #[error("the inventory has no `lab:` section (subnet and bridge for the lab hosts)")]
    NoLabSection,
    #[error("lab host {host}: {step}: {message}")]
    Host { host: String, step: String, message: String },
    #[error("lab: {step}: {message}")]
    Step { step: String, message: String },
}

/// Tools the lab drives, and the Debian package that provides each.
const TOOLS: [(&str, &str); 7] = [
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("systemd-nspawn", "systemd-container"),
    ("debootstrap", "debootstrap"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("dpkg-scanpackages", "dpkg-dev"),
];

pub fn preflight() -> Result<(), LabError> {
    if !cfg!(target_os = "linux") {
        return Err(LabError::NotLinux);
    }
    if !nix_is_root() {
        return Err(LabError::NotRoot);
    }
    for (tool, package) in TOOLS {
        if which(tool).is_none() {
            return Err(LabError::MissingTool { tool, package });
        }
    }
    Ok(())
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Where a lab keeps its state: keys, known_hosts, per-host disks and pid files.
#[derive(Debug, Clone)]
pub struct LabPaths {
    pub root: PathBuf,
}

impl LabPaths {
    pub fn for_cluster(cluster: &Cluster) -> LabPaths {
        LabPaths::for_name(&cluster.name)
    }
    pub fn for_name(cluster_name: &str) -> LabPaths {
        LabPaths { root: PathBuf::from("/var/lib/mailctl/lab").join(cluster_name) }
    }
    pub fn key(&self) -> PathBuf {
        self.root.join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }
    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.root.join("hosts").join(host)
    }
}

/// The lab section, or the error that says it is missing.
pub fn lab_of(cluster: &Cluster) -> Result<&Lab, LabError> {
    cluster.lab.as_ref().ok_or(LabError::NoLabSection)
}

/// A command's output, or an error naming the step and carrying its stderr.
pub fn run(step: &str, cmd: &mut Command) -> Result<String, LabError> {
    let out = cmd.output().map_err(|e| LabError::Step { step: step.to_string(), message: e.to_string() })?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = format!("exited with {}", out.status);
        }
        return Err(LabError::Step { step: step.to_string(), message });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Polls until `ready` is true or `timeout` passes.
pub fn wait_until(timeout: Duration, interval: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(interval);
    }
}

pub fn ensure_dir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path)
        .map_err(|e| LabError::Step { step: format!("create {}", path.display()), message: e.to_string() })
}

/// One lab host as `lab status` shows it.
#[derive(Debug, serde::Serialize)]
pub struct HostState {
    pub host: String,
    pub address: String,
    /// The release its disk was installed with (None: never booted).
    pub os: Option<String>,
    pub up: bool,
    pub uptime_s: Option<u64>,
}

/// Brings every host of the lab up (hosts already up are left alone) and waits until each
/// answers SSH with systemd booted.
/// Every booted systemd takes several inotify instances, and they all count against root's
/// one per-user limit (128 by default): past about 20 hosts on a machine, the next host's
/// systemd dies at boot with "Too many open files". Raise the limits, never lower them.
fn raise_inotify_limits(log: &mut dyn FnMut(&str)) -> Result<(), LabError> {
    for (name, wanted) in [("max_user_instances", 8192u64), ("max_user_watches", 524_288)] {
        let path = format!("/proc/sys/fs/inotify/{name}");
        let current: u64 = std::fs::read_to_string(&path).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(wanted);
        if current < wanted {
            std::fs::write(&path, wanted.to_string())
                .map_err(|e| LabError::Step { step: format!("raise fs.inotify.{name}"), message: e.to_string() })?;
            log(&format!("raised fs.inotify.{name} from {current} to {wanted} (many systemd hosts share it)"));
        }
    }
    Ok(())
}

pub fn up(cluster: &Cluster, mail_packages: &[String], log: &mut dyn FnMut(&str)) -> Result<(), LabError> {
    preflight()?;
    let lab = lab_of(cluster)?;
    let paths = LabPaths::for_cluster(cluster);
    ensure_dir(&paths.root)?;
    // It holds the lab's private key.
    std::fs::set_permissions(&paths.root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io_step("lab dir"))?;
    if !paths.key().exists() {
        run(
            "lab key",
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("mailctl lab {}", cluster.name), "-f"])
                .arg(paths.key()),
        )?;
    }
    // One image per release the hosts run: a lab may mix them (an upgrade rehearsed host by host).
    let mut images = std::collections::BTreeMap::new();
    for os in cluster.hosts.iter().map(|h| h.os).collect::<std::collections::BTreeSet<_>>() {
        images.insert(os, image::ensure(os, mail_packages, log)?);
    }
    raise_inotify_limits(log)?;
    net::ensure_bridge(&lab.bridge, lab.subnet)?;
    // Refuse before booting anything: a host whose release changed needs a reinstall.
    for h in cluster.hosts.iter().filter(|h| container::running_pid(cluster, &paths, &h.name).is_none()) {
        ensure_dir(&paths.host_dir(&h.name))?;
        container::check_disk_release(cluster, &paths, h)?;
    }
    let mut started = Vec::new();
    for h in &cluster.hosts {
        if container::running_pid(cluster, &paths, &h.name).is_some() {
            continue;
        }
        net::ensure_host_network(&cluster.name, h, &lab.bridge, lab.subnet.prefix_len())?;
        container::start(cluster, &paths, &images[&h.os], h)?;
        started.push(h);
    }
    write_known_hosts(cluster, &paths)?;
    let results: Vec<Result<(), LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            started.iter().map(|h| s.spawn(|| container::wait_ready(&paths, h, Duration::from_secs(60)))).collect();
        handles
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(LabError::Step { step: "wait".into(), message: "thread panicked".into() }))
            })
            .collect()
    });
    results.into_iter().collect()
}

fn io_step(step: &'static str) -> impl Fn(std::io::Error) -> LabError {
    move |e| LabError::Step { step: step.to_string(), message: e.to_string() }
}

/// The lab's own known_hosts: every host's key under its address, FQDN and name, so any
/// SSH client connects with strict checking.
fn write_known_hosts(cluster: &Cluster, paths: &LabPaths) -> Result<(), LabError> {
    let lines: Vec<String> =
        cluster.hosts.iter().map(|h| container::host_key_line(paths, h)).collect::<Result<_, _>>()?;
    std::fs::write(paths.known_hosts(), lines.join("\n") + "\n").map_err(io_step("known_hosts"))
}

/// Powers every host off and removes namespaces, veths, cgroups and the bridge.
/// With `purge` the hosts' disks (their upper layers) go too.
pub fn down(cluster: &Cluster, purge: bool) -> Result<(), LabError> {
    preflight()?;
    let lab = lab_of(cluster)?;
    let paths = LabPaths::for_cluster(cluster);
    let results: Vec<Result<(), LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> = cluster.hosts.iter().map(|h| s.spawn(|| container::stop(cluster, &paths, h))).collect();
        handles
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(LabError::Step { step: "stop".into(), message: "thread panicked".into() }))
            })
            .collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    for h in &cluster.hosts {
        net::remove_host_network(&cluster.name, h)?;
        if purge {
            let _ = std::fs::remove_dir_all(paths.host_dir(&h.name));
        }
    }
    net::remove_bridge(&lab.bridge)
}

/// Stops one host and removes its network, leaving the rest of the lab running.
pub fn stop_host(cluster: &Cluster, host: &Host) -> Result<(), LabError> {
    let paths = LabPaths::for_cluster(cluster);
    container::stop(cluster, &paths, host)?;
    net::remove_host_network(&cluster.name, host)
}

/// Powers one host off and drops its disk, as a reinstall does: `up` then boots it afresh on
/// the release the inventory names for it.
pub fn wipe_host(cluster: &Cluster, host: &Host) -> Result<(), LabError> {
    stop_host(cluster, host)?;
    let dir = LabPaths::for_cluster(cluster).host_dir(&host.name);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::Host { host: host.name.clone(), step: "drop its disk".into(), message: e.to_string() })
        }
        _ => Ok(()),
    }
}

/// Cuts one host's power (everything in it killed at once, as a crash) and unplugs it: its
/// address stops answering at all, as a dead server's does. `up` boots it again.
pub fn power_cut_host(cluster: &Cluster, host: &Host) -> Result<(), LabError> {
    let paths = LabPaths::for_cluster(cluster);
    // Unplugged first, so nothing on the wire sees a dying host answer.
    net::remove_host_network(&cluster.name, host)?;
    container::power_cut(cluster, &paths, host)
}

pub fn status(cluster: &Cluster) -> Result<Vec<HostState>, LabError> {
    lab_of(cluster)?;
    let paths = LabPaths::for_cluster(cluster);
    Ok(cluster
        .hosts
        .iter()
        .map(|h| {
            let pid = container::running_pid(cluster, &paths, &h.name);
            HostState {
                host: h.name.clone(),
                address: h.address.to_string(),
                os: container::disk_release(&paths, &h.name),
                up: pid.is_some(),
                uptime_s: pid.and_then(container::uptime),
            }
        })
        .collect())
}
