//! `mailctl nat`: the edge router's NAT plan from the inventory's `nat:`.

use std::path::PathBuf;

use super::support::{EXIT_OK, EXIT_USAGE, Globals};
use crate::nat::{self, NatError, Target};
use crate::playbook::Playbook;
use crate::render::Renderer;

/// The edge router's port forwards (and the public DNS records) from the inventory's `nat:`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Inside the NAT the cluster's own DNS answers the public names with inside addresses \
(split horizon); --for public-dns prints what the DNS outside must say.\n\n\
Examples:\n  mailctl nat inventories/tgg.yaml --for routeros          # paste into the MikroTik terminal\n  \
mailctl nat inventories/excellent.yaml > nat.nft && nft -c -f nat.nft && nft -f nat.nft\n  \
mailctl nat inventories/excellent.yaml --for iptables | iptables-restore --noflush\n  \
mailctl nat inventories/tgg.yaml --for public-dns")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// What to write the plan for.
    #[arg(long = "for", value_enum, default_value = "nftables")]
    pub target: Target,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = super::support::inventory_path(cli, &args.inventory);
    let cluster = match super::support::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let renderer = Renderer::new(Playbook::builtin()?, cli.templates.as_deref())?;
    match nat::plan(&renderer, &cluster, args.target) {
        Ok(text) => {
            outln!("{}", text.trim_end());
            Ok(EXIT_OK)
        }
        Err(e @ (NatError::NoNat | NatError::Family { .. })) => {
            eprintln!("error: {}: {e}", path.display());
            Ok(EXIT_USAGE)
        }
        Err(e) => Err(e.into()),
    }
}
