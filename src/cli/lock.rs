//! One mutating run per inventory at a time: an exclusive lock on `<inventory>.lock`, held
//! until the command ends (the kernel drops it if the process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Lock(#[allow(dead_code)] File);

pub fn acquire(inventory: &Path) -> anyhow::Result<Lock> {
    acquire_within(inventory, Duration::ZERO)
}

/// Like `acquire`, but waits up to `patience` for another run to finish (render: concurrent
/// renders take turns, so they all see one set of generated secrets).
pub fn acquire_within(inventory: &Path, patience: Duration) -> anyhow::Result<Lock> {
    let inventory = &crate::state::resolve_inventory(inventory);
    let mut name = inventory.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let path = inventory.with_file_name(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    let deadline = Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock(file)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(TryLockError::WouldBlock) => {
                bail!("another mailctl run holds {} : wait for it to finish", path.display())
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}
