//! `mailctl rebalance`: plans the moves that even out the mailbox hosts (accounts against
//! capacity) and, with --apply, carries them out one by one with the move-account protocol.

use std::path::PathBuf;

use futures::future::join_all;
use serde::Serialize;

use super::{Cli, EXIT_FAILED, EXIT_OK, Format};
use crate::accounts::fleet::host_by_fqdn;
use crate::accounts::journal::JournalFile;
use crate::accounts::mailstore;
use crate::accounts::mover::{MoveOptions, MoveReport, Mover};
use crate::accounts::placement::DEFAULT_CAPACITY;
use crate::accounts::rebalance::{PlannedMove, Resident, plan};
use crate::directory::Layout;
use crate::directory::ldap::first_values;
use crate::inventory::model::Role;
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

#[derive(Serialize)]
struct HostCount {
    host: String,
    capacity: u32,
    before: usize,
    after: usize,
}

#[derive(Serialize)]
struct Output<'a> {
    hosts: Vec<HostCount>,
    moves: &'a [PlannedMove],
    applied: Vec<MoveReport>,
    failed: Option<String>,
}

pub fn exec(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let path = super::inventory_path(cli, &args.inventory);
    let cluster = match super::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (fleet, mut ldap) = super::move_account::connect_all(&cluster).await?;
        let layout = Layout::new(&cluster);
        let mailboxes: Vec<_> = cluster.hosts_with(Role::Mailbox).collect();
        let entries = ldap
            .search(
                &layout.accounts_base(),
                "(objectClass=inetLocalMailRecipient)",
                &["mail", "mailHost", "mailctlState", "mailctlMoveTarget"],
            )
            .await?;
        let usage = join_all(mailboxes.iter().map(|h| mailstore::usage(fleet.get(&h.name)))).await;
        let mut bytes = std::collections::HashMap::new();
        for (h, u) in mailboxes.iter().zip(usage) {
            for (address, b) in u? {
                bytes.insert((h.name.clone(), address), b);
            }
        }
        let residents: Vec<Resident> = entries
            .iter()
            .filter_map(|e| {
                let v = first_values(e);
                let host = host_by_fqdn(&cluster, v.get("mailhost")?)?.name.clone();
                let address = v.get("mail")?.clone();
                let movable =
                    v.get("mailctlstate").is_none_or(|s| s == "active") && !v.contains_key("mailctlmovetarget");
                let size = bytes.get(&(host.clone(), address.clone())).copied().unwrap_or(0);
                Some(Resident { address, host, bytes: size, movable })
            })
            .collect();
        let capacities: Vec<(String, u32)> =
            mailboxes.iter().map(|h| (h.name.clone(), h.capacity.unwrap_or(DEFAULT_CAPACITY))).collect();
        let moves = plan(&capacities, &residents, args.max_moves);
        let hosts: Vec<HostCount> = capacities
            .iter()
            .map(|(h, cap)| {
                let before = residents.iter().filter(|r| &r.host == h).count();
                let after = before + moves.iter().filter(|m| &m.to == h).count()
                    - moves.iter().filter(|m| &m.from == h).count();
                HostCount { host: h.clone(), capacity: *cap, before, after }
            })
            .collect();
        if cli.format == Format::Text {
            print_plan(&hosts, &moves, args.apply);
        }
        let mut applied = Vec::new();
        let mut failed = None;
        if args.apply {
            for (i, m) in moves.iter().enumerate() {
                let progress = Progress::new([m.address.as_str()], cli.format == Format::Text);
                let say = |s: &str| progress.set(&m.address, format!("{}/{}: {s}", i + 1, moves.len()));
                let result = async {
                    let file = JournalFile::lock(&path, &m.address)?;
                    let target = cluster.host(&m.to).ok_or_else(|| anyhow::anyhow!("no host {}", m.to))?;
                    let mut mover = Mover {
                        cluster: &cluster,
                        fleet: &fleet,
                        ldap: &mut ldap,
                        layout: Layout::new(&cluster),
                        file: &file,
                        opts: MoveOptions::default(),
                        progress: &say,
                    };
                    let j = mover.preflight(&m.address, target).await?;
                    mover.run(j).await
                }
                .await;
                progress.clear();
                match result {
                    Ok(r) => {
                        if cli.format == Format::Text {
                            outln!(
                                "moved {} {} → {}: {} message(s), copy {:.2} s, cutover {:.2} s",
                                r.address,
                                r.from,
                                r.to,
                                r.messages,
                                r.online_copy_secs,
                                r.cutover_secs
                            );
                        }
                        applied.push(r);
                    }
                    Err(e) => {
                        failed = Some(format!("{}: {e:#}", m.address));
                        break;
                    }
                }
            }
        }
        ldap.close().await;
        fleet.close().await;
        if cli.format == Format::Json {
            let out = Output { hosts, moves: &moves, applied, failed: failed.clone() };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        if let Some(f) = failed {
            eprintln!("error: rebalance stopped at {f}");
            return Ok(EXIT_FAILED);
        }
        Ok(EXIT_OK)
    })
}

fn print_plan(hosts: &[HostCount], moves: &[PlannedMove], apply: bool) {
    let mut t = super::table(["host", "capacity", "accounts now", "after the plan"]);
    for h in hosts {
        t.add_row([h.host.clone(), h.capacity.to_string(), h.before.to_string(), h.after.to_string()]);
    }
    outln!("{t}");
    if moves.is_empty() {
        outln!("balanced: nothing to move");
        return;
    }
    let mut t = super::table(["#", "account", "from", "to", "mail"]);
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
