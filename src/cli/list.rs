//! `mailctl list create|delete|add|remove|show`: distribution lists (`crate::ops::lists`).

use std::path::PathBuf;

use super::support::{EXIT_OK, EXIT_USAGE, Format, Globals, inventory_path, load_inventory, print_json, run_op};
use crate::inventory::address::{self, Address};
use crate::observe::Silent;
use crate::ops::lists::{self, Change};

/// Distribution lists: mail to a list's address goes to every member, inside the cluster or out.
#[derive(clap::Args, Debug)]
#[command(after_help = "A list's address is one of the cluster's domains and used by nothing else (no account \
or alias has it). Members of the cluster's domains must be accounts or aliases; lists inside lists are refused, \
so every member gets a message once.\n\n\
Examples:\n  mailctl list create inventories/lab.yaml staff@tgg.net.id\n  \
mailctl list add inventories/lab.yaml staff@tgg.net.id siti@tgg.net.id budi@tgg.net.id partner@example.org\n  \
mailctl list remove inventories/lab.yaml staff@tgg.net.id partner@example.org\n  \
mailctl list show inventories/lab.yaml staff@tgg.net.id --format json\n  \
mailctl list delete inventories/lab.yaml staff@tgg.net.id")]
pub struct Args {
    /// create, delete, add, remove or show.
    #[arg(value_parser = ["create", "delete", "add", "remove", "show"])]
    pub action: String,
    /// [INVENTORY] LIST [MEMBER...] (the inventory is the first argument when it is a file).
    #[arg(required = true, num_args = 1.., value_name = "[INVENTORY] LIST [MEMBER]")]
    pub args: Vec<String>,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let usage = |m: String| {
        eprintln!("error: {m}");
        Ok(EXIT_USAGE)
    };
    // An inventory names a file; an address never does.
    let (inventory, rest) = match args.args.split_first() {
        Some((first, rest)) if !first.contains('@') => (Some(PathBuf::from(first)), rest),
        _ => (None, &args.args[..]),
    };
    let path = inventory_path(cli, &inventory);
    let cluster = match load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let Some((list, members)) = rest.split_first() else { return usage("give the list's address".into()) };
    let list = match crate::accounts::address::parse(list, &cluster) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let change = match args.action.as_str() {
        "create" => Change::Create,
        "delete" => Change::Delete,
        "add" => Change::Add,
        "remove" => Change::Remove,
        _ => Change::Show,
    };
    let wants_members = matches!(change, Change::Add | Change::Remove);
    if wants_members == members.is_empty() {
        return usage(format!("`list {}` takes {}members", args.action, if wants_members { "" } else { "no " }));
    }
    let members: Result<Vec<Address>, String> = members.iter().map(|m| address::parse(m)).collect();
    let members = match members {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let after = run_op(&cluster, &path, &Silent, async |ops| lists::run(ops, &list, change, &members).await)?;
    if cli.format == Format::Json {
        print_json(&after)?;
    } else if change == Change::Delete {
        outln!("{}: deleted", after.address);
    } else if after.members.is_empty() {
        outln!("{}: no members", after.address);
    } else {
        outln!("{}: {} member(s)\n  {}", after.address, after.members.len(), after.members.join("\n  "));
    }
    Ok(EXIT_OK)
}
