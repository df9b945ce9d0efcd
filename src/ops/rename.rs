//! `account rename OLD NEW`: the account keeps its mailbox host, its mail moves to its new
//! home by one `mv`, and OLD stays as an alias so nothing sent to it is lost.
//!
//! The move's safeguards, in this order:
//! 1. hold: one atomic directory change (refused if a move or another rename claimed the
//!    account) puts it in maintenance, marked `mailctlMoveTarget: rename:NEW`, with NEW as an
//!    alias. Mail to either address now waits in the MTAs' queues, logins are refused; the
//!    MTAs reload, every Dovecot forgets its cached lookup, sessions are kicked, deliveries
//!    already on their way are awaited.
//! 2. the mail home is renamed on every mailbox host that has one (old copies left by moves
//!    too);
//! 3. the entry is renamed (modrdn) and given its new address, OLD among its aliases;
//! 4. lists and other accounts' forwards that named OLD name NEW;
//! 5. release: active again, the queued mail requeued so OLD is rewritten to NEW, and sent.
//!
//! Every step finds out whether it was done already, so a rename killed at any point is
//! finished by running the same command again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

use super::accounts::{dovecot_hosts, mailbox_names};
use super::{AccountSessions, Ops, with_sessions};
use crate::accounts::entry::{self, AccountEntry, AccountState, AddressUse};
use crate::accounts::journal::JournalFile;
use crate::accounts::mailstore::{self, HomeRename};
use crate::directory::Layout;
use crate::directory::client::first_values;
use crate::inventory::address::Address;

/// How long proxies hold logins while the directory changes (as a move's cutover does).
const HOLD: Duration = Duration::from_secs(5);
/// Longest wait for deliveries already on their way to the mailbox host.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize)]
pub struct Renamed {
    pub old: String,
    pub new: String,
    pub mailbox: String,
    /// Mailbox hosts whose mail home was renamed by this run.
    pub homes_renamed_on: Vec<String>,
    /// Lists whose member OLD became NEW, and accounts whose forward did.
    pub lists: Vec<String>,
    pub forwards: Vec<String>,
    /// Queued messages for OLD sent back through cleanup to reach NEW.
    pub requeued: usize,
    /// An earlier, interrupted run was finished.
    pub resumed: bool,
    /// The rename had been finished already: nothing was done.
    pub already_done: bool,
    /// The inventory lists OLD: the next deploy would create it again.
    pub old_in_inventory: bool,
    /// Mailbox hosts where a home for OLD exists again after the rename: a delivery slipped
    /// between the `mv` and the directory change. Its mail is for a person to merge.
    pub old_home_again_on: Vec<String>,
}

fn marker(new: &str) -> String {
    format!("rename:{new}")
}

pub async fn run(ops: &Ops<'_>, old: &Address, new: &Address) -> anyhow::Result<Renamed> {
    if old.full == new.full {
        bail!("{} is already called that", old.full);
    }
    // The move locks: no move or second rename of either address meanwhile.
    let _locks = (JournalFile::lock(ops.inventory, &old.full)?, JournalFile::lock(ops.inventory, &new.full)?);
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let mut report = Renamed {
            old: old.full.clone(),
            new: new.full.clone(),
            mailbox: String::new(),
            homes_renamed_on: Vec::new(),
            lists: Vec::new(),
            forwards: Vec::new(),
            requeued: 0,
            resumed: false,
            already_done: false,
            old_in_inventory: cluster.accounts.iter().any(|a| a.address == old.full),
            old_home_again_on: Vec::new(),
        };
        let old_entry = entry::read(s.ldap.as_mut(), &layout, &old.full).await?;
        let new_entry = entry::read(s.ldap.as_mut(), &layout, &new.full).await?;
        let ours = |e: &AccountEntry| e.move_target.as_deref() == Some(marker(&new.full).as_str());
        let renamed = match (old_entry, new_entry) {
            (Some(o), None) if ours(&o) => {
                report.resumed = true;
                hold_effects(ops, s, &old.full).await?;
                false
            }
            (Some(o), None) => {
                check_fresh(s, &layout, &o, new, &mailbox_names(ops)).await?;
                hold(s, &o, &new.full).await?;
                hold_effects(ops, s, &old.full).await?;
                false
            }
            (None, Some(n)) if ours(&n) => {
                report.resumed = true;
                true
            }
            (None, Some(n)) if n.aliases.contains(&old.full) && n.is_settled() => {
                // Done; a run that failed after the release may have left held mail queued.
                report.already_done = true;
                report.mailbox = crate::accounts::manage::host_name(cluster, &n.mail_host);
                report.requeued = after_release(ops, s, &old.full, &new.full).await?;
                return Ok(report);
            }
            (None, Some(_)) => bail!("{} is an account already", new.full),
            (None, None) => bail!("no account {} in the directory", old.full),
            (Some(_), Some(_)) => bail!("{} and {} are both accounts: nothing was changed", old.full, new.full),
        };
        report.homes_renamed_on = rename_homes(ops, s, &old.full, &new.full).await?;
        if !renamed {
            s.ldap.rename(&layout.account_dn(&old.full), &format!("uid={}", new.full)).await?;
        }
        let e = entry::existing(s.ldap.as_mut(), &layout, &new.full).await?;
        report.mailbox = crate::accounts::manage::host_name(cluster, &e.mail_host);
        readdress(s, &e, old, new).await?;
        (report.lists, report.forwards) = repoint(s, &layout, &old.full, &new.full).await?;
        release(s, &e.dn).await?;
        report.requeued = after_release(ops, s, &old.full, &new.full).await?;
        report.old_home_again_on = hosts_with_home(s, &mailbox_names(ops), &old.full).await?;
        Ok(report)
    })
    .await
}

