//! The lab images: per Debian release, a rootfs shared read-only by every lab host of that
//! release, and a flat package repository of the mail packages, so a deploy installs them for
//! real without the hosts having a route out. Both are cached under /var/cache/mailctl/lab,
//! keyed by a digest of their recipe, and built in a scratch directory renamed into place
//! only when complete.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha1::Digest;

use super::{LabError, ensure_dir, run};

use crate::release::Os;

const CACHE: &str = "/var/cache/mailctl/lab";
/// What every lab host boots with. The mail packages are NOT here: deploy installs them.
const BASE_PACKAGES: &str =
    "systemd,systemd-sysv,dbus,libpam-systemd,openssh-server,iproute2,procps,ca-certificates,python3";
/// Changing any step below changes the image: bump this with it.
const RECIPE_VERSION: &str = "1";
/// Where hosts see the package repository (bind-mounted read-only).
pub const REPO_MOUNT: &str = "/srv/mailctl-debs";

pub struct Image {
    pub rootfs: PathBuf,
    pub repo: PathBuf,
}

fn digest(parts: &[&str]) -> String {
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\0");
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The Debian mirror this machine's apt already uses.
pub fn mirror() -> String {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        texts.extend(dir.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()));
    }
    for text in texts {
        for line in text.lines().map(str::trim) {
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if line.starts_with("deb ") {
                line.split_whitespace().find(|w| w.starts_with("http"))
            } else {
                None
            };
            // The Debian archive itself: not security, not third-party repositories.
            if let Some(uri) = uri.filter(|u| u.trim_end_matches('/').ends_with("/debian")) {
                return uri.trim_end_matches('/').to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// Holds the cache for one builder at a time: two `lab up`s (or a lab and the checker tests)
/// building at once would otherwise remove each other's scratch directories.
fn lock_cache() -> Result<std::fs::File, LabError> {
    ensure_dir(Path::new(CACHE))?;
    let io = |e: std::io::Error| LabError::Step { step: "lock the image cache".into(), message: e.to_string() };
    let file = std::fs::File::create(Path::new(CACHE).join(".lock")).map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

/// Builds the release's image if its recipe changed or it is missing; returns where it is.
pub fn ensure(os: Os, mail_packages: &[String], log: &mut dyn FnMut(&str)) -> Result<Image, LabError> {
    let _lock = lock_cache()?;
    ensure_unlocked(os, mail_packages, log)
}

fn ensure_unlocked(os: Os, mail_packages: &[String], log: &mut dyn FnMut(&str)) -> Result<Image, LabError> {
    let mirror = mirror();
    let suite = os.release().suite;
    let rootfs_key = digest(&[RECIPE_VERSION, suite, BASE_PACKAGES, &mirror]);
    let rootfs = PathBuf::from(CACHE).join(format!("rootfs-{rootfs_key}"));
    ensure_dir(Path::new(CACHE))?;
    remove_partial_builds();
    if !rootfs.join("etc/os-release").exists() {
        log(&format!("building the {os} lab image from {mirror} (once; about a minute)"));
        build_rootfs(&rootfs, suite, &mirror)?;
    }
    let mut pkgs = mail_packages.to_vec();
    pkgs.sort();
    pkgs.dedup();
    let repo = PathBuf::from(CACHE).join(format!("debs-{}", digest(&[&rootfs_key, &pkgs.join(" ")])));
    if !repo.join("Packages").exists() {
        log(&format!("fetching {} mail packages into the {os} lab's package repository", pkgs.len()));
        build_repo(&rootfs, &repo, &pkgs, suite, &mirror)?;
    }
    Ok(Image { rootfs, repo })
}

/// An interrupted build leaves a `.partial` directory; it is never used, so drop it.
fn remove_partial_builds() {
    if let Ok(entries) = std::fs::read_dir(CACHE) {
        for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "partial")) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn scratch(target: &Path) -> PathBuf {
    target.with_extension("partial")
}

fn build_rootfs(target: &Path, suite: &str, mirror: &str) -> Result<(), LabError> {
    let tmp = scratch(target);
    let _ = std::fs::remove_dir_all(&tmp);
    run(
        "debootstrap",
        Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--include={BASE_PACKAGES}"), suite])
            .arg(&tmp)
            .arg(mirror),
    )?;
    let write = |rel: &str, text: &str| {
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    };
    let io = |e: std::io::Error| LabError::Step { step: "prepare image".into(), message: e.to_string() };
    // Each host gets its own machine-id and SSH host keys when it is created.
    write("etc/machine-id", "").map_err(io)?;
    for e in std::fs::read_dir(tmp.join("etc/ssh")).map_err(io)?.flatten() {
        if e.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(e.path()).map_err(io)?;
        }
    }
    // pam_systemd starts user@0 for each ssh login, which stalled shutdown for 30 s+.
    let pam = std::fs::read_to_string(tmp.join("etc/pam.d/common-session")).map_err(io)?;
    write(
        "etc/pam.d/common-session",
        &pam.replace("session\toptional\tpam_systemd.so", "#session\toptional\tpam_systemd.so"),
    )
    .map_err(io)?;
    write("etc/systemd/system.conf.d/mailctl-lab.conf", "[Manager]\nDefaultTimeoutStopSec=10s\n").map_err(io)?;
    for unit in ["console-getty.service", "getty@tty1.service", "systemd-networkd-wait-online.service"] {
        let link = tmp.join("etc/systemd/system").join(unit);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", &link).map_err(io)?;
    }
    // Hosts have no route out: their only package source is the lab's own repository.
    write("etc/apt/sources.list", &format!("deb [trusted=yes] file:{REPO_MOUNT} ./\n")).map_err(io)?;
    let _ = std::fs::remove_dir_all(tmp.join("var/lib/apt/lists"));
    std::fs::create_dir_all(tmp.join("var/lib/apt/lists/partial")).map_err(io)?;
    std::fs::create_dir_all(tmp.join(REPO_MOUNT.trim_start_matches('/'))).map_err(io)?;
    std::fs::rename(&tmp, target).map_err(io)
}

/// Downloads exactly the packages (and dependencies) a bare lab host lacks, by asking apt
/// inside a throwaway copy of the image, whose dpkg status is the hosts'.
fn build_repo(rootfs: &Path, target: &Path, packages: &[String], suite: &str, mirror: &str) -> Result<(), LabError> {
    let tmp = scratch(target);
    let _ = std::fs::remove_dir_all(&tmp);
    ensure_dir(&tmp)?;
    let root = rootfs.display().to_string();
    let scratch_dir = std::env::temp_dir().join(format!("mailctl-image.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch_dir);
    ensure_dir(&scratch_dir)?;
    let script = format!(
        "set -e\n\
         s={s}\n\
         mkdir -p $s/up $s/work $s/root\n\
         mount -t overlay mailctl-image -o lowerdir={root},upperdir=$s/up,workdir=$s/work $s/root\n\
         echo 'deb {mirror} {suite} main' > $s/root/etc/apt/sources.list\n\
         cp /etc/resolv.conf $s/root/etc/resolv.conf\n\
         mkdir -p $s/root/debs\n\
         mount --bind {out} $s/root/debs\n\
         chroot $s/root apt-get -qq update\n\
         chroot $s/root apt-get -qq install --download-only -o Dir::Cache::archives=/debs {pkgs}\n",
        s = scratch_dir.display(),
        out = tmp.display(),
        pkgs = packages.join(" ")
    );
    let result = run(
        "download mail packages",
        Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c", &script]),
    );
    // The scratch overlay lived in the private namespace; only its directory remains.
    let _ = std::fs::remove_dir_all(&scratch_dir);
    result?;
    let _ = std::fs::remove_dir_all(tmp.join("partial"));
    let _ = std::fs::remove_file(tmp.join("lock"));
    let index = run("index packages", Command::new("dpkg-scanpackages").args(["-m", "."]).current_dir(&tmp))?;
    std::fs::write(tmp.join("Packages"), index)
        .map_err(|e| LabError::Step { step: "index packages".into(), message: e.to_string() })?;
    std::fs::rename(&tmp, target).map_err(|e| LabError::Step { step: "index packages".into(), message: e.to_string() })
}

/// A root filesystem of the release with every mail package installed (services not
/// started), so the release's own checkers (doveconf 2.4, postconf 3.10, …) can judge rendered
/// files on a machine that runs another release. Cached beside the images.
pub fn checker_root(os: Os, mail_packages: &[String], log: &mut dyn FnMut(&str)) -> Result<PathBuf, LabError> {
    let _lock = lock_cache()?;
    let img = ensure_unlocked(os, mail_packages, log)?;
    let key = img.repo.file_name().map(|n| n.to_string_lossy().replace("debs-", "")).unwrap_or_default();
    let target = PathBuf::from(CACHE).join(format!("checkers-{key}"));
    if target.join("usr/sbin/postconf").exists() {
        return Ok(target);
    }
    log(&format!("installing the {os} mail packages into a checker root (once)"));
    let tmp = scratch(&target);
    let _ = std::fs::remove_dir_all(&tmp);
    run("copy the image", Command::new("cp").arg("-a").arg(&img.rootfs).arg(&tmp))?;
    let script = format!(
        "set -e\n\
         r={r}\n\
         mount --bind {repo} $r{REPO_MOUNT}\n\
         mount -t proc proc $r/proc\n\
         printf '#!/bin/sh\\nexit 101\\n' > $r/usr/sbin/policy-rc.d && chmod +x $r/usr/sbin/policy-rc.d\n\
         chroot $r apt-get -qq update\n\
         DEBIAN_FRONTEND=noninteractive chroot $r apt-get -qq install -y --no-install-recommends {pkgs} >/dev/null\n\
         rm -f $r/usr/sbin/policy-rc.d\n",
        r = tmp.display(),
        repo = img.repo.display(),
        pkgs = mail_packages.join(" ")
    );
    run(
        "install the checkers",
        Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c", &script]),
    )?;
    std::fs::rename(&tmp, &target)
        .map_err(|e| LabError::Step { step: "checker root".into(), message: e.to_string() })?;
    Ok(target)
}
