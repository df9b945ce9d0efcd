//! `mailctl move-account`: one account's mailbox to another mailbox host, nothing lost
//! (`crate::ops::move_account`; the protocol is in `accounts::mover`).

use std::path::PathBuf;
use std::time::Duration;

use super::support::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format, Globals};
use crate::accounts::address;
use crate::accounts::fleet::mailbox_host;
use crate::accounts::mover::MoveReport;
use crate::ops::move_account::{self, Mode, Outcome, Request};
use crate::ui::Progress;

/// Moves an account's mailbox to another mailbox host while it stays in use.
#[derive(clap::Args, Debug)]
#[command(after_help = "How: online dsync passes from the old host while the user works, then a short cutover \
(mail deferred at the MTAs, logins held at the proxies, sessions kicked, a final pass verified folder by folder, \
mailHost switched, deferred mail released). The old copy stays on the old host, closed to logins, until \
`mailctl account purge-moved USER`. Mailbox pairs (docs/pairs.md): the target's partner gets its copy before \
the command ends and the old pair keeps a closed copy on both members; a move to the pair partner keeps the old \
host's copy as the replica. An interrupted move is journalled in <inventory>.moves/: finish it with \
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
    /// Delete the old copy on the source (and its pair partner) once the move is done
    /// (default: kept, closed).
    #[arg(long, conflicts_with = "abort")]
    pub purge: bool,
    /// How long logins wait at the proxies during the cutover (Dovecot caps it at 300).
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub hold_logins: u64,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
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
    let path = super::support::inventory_path(cli, &inventory);
    let cluster = match super::support::load_inventory(&path) {
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
    let mode = match (args.resume, args.abort, rest.get(1)) {
        (true, _, _) => Mode::Resume,
        (_, true, _) => Mode::Abort,
        (_, _, Some(host)) => match mailbox_host(&cluster, host) {
            Ok(h) => Mode::Start(h.name.clone()),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(EXIT_USAGE);
            }
        },
        _ => unreachable!("argument count checked"),
    };
    let req = Request { address: user.clone(), mode, hold: Duration::from_secs(args.hold_logins), purge: args.purge };
    let progress = Progress::new([user.as_str()], cli.format == Format::Text);
    let result = super::support::run_op(&cluster, &path, &progress, async |ops| move_account::run(ops, &req).await);
    progress.clear();
    match result {
        Ok(Outcome::Moved(report)) => print_report(cli.format, &report).map(|()| EXIT_OK),
        Ok(Outcome::Said(text)) if cli.format == Format::Json => {
            outln!("{}", serde_json::json!({"address": user, "result": text}));
            Ok(EXIT_OK)
        }
        Ok(Outcome::Said(text)) => {
            outln!("{text}");
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: move-account {user}: {e:#}");
            Ok(EXIT_FAILED)
        }
    }
}

fn print_report(format: Format, r: &MoveReport) -> anyhow::Result<()> {
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
    if let Some(partner) = &r.replica_on {
        match r.replica_copy_secs > 0.0 {
            true => outln!("  replica      copied to {partner}, its pair partner, in {:.2} s", r.replica_copy_secs),
            false => outln!("  replica      on {partner}, its pair partner"),
        }
    }
    let old = r.old_copies.join(" and ");
    if r.old_copies.is_empty() {
        outln!("  old copy     none: {} keeps the account's replica", r.from);
    } else if r.old_copy_purged {
        outln!("  old copy     deleted on {old}");
    } else {
        outln!(
            "  old copy     kept on {old}, closed to logins: `mailctl account purge-moved {}` removes it",
            r.address
        );
    }
    Ok(())
}
