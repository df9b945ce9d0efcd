//! One lab host: an overlay of the shared image with an upper layer of its own, seeded on
//! first boot, booted by systemd-nspawn inside the host's network namespace.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::net::netns;
use super::{LabError, LabPaths, image, run, wait_until};
use crate::inventory::{Cluster, Host};

fn cgroup_dirs(machine: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        vec![base.join("mailctl-lab").join(machine)]
    } else {
        vec![base.join("systemd/mailctl-lab").join(machine), base.join("unified/mailctl-lab").join(machine)]
    }
}

fn pid_file(paths: &LabPaths, host: &str) -> PathBuf {
    paths.host_dir(host).join("nspawn.pid")
}

/// The nspawn process of this host, if it runs: the pid file must name a live
/// systemd-nspawn for exactly this machine, so nothing else is ever signalled.
pub fn running_pid(cluster: &Cluster, paths: &LabPaths, host: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(paths, host)).ok()?.trim().parse().ok()?;
    if !alive(pid) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
    let ours = args.first().is_some_and(|a| a.ends_with("systemd-nspawn"))
        && args.iter().any(|a| a == &format!("--machine={}", netns(&cluster.name, host)));
    ours.then_some(pid)
}

/// Seconds since the host's container started.
pub fn uptime(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let start_ticks: u64 = stat.rsplit(')').next()?.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    Some((boot - start_ticks as f64 / 100.0).max(0.0) as u64)
}

