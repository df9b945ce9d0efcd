//! The journal of one account's move: a small JSON file beside the inventory
//! (`<inventory>.moves/<address>.json`), rewritten atomically at each phase, so a move killed
//! at any point can be resumed or rolled back. A lock file next to it keeps two runs off the
//! same account.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::mailstore::Folder;

/// Where a move stands. Each phase is written before its first step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Online copy: the account still lives on the source, untouched.
    Copy,
    /// The directory says moving/held/new host (or is about to): mail is deferred, logins held.
    Cutover,
    /// The final pass verified; the hold is being lifted and deferred mail released.
    Release,
    /// Finished: the account lives on the target; the source copy is closed, kept until purged.
    Done,
    /// Rolled back: the account lives on the source.
    Aborted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub address: String,
    pub source: String,
    pub target: String,
    pub phase: Phase,
    /// Unix seconds.
    pub started: u64,
    /// dsync's state after the last online pass (incremental passes continue from it).
    #[serde(default)]
    pub dsync_state: Option<String>,
    /// Seconds of each online pass.
    #[serde(default)]
    pub passes: Vec<f64>,
    /// When logins are held until (unix seconds), once the cutover began.
    #[serde(default)]
    pub hold_until: Option<u64>,
    /// The source's folders at the final pass: the catch-up runs only if they changed after.
    #[serde(default)]
    pub source_at_final: Vec<Folder>,
    #[serde(default)]
    pub report: Option<serde_json::Value>,
}

pub struct JournalFile {
    path: PathBuf,
    _lock: crate::lock::Lock,
}

/// The directory holding the journals of an inventory's moves.
pub fn moves_dir(inventory: &Path) -> PathBuf {
    let inventory = &crate::state::resolve_inventory(inventory);
    let mut name = inventory.file_name().unwrap_or_default().to_os_string();
    name.push(".moves");
    inventory.with_file_name(name)
}

impl JournalFile {
    /// Takes the account's lock (refusing when another run holds it) and names its journal.
    pub fn lock(inventory: &Path, address: &str) -> anyhow::Result<JournalFile> {
        let dir = moves_dir(inventory);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock_path = dir.join(format!("{address}.lock"));
        let busy = format!("another mailctl run is moving {address}");
        let lock = crate::lock::lock_file(&lock_path, std::time::Duration::ZERO, &busy)?;
        Ok(JournalFile { path: dir.join(format!("{address}.json")), _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> anyhow::Result<Option<Journal>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(
                serde_json::from_str(&text).with_context(|| format!("journal {} is damaged", self.path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Writes the journal through a temporary file (random name, created exclusively, never
    /// through a symlink), synced, renamed over the old one, then the directory synced: a
    /// crash leaves either the old journal or the new, never half of one or none.
    pub fn save(&self, journal: &Journal) -> anyhow::Result<()> {
        let dir = self.path.parent().context("a journal path has a directory")?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".journal.")
            .tempfile_in(dir)
            .with_context(|| format!("writing a journal in {}", dir.display()))?;
        tmp.write_all(serde_json::to_string_pretty(journal)?.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).with_context(|| format!("renaming the journal into {}", self.path.display()))?;
        File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_the_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("lab.yaml");
        let file = JournalFile::lock(&inv, "siti@tgg.net.id").unwrap();
        assert!(file.load().unwrap().is_none());
        let j = Journal {
            address: "siti@tgg.net.id".into(),
            source: "mbox-1".into(),
            target: "mbox-2".into(),
            phase: Phase::Cutover,
            started: 1,
            dsync_state: Some("AQAAAA".into()),
            passes: vec![1.5],
            hold_until: Some(10),
            source_at_final: Vec::new(),
            report: None,
        };
        file.save(&j).unwrap();
        assert_eq!(file.load().unwrap().unwrap().phase, Phase::Cutover);
        assert!(file.path().starts_with(dir.path().join("lab.yaml.moves")));
        let second = JournalFile::lock(&inv, "siti@tgg.net.id").err().unwrap();
        assert!(second.to_string().contains("another mailctl run"), "{second}");
    }
}
