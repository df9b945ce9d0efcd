//! `mailctl rebalance`: plans the moves that even out the mailbox hosts and, with --apply,
//! carries them out one by one (`crate::ops::rebalance`).

use std::path::PathBuf;

use super::support::{EXIT_FAILED, EXIT_OK, Format, Globals};
use crate::accounts::rebalance::PlannedMove;
use crate::observe::Observer;
use crate::ops::rebalance::{self, Event, HostCount};
use crate::ui::Progress;

/// Evens out the mailbox hosts by moving accounts (a plan; --apply carries it out).
#[derive(clap::Args, Debug)]
#[command(after_help = "Each step moves the smallest mailbox from the fullest host (accounts / capacity) to the \
emptiest, while that makes the fullest host less full. Accounts in the middle of a move stay put.\n\n\
Examples:\n  mailctl rebalance inventories/lab.yaml\n  mailctl rebalance inventories/lab.yaml --max-moves 10 --apply\n  \
mailctl rebalance inventories/lab.yaml --format json")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Plan at most this many moves.
    #[arg(long, value_name = "N", default_value_t = usize::MAX, hide_default_value = true)]
    pub max_moves: usize,
    /// Carry the plan out, one move at a time; stops at the first failure.
    #[arg(long)]
    pub apply: bool,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = super::support::inventory_path(cli, &args.inventory);
    let cluster = match super::support::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let text = cli.format == Format::Text;
    let progress = OneLine(Progress::new(["rebalance"], text && args.apply));
    let events = |e: Event<'_>| match e {
        Event::Planned(r) if text => print_plan(&r.hosts, &r.moves, args.apply),
        Event::Moved(r) if text => outln!(
            "moved {} {} → {}: {} message(s), copy {:.2} s, cutover {:.2} s",
            r.address,
            r.from,
            r.to,
            r.messages,
            r.online_copy_secs,
            r.cutover_secs
        ),
        _ => {}
    };
    let report = super::support::run_op(&cluster, &path, &progress, async |ops| {
        rebalance::run(ops, args.max_moves, args.apply, &events).await
    });
    progress.0.clear();
    let report = report?;
    if cli.format == Format::Json {
        super::support::print_json(&report)?;
    }
    if let Some(f) = &report.failed {
        eprintln!("error: rebalance stopped at {f}");
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

/// Every account's progress on one line: rebalance moves one account at a time.
struct OneLine(Progress);

impl Observer for OneLine {
    fn step(&self, subject: &str, message: &str) {
        self.0.set("rebalance", format!("{subject}: {message}"));
    }
}

fn print_plan(hosts: &[HostCount], moves: &[PlannedMove], apply: bool) {
    let mut t = crate::ui::table(["host", "capacity", "accounts now", "after the plan"]);
    for h in hosts {
        t.add_row([h.host.clone(), h.capacity.to_string(), h.before.to_string(), h.after.to_string()]);
    }
    outln!("{t}");
    if moves.is_empty() {
        outln!("balanced: nothing to move");
        return;
    }
    let mut t = crate::ui::table(["#", "account", "from", "to", "mail"]);
    for (i, m) in moves.iter().enumerate() {
        t.add_row([
            (i + 1).to_string(),
            m.address.clone(),
            m.from.clone(),
            m.to.clone(),
            format!("{:.1} MB", m.bytes as f64 / 1e6),
        ]);
    }
    outln!("{t}");
    if !apply {
        outln!("{} move(s) planned; run again with --apply to carry them out", moves.len());
    }
}