/// Writes what makes this host itself into its upper layer (once): hostname, hosts file,
/// machine-id, SSH host key, root's authorized key.
fn seed(cluster: &Cluster, paths: &LabPaths, host: &Host) -> Result<(), LabError> {
    let upper = paths.host_dir(&host.name).join("upper");
    if upper.join("etc/machine-id").exists() {
        return Ok(());
    }
    let io =
        |e: std::io::Error| LabError::Host { host: host.name.clone(), step: "seed".into(), message: e.to_string() };
    for d in ["etc/ssh", "root/.ssh"] {
        std::fs::create_dir_all(upper.join(d)).map_err(io)?;
    }
    std::fs::write(upper.join("etc/hostname"), format!("{}\n", host.short_name())).map_err(io)?;
    let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for h in &cluster.hosts {
        hosts += &format!("{}\t{} {}\n", h.address, h.fqdn, h.short_name());
    }
    std::fs::write(upper.join("etc/hosts"), hosts).map_err(io)?;
    std::fs::write(upper.join("etc/resolv.conf"), "").map_err(io)?;
    std::fs::write(upper.join("etc/machine-id"), format!("{}\n", crate::state::random_hex(32))).map_err(io)?;
    let key = upper.join("etc/ssh/ssh_host_ed25519_key");
    run(
        &format!("host key ({})", host.name),
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", &host.fqdn, "-f"]).arg(&key),
    )?;
    let auth = upper.join("root/.ssh/authorized_keys");
    std::fs::copy(paths.key().with_extension("pub"), &auth).map_err(io)?;
    std::fs::set_permissions(upper.join("root/.ssh"), std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(())
}

/// The host's public key line for known_hosts.
pub fn host_key_line(paths: &LabPaths, host: &Host) -> Result<String, LabError> {
    let path = paths.host_dir(&host.name).join("upper/etc/ssh/ssh_host_ed25519_key.pub");
    let text = std::fs::read_to_string(&path).map_err(|e| LabError::Host {
        host: host.name.clone(),
        step: "read host key".into(),
        message: e.to_string(),
    })?;
    let mut parts = text.split_whitespace();
    let (kind, key) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    Ok(format!("{},{},{} {kind} {key}", host.address, host.fqdn, host.name))
}

/// Where a host's disk records the release it was installed with.
fn release_file(paths: &LabPaths, host: &str) -> PathBuf {
    paths.host_dir(host).join("os")
}

/// The release a host's disk was installed with; disks from before mixed labs are Debian 12.
pub fn disk_release(paths: &LabPaths, host: &str) -> Option<String> {
    let recorded = std::fs::read_to_string(release_file(paths, host)).ok().map(|s| s.trim().to_string());
    let seeded = paths.host_dir(host).join("upper/etc/machine-id").exists();
    recorded.or_else(|| seeded.then(|| crate::release::Os::Debian12.to_string()))
}

/// A disk installed with one release cannot boot another's image: its packages and
/// configuration belong to the first. Changing a host's `os:` is a reinstall.
pub fn check_disk_release(cluster: &Cluster, paths: &LabPaths, host: &Host) -> Result<(), LabError> {
    match disk_release(paths, &host.name) {
        Some(disk) if disk != host.os.as_str() => Err(LabError::Host {
            host: host.name.clone(),
            step: "boot".into(),
            message: format!(
                "its disk was installed with {disk} and the inventory now says {}: reinstall it with `mailctl lab reinstall {} {}` (its disk and mail go; move its accounts off first), \
                 or set its `os:` back",
                host.os,
                cluster.source.display(),
                host.name
            ),
        }),
        _ => std::fs::write(release_file(paths, &host.name), format!("{}\n", host.os)).map_err(|e| LabError::Host {
            host: host.name.clone(),
            step: "record its release".into(),
            message: e.to_string(),
        }),
    }
}

/// Boots the host's container in the background; returns once nspawn is started.
/// `lab::up` has checked the disk's release (`check_disk_release`) first.
pub fn start(cluster: &Cluster, paths: &LabPaths, img: &image::Image, host: &Host) -> Result<(), LabError> {
    seed(cluster, paths, host)?;
    let dir = paths.host_dir(&host.name);
    for d in ["upper", "work", "merged"] {
        super::ensure_dir(&dir.join(d))?;
    }
    let machine = netns(&cluster.name, &host.name);
    let cgroups = cgroup_dirs(&machine);
    let mut script = String::from("set -e\n");
    for cg in &cgroups {
        // With --keep-unit all containers would share one cgroup; boot then failed at random.
        script += &format!("mkdir -p {0} && echo $$ > {0}/cgroup.procs\n", cg.display());
    }
    script += &format!(
        "mount -t overlay mailctl-lab -o lowerdir={rootfs},upperdir={d}/upper,workdir={d}/work {d}/merged\n\
         echo $$ > {pid}\n\
         exec systemd-nspawn -q -D {d}/merged --machine={machine} --hostname={hostname} --register=no --keep-unit \
         --network-namespace-path=/run/netns/{machine} --capability=CAP_NET_ADMIN --resolv-conf=off --timezone=off \
         --console=read-only --bind-ro={repo}:{mount} -b\n",
        rootfs = img.rootfs.display(),
        d = dir.display(),
        pid = pid_file(paths, &host.name).display(),
        hostname = host.short_name(),
        repo = img.repo.display(),
        mount = image::REPO_MOUNT,
    );
    let log = std::fs::File::create(dir.join("console.log")).map_err(|e| LabError::Host {
        host: host.name.clone(),
        step: "start".into(),
        message: e.to_string(),
    })?;
    // --fork: the container is not our child, so it is never left a zombie of ours when it
    // stops, whoever started it (a zombie's /proc entry made it look alive).
    Command::new("setsid")
        .args(["--fork", "unshare", "--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| LabError::Host {
            host: host.name.clone(),
            step: "start".into(),
            message: e.to_string(),
        })?)
        .stderr(log)
        .status()
        .map_err(|e| LabError::Host { host: host.name.clone(), step: "start".into(), message: e.to_string() })?;
    let started = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        running_pid(cluster, paths, &host.name).is_some()
    });
    if !started {
        let console = std::fs::read_to_string(dir.join("console.log")).unwrap_or_default();
        return Err(LabError::Host {
            host: host.name.clone(),
            step: "start container".into(),
            message: console.trim().to_string(),
        });
    }
    Ok(())
}

/// Waits until SSH answers and systemd has finished booting.
pub fn wait_ready(paths: &LabPaths, host: &Host, timeout: Duration) -> Result<(), LabError> {
    let ok = wait_until(timeout, Duration::from_millis(200), || {
        ssh(paths, host, "systemctl is-system-running --wait >/dev/null 2>&1; systemctl is-system-running")
            .map(|s| s.trim() == "running" || s.trim() == "degraded")
            .unwrap_or(false)
    });
    if ok {
        Ok(())
    } else {
        Err(LabError::Host {
            host: host.name.clone(),
            step: "wait for ssh and boot".into(),
            message: format!("not ready after {}s", timeout.as_secs()),
        })
    }
}