/// Before anything changes: OLD is active and settled, NEW is free, and no mailbox host has
/// a mail home for NEW already.
async fn check_fresh(
    s: &mut AccountSessions,
    layout: &Layout,
    old: &AccountEntry,
    new: &Address,
    mailbox_hosts: &[&str],
) -> anyhow::Result<()> {
    old.ensure_settled()?;
    if old.state != AccountState::Active {
        bail!("{} is {}: make it active first (`account set-status … active`)", old.address, old.state);
    }
    match entry::address_use(s.ldap.as_mut(), layout, &new.full).await? {
        None => {}
        Some(AddressUse::AliasOf(owner)) if owner == old.address => {}
        Some(AddressUse::Account) => bail!("{} is an account already", new.full),
        Some(AddressUse::AliasOf(owner)) => bail!("{} is an alias of {owner}", new.full),
        Some(AddressUse::List) => bail!("{} is a distribution list", new.full),
    }
    if let Some(host) = hosts_with_home(s, mailbox_hosts, &new.full).await?.first() {
        bail!(
            "{host} has a mail home for {} already ({}): remove it or pick another name",
            new.full,
            mailstore::home_dir(&new.full)?
        );
    }
    Ok(())
}

/// The hosts among `hosts` that have a mail home for `user`, asked all at once.
async fn hosts_with_home(s: &AccountSessions, hosts: &[&str], user: &str) -> anyhow::Result<Vec<String>> {
    let found = futures::future::join_all(hosts.iter().map(|h| mailstore::has_home(s.fleet.get(h), user))).await;
    let mut out = Vec::new();
    for (host, has) in hosts.iter().zip(found) {
        if has.with_context(|| format!("{host}: step `look for the mail home`"))? {
            out.push(host.to_string());
        }
    }
    Ok(out)
}

/// Step 1's directory change, atomic against a move or a status change claiming the account.
async fn hold(s: &mut AccountSessions, old: &AccountEntry, new: &str) -> anyhow::Result<()> {
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + HOLD;
    let mut aliases: Vec<&str> = old.aliases.iter().map(String::as_str).collect();
    if !aliases.contains(&new) {
        aliases.push(new);
    }
    let (until, mark) = (until.as_secs().to_string(), marker(new));
    let changes = [
        ("mailctlState", vec![AccountState::Maintenance.as_str()]),
        ("mailctlMoveTarget", vec![mark.as_str()]),
        ("mailctlHoldUntil", vec![until.as_str()]),
        ("mailLocalAddress", aliases),
    ];
    if !s.ldap.replace_if(&old.dn, &changes, entry::MOVABLE).await? {
        bail!("{} was claimed by a move or a status change meanwhile: nothing was changed", old.address);
    }
    Ok(())
}

/// Step 1's effects on the hosts; repeated on a resume (each is harmless twice).
async fn hold_effects(ops: &Ops<'_>, s: &AccountSessions, old: &str) -> anyhow::Result<()> {
    let dovecots = dovecot_hosts(ops);
    let (reload, flush) = tokio::join!(s.fleet.reload_mtas(), s.fleet.flush_auth_caches(old, &dovecots));
    reload?;
    flush?;
    s.fleet.kick(old, &mailbox_names(ops)).await?;
    if !s.fleet.wait_for_in_flight(old, IN_FLIGHT_LIMIT).await? {
        bail!(
            "deliveries to {old} were still running after {}s; it stays held: run the rename again",
            IN_FLIGHT_LIMIT.as_secs()
        );
    }
    Ok(())
}

