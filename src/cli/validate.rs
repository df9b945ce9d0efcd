//! `mailctl validate`: parse and check an inventory, touching nothing.

use std::path::PathBuf;

use serde_json::json;

use super::support::{EXIT_OK, EXIT_USAGE, Format, Globals};
use crate::inventory::{self, Cluster, Diagnostic, Role};

/// Check an inventory: syntax, unknown keys, and the cluster's consistency.
#[derive(clap::Args, Debug)]
#[command(after_help = "Every problem is reported with file:line:column and a hint; exit 2 if any is an error.\n\n\
Examples:\n  mailctl validate inventories/tgg.yaml\n  mailctl validate --format json inventory.yaml | jq .errors")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = &super::support::inventory_path(cli, &args.inventory);
    if cli.format == Format::Text {
        let loaded = match super::support::load_inventory(path) {
            Ok(l) => l,
            Err(code) => return Ok(code),
        };
        outln!("{}: valid: {}", path.display(), summary(&loaded.cluster));
        return Ok(EXIT_OK);
    }
    let (code, cluster, diagnostics) = match inventory::load(path) {
        Ok(l) => (EXIT_OK, Some(l.cluster), l.warnings),
        Err(e @ inventory::InventoryError::Unreadable { .. }) => {
            outln!(
                "{}",
                json!({ "valid": false, "errors": [{ "file": path, "message": e.to_string() }], "warnings": [] })
            );
            return Ok(EXIT_USAGE);
        }
        Err(e) => (EXIT_USAGE, None, e.diagnostics().to_vec()),
    };
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) = diagnostics.iter().partition(|d| d.is_error());
    let as_json = |d: &&Diagnostic| json!({ "file": d.file, "line": d.line, "column": d.column, "message": d.message, "help": d.help });
    let report = json!({
        "valid": code == EXIT_OK,
        "errors": errors.iter().map(as_json).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(as_json).collect::<Vec<_>>(),
        "summary": cluster.as_ref().map(|c| json!({
            "cluster": c.name,
            "domains": c.domains,
            "hosts": c.hosts.len(),
            "os": c.hosts.iter().map(|h| (h.name.as_str(), h.os.as_str())).collect::<std::collections::BTreeMap<_, _>>(),
            "accounts": c.accounts.len(),
            "roles": Role::ALL.iter().map(|r| (r.as_str(), c.hosts_with(*r).count())).collect::<std::collections::BTreeMap<_, _>>(),
        })),
    });
    outln!("{}", serde_json::to_string_pretty(&report)?);
    Ok(code)
}

/// "debian-12", or for a cluster mid-upgrade "debian-12 (1), debian-13 (3)".
fn releases(c: &Cluster) -> String {
    let mut count: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for h in &c.hosts {
        *count.entry(h.os.as_str()).or_default() += 1;
    }
    if count.len() == 1 {
        return count.into_keys().collect();
    }
    count.iter().map(|(os, n)| format!("{os} ({n})")).collect::<Vec<_>>().join(", ")
}

fn summary(c: &Cluster) -> String {
    let roles: Vec<String> = Role::ALL
        .iter()
        .map(|r| (r, c.hosts_with(*r).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    format!(
        "cluster {}: {} hosts ({}) on {}, {} domain{}, {} account{}",
        c.name,
        c.hosts.len(),
        roles.join(", "),
        releases(c),
        c.domains.len(),
        if c.domains.len() == 1 { "" } else { "s" },
        c.accounts.len(),
        if c.accounts.len() == 1 { "" } else { "s" },
    )
}
