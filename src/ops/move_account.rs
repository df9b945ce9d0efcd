//! `move-account`: start, resume or abort one account's move (the protocol itself is in
//! `accounts::mover`), and delete the old copy after when asked.

use std::time::Duration;

use anyhow::{Context, bail};

use super::{AccountSessions, Ops};
use crate::accounts::journal::{JournalFile, Phase};
use crate::accounts::mailstore;
use crate::accounts::mover::{MoveOptions, MoveReport, Mover};
use crate::directory::Layout;

#[derive(Debug, Clone)]
pub enum Mode {
    /// A new move to this mailbox host.
    Start(String),
    /// Finish an interrupted move from its journal.
    Resume,
    /// Roll an interrupted move back to its source.
    Abort,
}

#[derive(Debug)]
pub enum Outcome {
    Moved(MoveReport),
    /// Nothing moved; what happened instead (a rollback, a move that had finished).
    Said(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub address: String,
    pub mode: Mode,
    /// How long logins wait at the proxies during the cutover.
    pub hold: Duration,
    /// Delete the old copy once the move is done.
    pub purge: bool,
}

pub async fn run(ops: &Ops<'_>, req: &Request) -> anyhow::Result<Outcome> {
    let opts = MoveOptions { hold: req.hold, ..MoveOptions::default() };
    let file = JournalFile::lock(ops.inventory, &req.address)?;
    let mut sessions = AccountSessions::open(ops).await?;
    let result = async {
        let outcome = move_with(ops, &mut sessions, &file, &req.address, req.mode.clone(), opts).await?;
        match outcome {
            Outcome::Moved(mut report) if req.purge && !report.old_copies.is_empty() => {
                for host in &report.old_copies {
                    ops.observer.step(&req.address, &format!("deleting the old copy on {host}"));
                    mailstore::remove_home(sessions.fleet.get(host), &req.address)
                        .await
                        .with_context(|| format!("the move finished, but deleting the old copy on {host} failed"))?;
                }
                report.old_copy_purged = true;
                Ok(Outcome::Moved(report))
            }
            other => Ok(other),
        }
    }
    .await;
    sessions.close().await;
    result
}

/// One move (or its resumption or rollback) over sessions already open; `rebalance` runs
/// many over the same sessions.
pub async fn move_with(
    ops: &Ops<'_>,
    sessions: &mut AccountSessions,
    file: &JournalFile,
    user: &str,
    mode: Mode,
    opts: MoveOptions,
) -> anyhow::Result<Outcome> {
    let say = |m: &str| ops.observer.step(user, m);
    let mut mover = Mover {
        cluster: ops.cluster,
        fleet: &sessions.fleet,
        ldap: sessions.ldap.as_mut(),
        layout: Layout::new(ops.cluster),
        file,
        opts,
        progress: &say,
    };
    let journal = file.load()?;
    let unfinished = journal.as_ref().filter(|j| !matches!(j.phase, Phase::Done | Phase::Aborted));
    match mode {
        Mode::Start(target) => {
            if let Some(j) = unfinished {
                bail!(
                    "an unfinished move of {user} to {} is journalled in {}: finish it with --resume or roll it \
                     back with --abort",
                    j.target,
                    file.path().display()
                );
            }
            let target = ops.cluster.host(&target).context("target host")?;
            let j = mover.preflight(user, target).await?;
            Ok(Outcome::Moved(mover.run(j).await?))
        }
        Mode::Resume => match journal {
            None => bail!("no journal for {user} at {}: nothing to resume", file.path().display()),
            Some(j) if j.phase == Phase::Done => {
                Ok(Outcome::Said(format!("{user}: the move to {} had finished", j.target)))
            }
            Some(j) if j.phase == Phase::Aborted => {
                Ok(Outcome::Said(format!("{user}: the move to {} was rolled back; nothing to resume", j.target)))
            }
            Some(j) => Ok(Outcome::Moved(mover.run(j).await?)),
        },
        Mode::Abort => match journal {
            None => bail!("no journal for {user} at {}: nothing to abort", file.path().display()),
            Some(j) if j.phase == Phase::Aborted => Ok(Outcome::Said(format!("{user}: already rolled back"))),
            Some(j) => {
                let source = j.source.clone();
                mover.abort(j).await?;
                Ok(Outcome::Said(format!("{user}: move rolled back; the account lives on {source}")))
            }
        },
    }
}