/// Step 2 on every mailbox host at once.
async fn rename_homes(ops: &Ops<'_>, s: &AccountSessions, old: &str, new: &str) -> anyhow::Result<Vec<String>> {
    let names = mailbox_names(ops);
    let results =
        futures::future::join_all(names.iter().map(|h| mailstore::rename_home(s.fleet.get(h), old, new))).await;
    let mut renamed = Vec::new();
    for (host, result) in names.iter().zip(results) {
        if result.with_context(|| format!("{host}: step `rename the mail home`"))? == HomeRename::Moved {
            renamed.push(host.to_string());
        }
    }
    Ok(renamed)
}

/// Step 3 after the modrdn: the new address, OLD among the aliases (NEW no longer one), and
/// the name parts that were the old local part.
async fn readdress(s: &mut AccountSessions, e: &AccountEntry, old: &Address, new: &Address) -> anyhow::Result<()> {
    let mut aliases: Vec<String> = e.aliases.iter().filter(|a| **a != new.full).cloned().collect();
    if !aliases.contains(&old.full) {
        aliases.push(old.full.clone());
    }
    aliases.sort();
    let mut changes: Vec<(&str, Vec<&str>)> =
        vec![("mail", vec![new.full.as_str()]), ("mailLocalAddress", aliases.iter().map(String::as_str).collect())];
    let found = s.ldap.read(&e.dn, &["sn"]).await?.map(|r| first_values(&r)).unwrap_or_default();
    if found.get("sn").is_some_and(|sn| *sn == old.local) {
        changes.push(("sn", vec![new.local.as_str()]));
    }
    if e.name == old.local {
        changes.push(("cn", vec![new.local.as_str()]));
    }
    s.ldap.replace(&e.dn, &changes).await?;
    Ok(())
}

/// Step 4: lists and forwards that name OLD name NEW instead.
async fn repoint(
    s: &mut AccountSessions,
    layout: &Layout,
    old: &str,
    new: &str,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let o = ldap3::ldap_escape(old);
    let mut done = (Vec::new(), Vec::new());
    let places = [
        (layout.lists_base(), format!("(&(objectClass=mailctlList)(mailctlMember={o}))"), "mailctlMember"),
        (
            layout.accounts_base(),
            format!("(&(objectClass=inetLocalMailRecipient)(mailctlForward={o}))"),
            "mailctlForward",
        ),
    ];
    for (i, (base, filter, attr)) in places.iter().enumerate() {
        for found in s.ldap.search(base, filter, &["mail", attr]).await? {
            let values: Vec<String> = found
                .attrs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
                .flat_map(|(_, v)| v.iter())
                .map(|v| if v.eq_ignore_ascii_case(old) { new.to_string() } else { v.clone() })
                .collect();
            s.ldap.replace(&found.dn, &[(*attr, values.iter().map(String::as_str).collect())]).await?;
            let name = first_values(&found).get("mail").cloned().unwrap_or(found.dn.clone());
            if i == 0 { done.0.push(name) } else { done.1.push(name) }
        }
    }
    Ok(done)
}

/// Step 5's directory change.
async fn release(s: &mut AccountSessions, dn: &str) -> anyhow::Result<()> {
    let changes = [
        ("mailctlState", vec![AccountState::Active.as_str()]),
        ("mailctlMoveTarget", vec![]),
        ("mailctlHoldUntil", vec![]),
    ];
    s.ldap.replace(dn, &changes).await?;
    Ok(())
}

/// Step 5 on the hosts: caches forget both names while the MTAs reload, then the held mail
/// (every message for the account waits under OLD, aliases being rewritten to it) is requeued,
/// so OLD is rewritten to NEW, and sent. The last flush is not redundant: a message deferred
/// between the queue snapshot and the reload taking effect is not in the snapshot, and would
/// otherwise wait for Postfix's next retry (minutes; it is delivered then, OLD being an alias).
async fn after_release(ops: &Ops<'_>, s: &AccountSessions, old: &str, new: &str) -> anyhow::Result<usize> {
    let dovecots = dovecot_hosts(ops);
    let both = [old, new];
    let (flush, reload) = tokio::join!(s.fleet.flush_auth_caches_of(&both, &dovecots), s.fleet.reload_mtas());
    flush?;
    reload?;
    let requeued = s.fleet.requeue_for(old).await?;
    s.fleet.flush_mta_queues().await?;
    Ok(requeued)
}
