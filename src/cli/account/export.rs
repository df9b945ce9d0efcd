//! `mailctl account export`: the accounts as CSV, on standard output or in a 0600 file (it
//! holds password hashes).

use std::path::{Path, PathBuf};

use crate::cli::support::{EXIT_OK, Globals, inventory_path, load_inventory, run_op};
use crate::observe::Silent;

pub fn exec(cli: &Globals, inventory: &Option<PathBuf>, out: Option<&Path>) -> anyhow::Result<u8> {
    let path = inventory_path(cli, inventory);
    let cluster = match load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let (csv, count) = run_op(&cluster, &path, &Silent, async |ops| crate::ops::export::export(ops).await)?;
    match out {
        None => outln!("{}", csv.trim_end()),
        Some(file) => {
            crate::state::replace_file(file, csv.as_bytes(), 0o600)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
            eprintln!("{count} account(s) written to {} (mode 0600: it holds password hashes)", file.display());
        }
    }
    Ok(EXIT_OK)
}
