//! Exclusive file locks (flock, dropped by the kernel if the process dies): one mutating run
//! per inventory (`<inventory>.lock`), one run per account move (`<inventory>.moves/`).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Held until dropped.
pub struct Lock(#[allow(dead_code)] File);

/// Locks `path` (created when missing), waiting up to `patience` for another holder; `busy`
/// says what the holder is doing, for the error.
pub fn lock_file(path: &Path, patience: Duration, busy: &str) -> anyhow::Result<Lock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    let deadline = Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock(file)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(TryLockError::WouldBlock) => bail!("{busy} ({} is locked): wait for it to finish", path.display()),
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

/// `<inventory>.lock`, beside the file the inventory path resolves to.
pub fn inventory_lock_path(inventory: &Path) -> PathBuf {
    let inventory = &crate::state::resolve_inventory(inventory);
    let mut name = inventory.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    inventory.with_file_name(name)
}

/// The inventory's lock, refused at once when another run holds it.
pub fn acquire(inventory: &Path) -> anyhow::Result<Lock> {
    acquire_within(inventory, Duration::ZERO)
}

/// Like `acquire`, but waits up to `patience` for another run to finish (render: concurrent
/// renders take turns, so they all see one set of generated secrets).
pub fn acquire_within(inventory: &Path, patience: Duration) -> anyhow::Result<Lock> {
    lock_file(&inventory_lock_path(inventory), patience, "another mailctl run holds this inventory")
}
