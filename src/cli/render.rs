//! `mailctl render`: every host's files, written to a directory. No network.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use super::support::{EXIT_OK, Format, Globals};
use crate::playbook::Playbook;
use crate::render::{self, Renderer};
use crate::state::LocalState;

/// Render every host's configuration files into a directory, without touching any host.
#[derive(clap::Args, Debug)]
#[command(after_help = "Files land at OUT/<host>/<target path> with their modes; OUT/manifest.json lists each \
file's owner, component, checker and handler. Secrets and certificates are generated once into the \
state file beside the inventory (mode 0600) and reused.\n\n\
Examples:\n  mailctl render inventories/tgg.yaml --out /tmp/tgg\n  mailctl render inventories/tgg.yaml --out /tmp/tgg --host mbox-1 --host transport\n  diff -r /tmp/tgg-before /tmp/tgg")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Directory to write into (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Render only this host (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = &super::support::inventory_path(cli, &args.inventory);
    let loaded = match super::support::load_inventory(path) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let cluster = loaded.cluster;
    // Concurrent renders take turns: each sees the secrets the one before generated.
    let _lock = crate::lock::acquire_within(path, std::time::Duration::from_secs(30))?;
    let state_path = cli.state.clone().unwrap_or_else(|| LocalState::default_path(path));
    let mut state = match super::support::open_state(&state_path) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let renderer = Renderer::new(Playbook::builtin()?, cli.templates.as_deref())?;
    let hosts = renderer.render(&cluster, &mut state, &args.hosts)?;
    state.save().with_context(|| "saving generated secrets")?;
    render::write_tree(&args.out, &hosts)?;
    if cli.format == Format::Json {
        let report = json!({
            "out": args.out,
            "hosts": hosts.iter().map(|h| json!({
                "host": h.host,
                "components": h.components.iter().map(|c| &c.name).collect::<Vec<_>>(),
                "files": h.files.iter().map(|f| &f.dest).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let files: usize = hosts.iter().map(|h| h.files.len()).sum();
        outln!(
            "rendered {} host{}, {files} files into {}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            args.out.display()
        );
        for h in &hosts {
            let comps: Vec<&str> = h.components.iter().map(|c| c.name.as_str()).collect();
            outln!("  {:<16} {:>3} files  {}", h.host, h.files.len(), comps.join(" "));
        }
    }
    Ok(EXIT_OK)
}
