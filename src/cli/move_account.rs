//! `mailctl move-account`: one account's mailbox to another mailbox host, nothing lost
//! (the protocol is in `accounts::mover`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Cli, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::accounts::fleet::{Fleet, mailbox_host};
use crate::accounts::journal::{JournalFile, Phase};
use crate::accounts::mover::{MoveOptions, MoveReport, Mover};
use crate::accounts::{address, mailstore};
use crate::directory::Layout;
use crate::directory::ldap::Ldap;
use crate::inventory::model::{Cluster, Role};
use crate::ui::Progress;

/// Moves an account's mailbox to another mailbox host while it stays in use.
#[derive(clap::Args, Debug)]
#[command(after_help = "How: online dsync passes from the old host while the user works, then a short cutover \
(mail deferred at the MTAs, logins held at the proxies, sessions kicked, a final pass verified folder by folder, \
mailHost switched, deferred mail released). The old copy stays on the old host, closed to logins, until \
`mailctl account purge-moved USER`. An interrupted move is journalled in <inventory>.moves/: finish it with \
--resume or roll it back with --abort.\n\n\
Examples:\n  mailctl move-account inventories/lab.yaml siti@tgg.net.id mbox-2\n  \
mailctl move-account -i inventories/lab.yaml budi@tgg.net.id mbox-1 --format json\n  \
mailctl move-account inventories/lab.yaml --resume siti@tgg.net.id\n  \
mailctl move-account inventories/lab.yaml --abort siti@tgg.net.id")]
pub struct Args {
    /// [INVENTORY] USER HOST, or with --resume/--abort: [INVENTORY] USER.
    #[arg(num_args = 1..=3, value_name = "ARGS", required = true)]
    pub args: Vec<String>,
    /// Finish an interrupted move from its journal.
    #[arg(long, conflicts_with = "abort")]
    pub resume: bool,
    /// Roll an interrupted move back: the account stays on (or returns to) its old host.
    #[arg(long)]
    pub abort: bool,
    /// Delete the old copy on the source once the move is done (default: kept, closed).
    #[arg(long, conflicts_with = "abort")]
    pub purge: bool,
    /// How long logins wait at the proxies during the cutover (Dovecot caps it at 300).
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub hold_logins: u64,
}

pub fn exec(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let wanted = if args.resume || args.abort { 1 } else { 2 };
    let (inventory, rest) = match args.args.len() {
        n if n == wanted => (None, &args.args[..]),
        n if n == wanted + 1 => (Some(PathBuf::from(&args.args[0])), &args.args[1..]),
        _ => {
            let usage = if wanted == 1 { "[INVENTORY] USER" } else { "[INVENTORY] USER HOST" };
            eprintln!("error: expected {usage}, got {} argument(s)", args.args.len());
            return Ok(EXIT_USAGE);
        }
    };
    let path = super::inventory_path(cli, &inventory);
    let cluster = match super::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let user = match address::parse(&rest[0], &cluster) {
        Ok(a) => a.full,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let target = match rest.get(1).map(|h| mailbox_host(&cluster, h)).transpose() {
        Ok(t) => t.map(|h| h.name.clone()),
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(EXIT_USAGE);
        }
    };
    let opts = MoveOptions { hold: Duration::from_secs(args.hold_logins), ..MoveOptions::default() };
    let mode = match (args.resume, args.abort, target) {
        (true, _, _) => Mode::Resume,
        (_, true, _) => Mode::Abort,
        (_, _, Some(t)) => Mode::Start(t),
        _ => unreachable!("argument count checked"),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run_one(&cluster, &path, &user, mode, opts, args.purge, cli.format));
    match result {
        Ok(Outcome::Moved(report)) => {
            print_report(cli.format, &report)?;
            Ok(EXIT_OK)
        }
        Ok(Outcome::Said(text)) => {
            if cli.format == Format::Json {
                outln!("{}", serde_json::json!({"address": user, "result": text}));
            } else {
                outln!("{text}");
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: move-account {user}: {e:#}");
            Ok(EXIT_FAILED)
        }
    }
}

pub enum Mode {
    Start(String),
    Resume,
    Abort,
}

pub enum Outcome {
    Moved(MoveReport),
    Said(String),
}

/// Every session a move may need: the LDAP provider, every mailbox host, MTA and proxy.
pub async fn connect_all(cluster: &Cluster) -> anyhow::Result<(Fleet, Ldap)> {
    let provider = super::account::ldap_provider(cluster)?;
    let mut hosts = vec![provider];
    hosts.extend(cluster.hosts_with(Role::Mailbox));
    let fleet = Fleet::connect(cluster, &hosts).await?;
    let ldap = Ldap::connect(fleet.get(&provider.name)).await?;
    Ok((fleet, ldap))
}

pub async fn run_one(
    cluster: &Cluster,
    inventory: &Path,
    user: &str,
    mode: Mode,
    opts: MoveOptions,
    purge: bool,
    format: Format,
) -> anyhow::Result<Outcome> {
    let file = JournalFile::lock(inventory, user)?;
    let (fleet, mut ldap) = connect_all(cluster).await?;
    let progress = Progress::new([user], format == Format::Text);
    let say = |m: &str| {
        tracing::info!("{user}: {m}");
        progress.set(user, m.to_string());
    };
    let mut mover = Mover {
        cluster,
        fleet: &fleet,
        ldap: &mut ldap,
        layout: Layout::new(cluster),
        file: &file,
        opts,
        progress: &say,
    };
    let result = drive(&mut mover, &file, user, mode).await;
    let result = match result {
        Ok(Outcome::Moved(mut report)) if purge => {
            progress.set(user, format!("deleting the old copy on {}", report.from));
            match mailstore::remove_home(fleet.get(&report.from), user).await {
                Ok(()) => {
                    report.old_copy_purged = true;
                    Ok(Outcome::Moved(report))
                }
                Err(e) => Err(e.context("the move finished, but deleting the old copy failed")),
            }
        }
        other => other,
    };
    progress.clear();
    ldap.close().await;
    fleet.close().await;
    result
}

async fn drive(mover: &mut Mover<'_>, file: &JournalFile, user: &str, mode: Mode) -> anyhow::Result<Outcome> {
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
            let target = mover.cluster.host(&target).context("target host")?;
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

pub fn print_report(format: Format, r: &MoveReport) -> anyhow::Result<()> {
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let mb = r.bytes as f64 / 1e6;
    let rate = if r.online_copy_secs > 0.0 { format!(", {:.1} MB/s", mb / r.online_copy_secs) } else { String::new() };
    outln!("moved {}: {} → {}", r.address, r.from, r.to);
    outln!("  online copy  {:.2} s in {} pass(es){rate}", r.online_copy_secs, r.online_passes.len());
    outln!("  cutover      {:.2} s (mail deferred, logins held)", r.cutover_secs);
    outln!("  moved        {} message(s), {:.1} MB", r.messages, mb);
    if r.caught_up {
        outln!("  catch-up     mail that reached {} after the final pass was copied over", r.from);
    }
    if r.in_flight_timed_out {
        outln!("  warning      a delivery to {} outlasted the wait; the catch-up check covered it", r.from);
    }
    if r.old_copy_purged {
        outln!("  old copy     deleted on {}", r.from);
    } else {
        outln!(
            "  old copy     kept on {}, closed to logins: `mailctl account purge-moved {}` removes it",
            r.from,
            r.address
        );
    }
    Ok(())
}
