//! `mailctl failover` and `mailctl failback`: which member of a mailbox pair serves a host's
//! accounts (`crate::ops::pair`; docs/pairs.md).

use super::support::{EXIT_OK, EXIT_USAGE, Format, Globals};
use crate::ops::pair::{self, Switched};
use crate::ui::Progress;

/// Serves HOST's accounts from its pair partner (HOST down, or about to be).
#[derive(clap::Args, Debug)]
#[command(after_help = "HOST's pair address moves to its partner, which already holds a copy of every \
account (replication). When HOST still answers, its copies are merged into the partner first and it lets go \
of the address (a planned failover, before maintenance). In a pair with `failover: automatic` the partner \
takes over by itself within seconds; this command is for manual pairs and planned switches. HOST keeps \
replicating when it is back, but serves again only after `mailctl failback HOST`.\n\n\
Examples:\n  mailctl failover inventories/smknh.yaml srv1\n  mailctl failover -i inventories/smknh.yaml srv1 --format json")]
pub struct FailoverArgs {
    /// [INVENTORY] HOST
    #[arg(num_args = 1..=2, value_name = "ARGS", required = true)]
    pub args: Vec<String>,
}

/// Gives HOST its accounts back from its pair partner, both copies merged.
#[derive(clap::Args, Debug)]
#[command(after_help = "Both copies of every account of the pair are merged (dsync both ways: nothing \
written on either side is lost), the partner lets go of HOST's pair address and HOST takes it, and what was \
written in that second is merged again. Both hosts must answer.\n\n\
Examples:\n  mailctl failback inventories/smknh.yaml srv1\n  mailctl failback -i inventories/smknh.yaml srv1 --format json")]
pub struct FailbackArgs {
    /// [INVENTORY] HOST
    #[arg(num_args = 1..=2, value_name = "ARGS", required = true)]
    pub args: Vec<String>,
}

pub fn failover(cli: &Globals, args: &FailoverArgs) -> anyhow::Result<u8> {
    switch(cli, &args.args, Direction::Over)
}

pub fn failback(cli: &Globals, args: &FailbackArgs) -> anyhow::Result<u8> {
    switch(cli, &args.args, Direction::Back)
}

#[derive(Clone, Copy)]
enum Direction {
    Over,
    Back,
}

fn switch(cli: &Globals, args: &[String], direction: Direction) -> anyhow::Result<u8> {
    let (inventory, host) = super::support::inventory_and(args);
    let path = super::support::inventory_path(cli, &inventory);
    let cluster = match super::support::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    if cluster.pair_of(&host).is_none() {
        let paired: Vec<&str> = cluster.pairs.iter().flat_map(|p| p.hosts.iter().map(String::as_str)).collect();
        let known = if paired.is_empty() {
            "the inventory has no `pairs:`".to_string()
        } else {
            format!("paired hosts: {}", paired.join(", "))
        };
        eprintln!("error: {host} is not a paired mailbox host ({known})");
        return Ok(EXIT_USAGE);
    }
    let progress = Progress::new([host.as_str()], cli.format == Format::Text);
    let report = super::support::run_op(&cluster, &path, &progress, async |ops| match direction {
        Direction::Over => pair::failover(ops, &host).await,
        Direction::Back => pair::failback(ops, &host).await,
    });
    progress.clear();
    let report = report?;
    match cli.format {
        Format::Json => super::support::print_json(&report)?,
        _ => outln!("{}", describe(&report)),
    }
    Ok(EXIT_OK)
}

fn describe(r: &Switched) -> String {
    let merged = if r.merged {
        format!(", copies merged with {}", if r.served_by == r.host { &r.partner } else { &r.host })
    } else {
        String::new()
    };
    if r.already {
        format!(
            "{} ({}'s accounts) was already served by {}{merged} ({:.2} s)",
            r.address, r.host, r.served_by, r.seconds
        )
    } else {
        format!("{}'s accounts ({}) are served by {} now{merged} ({:.2} s)", r.host, r.address, r.served_by, r.seconds)
    }
}
