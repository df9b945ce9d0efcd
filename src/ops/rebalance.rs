//! `rebalance`: the moves that even out the mailbox hosts (accounts against capacity), from
//! the directory and each host's `du`; with `apply`, carried out one by one.

use std::collections::HashMap;

use futures::future::join_all;
use serde::Serialize;

use super::move_account::{Mode, Outcome, move_with};
use super::{AccountSessions, Ops};
use crate::accounts::entry;
use crate::accounts::journal::JournalFile;
use crate::accounts::mailstore;
use crate::accounts::mover::{MoveOptions, MoveReport};
use crate::accounts::placement::DEFAULT_CAPACITY;
use crate::accounts::rebalance::{PlannedMove, Resident, plan};
use crate::directory::Layout;
use crate::inventory::model::{Host, Role};

#[derive(Debug, Serialize)]
pub struct HostCount {
    pub host: String,
    pub capacity: u32,
    pub before: usize,
    pub after: usize,
}

#[derive(Debug, Serialize)]
pub struct RebalanceReport {
    pub hosts: Vec<HostCount>,
    pub moves: Vec<PlannedMove>,
    /// The moves carried out (with `apply`), in order.
    pub applied: Vec<MoveReport>,
    /// The move that failed, and why; the ones after it were not tried.
    pub failed: Option<String>,
}

/// What a rebalance says as it goes, for whoever runs it to show at once.
pub enum Event<'a> {
    Planned(&'a RebalanceReport),
    Moved(&'a MoveReport),
}

/// Plans at most `max_moves` moves; with `apply`, carries them out, stopping at the first
/// failure. `events` hears of the plan, then of each finished move, as they happen.
pub async fn run(
    ops: &Ops<'_>,
    max_moves: usize,
    apply: bool,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> anyhow::Result<RebalanceReport> {
    let mut sessions = AccountSessions::open(ops).await?;
    let result = async {
        let (hosts, moves) = plan_moves(ops, &mut sessions, max_moves).await?;
        let mut report = RebalanceReport { hosts, moves, applied: Vec::new(), failed: None };
        events(Event::Planned(&report));
        if apply {
            carry_out(ops, &mut sessions, &mut report, events).await;
        }
        Ok(report)
    }
    .await;
    sessions.close().await;
    result
}

async fn plan_moves(
    ops: &Ops<'_>,
    s: &mut AccountSessions,
    max_moves: usize,
) -> anyhow::Result<(Vec<HostCount>, Vec<PlannedMove>)> {
    let cluster = ops.cluster;
    let mailboxes: Vec<&Host> = cluster.hosts_with(Role::Mailbox).collect();
    let entries = entry::read_all(s.ldap.as_mut(), &Layout::new(cluster), None).await?;
    let usage = join_all(mailboxes.iter().map(|h| mailstore::usage(s.fleet.get(&h.name)))).await;
    let mut bytes = HashMap::new();
    for (h, u) in mailboxes.iter().zip(usage) {
        for (address, b) in u? {
            bytes.insert((h.name.clone(), address), b);
        }
    }
    let residents: Vec<Resident> = entries
        .into_iter()
        .filter_map(|e| {
            let host = cluster.host_by_fqdn(&e.mail_host)?.name.clone();
            let size = bytes.get(&(host.clone(), e.address.clone())).copied().unwrap_or(0);
            let movable = e.state == entry::AccountState::Active && e.move_target.is_none();
            Some(Resident { address: e.address, host, bytes: size, movable })
        })
        .collect();
    let capacities: Vec<(String, u32)> =
        mailboxes.iter().map(|h| (h.name.clone(), h.capacity.unwrap_or(DEFAULT_CAPACITY))).collect();
    let pairs: Vec<[String; 2]> = cluster.pairs.iter().map(|p| p.hosts.clone()).collect();
    let moves = plan(&capacities, &pairs, &residents, max_moves);
    let hosts = capacities
        .iter()
        .map(|(h, cap)| {
            let before = residents.iter().filter(|r| &r.host == h).count();
            let after =
                before + moves.iter().filter(|m| &m.to == h).count() - moves.iter().filter(|m| &m.from == h).count();
            HostCount { host: h.clone(), capacity: *cap, before, after }
        })
        .collect();
    Ok((hosts, moves))
}

async fn carry_out(
    ops: &Ops<'_>,
    s: &mut AccountSessions,
    report: &mut RebalanceReport,
    events: &(dyn Fn(Event<'_>) + Sync),
) {
    let total = report.moves.len();
    for (i, m) in report.moves.iter().enumerate() {
        ops.observer.step(&m.address, &format!("move {}/{total}", i + 1));
        let moved = async {
            let file = JournalFile::lock(ops.inventory, &m.address)?;
            move_with(ops, s, &file, &m.address, Mode::Start(m.to.clone()), MoveOptions::default()).await
        }
        .await;
        match moved {
            Ok(Outcome::Moved(r)) => {
                events(Event::Moved(&r));
                report.applied.push(r);
            }
            Ok(Outcome::Said(text)) => {
                report.failed = Some(format!("{}: {text}", m.address));
                break;
            }
            Err(e) => {
                report.failed = Some(format!("{}: {e:#}", m.address));
                break;
            }
        }
    }
}