/// Runs a command on a lab host with the lab's key and strict host-key checking.
pub fn ssh(paths: &LabPaths, host: &Host, command: &str) -> Result<String, LabError> {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(paths.key())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", paths.known_hosts().display()))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=2",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("root@{}", host.address))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Host { host: host.name.clone(), step: "ssh".into(), message: e.to_string() })?;
    if !out.status.success() {
        return Err(LabError::Host {
            host: host.name.clone(),
            step: "ssh".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Powers the container off (SIGTERM to nspawn); if that hangs, ends the container's own
/// init first, then nspawn. Then removes its cgroups and nspawn's leftovers.
pub fn stop(cluster: &Cluster, paths: &LabPaths, host: &Host) -> Result<(), LabError> {
    let machine = netns(&cluster.name, &host.name);
    if let Some(pid) = running_pid(cluster, paths, &host.name) {
        signal(pid, "TERM");
        let gone = wait_until(Duration::from_secs(20), Duration::from_millis(100), || !alive(pid));
        if !gone {
            for child in children(pid) {
                signal(child, "KILL");
            }
            signal(pid, "KILL");
            let killed = wait_until(Duration::from_secs(5), Duration::from_millis(100), || !alive(pid));
            if !killed {
                return Err(LabError::Host {
                    host: host.name.clone(),
                    step: "stop".into(),
                    message: format!("systemd-nspawn (pid {pid}) survived SIGKILL; its network is left in place"),
                });
            }
        }
    }
    let _ = std::fs::remove_file(pid_file(paths, &host.name));
    for cg in cgroup_dirs(&machine) {
        // nspawn exits before the container's last processes do: the host is down only
        // once its cgroup holds none (and a power-cut kills the stragglers).
        if !wait_until(Duration::from_secs(10), Duration::from_millis(50), || cgroup_pids(&cg).is_empty()) {
            kill_cgroup(&cg);
            if !wait_until(Duration::from_secs(5), Duration::from_millis(50), || cgroup_pids(&cg).is_empty()) {
                return Err(LabError::Host {
                    host: host.name.clone(),
                    step: "stop".into(),
                    message: format!("processes {:?} of the container survived SIGKILL", cgroup_pids(&cg)),
                });
            }
        }
        remove_cgroup(&cg);
    }
    let _ = std::fs::remove_dir_all(Path::new("/run/systemd/nspawn/propagate").join(&machine));
    let _ = std::fs::remove_file(Path::new("/run/systemd/nspawn/unix-export").join(&machine));
    Ok(())
}

/// Cuts the power: every process of the container, its init and nspawn included, killed at
/// once (cgroup.kill), as a server that crashes: nothing is flushed, no service says goodbye.
/// Then the same cleanup as `stop`.
pub fn power_cut(cluster: &Cluster, paths: &LabPaths, host: &Host) -> Result<(), LabError> {
    let machine = netns(&cluster.name, &host.name);
    let nspawn = running_pid(cluster, paths, &host.name);
    for cg in cgroup_dirs(&machine) {
        kill_cgroup(&cg);
    }
    if let Some(pid) = nspawn {
        signal(pid, "KILL");
        if !wait_until(Duration::from_secs(5), Duration::from_millis(20), || !alive(pid)) {
            return Err(LabError::Host {
                host: host.name.clone(),
                step: "power cut".into(),
                message: format!("systemd-nspawn (pid {pid}) survived SIGKILL"),
            });
        }
    }
    stop(cluster, paths, host)
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).map(|state| state != "Z")
        })
        .unwrap_or(false)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every process in a cgroup and the cgroups below it.
fn cgroup_pids(dir: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pids.extend(cgroup_pids(&e.path()));
            }
        }
    }
    pids
}

/// SIGKILL to every process of a cgroup: `cgroup.kill` where the kernel has it, else one by one.
fn kill_cgroup(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
        for pid in cgroup_pids(dir) {
            signal(pid, "KILL");
        }
    }
}

/// Removes a cgroup and the (empty) ones the container's systemd made inside it.
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
    if let Some(parent) = dir.parent().filter(|p| p.file_name().is_some_and(|n| n == "mailctl-lab")) {
        let _ = std::fs::remove_dir(parent);
    }
}
