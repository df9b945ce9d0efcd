//! `mailctl account alias|forward`: where mail to an address goes.

use super::AliasCommand;
use super::input::{inventory_and, usage};
use super::print;
use std::path::PathBuf;

use crate::cli::support::{EXIT_USAGE, Globals, inventory_path, load_inventory, run_op};
use crate::inventory::Cluster;
use crate::inventory::address::{self, Address};
use crate::observe::Silent;
use crate::ops::accounts;

pub fn alias(cli: &Globals, command: &AliasCommand) -> anyhow::Result<u8> {
    let (args, add) = match command {
        AliasCommand::Add { args } => (&args[..], Some(true)),
        AliasCommand::Remove { args } => (&args[..], Some(false)),
        AliasCommand::List { args } => (&args[..], None),
    };
    let (cluster, path, user) = match account_of(cli, if add.is_some() { &args[..args.len() - 1] } else { args }) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let Some(add) = add else {
        let shown = run_op(&cluster, &path, &Silent, async |ops| accounts::show(ops, &user).await)?;
        return print::aliases(cli, &accounts::Aliases { address: user, aliases: shown.account.aliases });
    };
    // An alias is one of the cluster's own addresses: mail to it must reach this cluster.
    let alias = match crate::accounts::address::parse(&args[args.len() - 1], &cluster) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let result = run_op(&cluster, &path, &Silent, async |ops| accounts::alias(ops, &user, &alias, add).await)?;
    print::aliases(cli, &result)
}

pub fn forward(cli: &Globals, args: &[String], to: &[String], keep_copy: bool, off: bool) -> anyhow::Result<u8> {
    let (cluster, path, user) = match account_of(cli, args) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    // Forwarding may leave the cluster: any well-formed address will do.
    let targets: Result<Vec<Address>, String> = if off {
        Ok(Vec::new())
    } else {
        to.iter().map(|t| address::parse(t).map_err(|e| format!("--to: {e}"))).collect()
    };
    let targets = match targets {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let result =
        run_op(&cluster, &path, &Silent, async |ops| accounts::forward(ops, &user, &targets, keep_copy).await)?;
    print::forwarding(cli, &result)
}

/// `[INVENTORY] USER`: the cluster, its inventory's path and the checked address, or the
/// exit code once the problem is said.
pub(super) fn account_of(cli: &Globals, args: &[String]) -> Result<(Cluster, PathBuf, String), u8> {
    let (inventory, user) = inventory_and(args);
    let path = inventory_path(cli, &inventory);
    let cluster = load_inventory(&path)?.cluster;
    match crate::accounts::address::parse(&user, &cluster) {
        Ok(u) => Ok((cluster, path, u.full)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(EXIT_USAGE)
        }
    }
}
