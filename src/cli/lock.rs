//! One mutating run per inventory at a time: an exclusive lock on `<inventory>.lock`, held
//! until the command ends (the kernel drops it if the process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::{Context, bail};

pub struct Lock(#[allow(dead_code)] File);

pub fn acquire(inventory: &Path) -> anyhow::Result<Lock> {
    let mut name = inventory.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let path = inventory.with_file_name(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock(file)),
        Err(TryLockError::WouldBlock) => {
            bail!("another mailctl run holds {} : wait for it to finish", path.display())
        }
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}
