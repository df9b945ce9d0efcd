//! Account administration: list, show, add (and import), remove, purge-moved. Each returns
//! what it found or did; the command line prints it.

use anyhow::{Context, bail};
use serde::Serialize;

use super::{Ops, with_directory, with_sessions};
use crate::accounts::entry::{self, AccountEntry, AccountState};
use crate::accounts::mailstore;
use crate::accounts::manage::{self, NewAccount};
use crate::accounts::placement::Placer;
use crate::accounts::quota::{self, Limits, Usage};
use crate::accounts::replica;
use crate::directory::Layout;
use crate::inventory::address::Address;
use crate::inventory::model::{Cluster, Host, Role};

#[derive(Debug, Serialize)]
pub struct AccountInfo {
    pub address: String,
    pub name: String,
    /// The mailbox host's name in the inventory (its FQDN when the inventory has no such host).
    pub mailbox: String,
    pub mail_host: String,
    pub state: AccountState,
    pub aliases: Vec<String>,
    /// Where its mail is forwarded (empty: not forwarded), and whether it keeps a copy.
    pub forward: Vec<String>,
    pub keep_copy: bool,
    pub class: Option<String>,
    /// Its own quota in bytes (0: unlimited).
    pub quota: Option<u64>,
    /// What applies, and from where; None when its class is not in the inventory any more.
    pub limits: Option<Limits>,
    /// Its mailbox's size and use, when asked for and its host answered.
    pub usage: Option<Usage>,
}

fn info(ops: &Ops<'_>, e: AccountEntry) -> AccountInfo {
    AccountInfo {
        mailbox: manage::host_name(ops.cluster, &e.mail_host),
        limits: quota::limits(ops.cluster, e.class.as_deref(), e.quota).ok(),
        address: e.address,
        name: e.name,
        mail_host: e.mail_host,
        state: e.state,
        aliases: e.aliases,
        forward: e.forward,
        keep_copy: e.keep_copy,
        class: e.class,
        quota: e.quota,
        usage: None,
    }
}

/// `account list`: the accounts, and the mailbox hosts that could not report use.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub accounts: Vec<AccountInfo>,
    /// (host, why) for each mailbox host that did not answer `doveadm quota get`.
    pub usage_failed: Vec<(String, String)>,
}

/// Every account (on the mailbox host with FQDN `mail_host`, when given), by address; with
/// `usage`, each mailbox's size and quota use, asked of every mailbox host at once while the
/// directory is read.
pub async fn list(ops: &Ops<'_>, mail_host: Option<&str>, usage: bool) -> anyhow::Result<Listing> {
    let layout = Layout::new(ops.cluster);
    let hosts: Vec<&Host> = ops
        .cluster
        .hosts_with(Role::Mailbox)
        .filter(|h| usage && mail_host.is_none_or(|f| h.fqdn.eq_ignore_ascii_case(f)))
        .collect();
    let (entries, used) = tokio::join!(
        with_directory(ops, async |ldap| entry::read_all(ldap, &layout, mail_host).await),
        super::quota::usage(ops, &hosts)
    );
    let accounts = entries?
        .into_iter()
        .map(|e| {
            let mut a = info(ops, e);
            a.usage = used.of(&a.mailbox, &a.address);
            a
        })
        .collect();
    Ok(Listing { accounts, usage_failed: used.failed })
}

/// One account, and where the next new account would go (and why).
pub struct Shown {
    pub account: AccountInfo,
    pub placer: Placer,
    /// Why its mailbox host did not report the mailbox's use.
    pub usage_failed: Option<String>,
}

pub async fn show(ops: &Ops<'_>, address: &str) -> anyhow::Result<Shown> {
    let accounts = list(ops, None, false).await?.accounts;
    let placer = Placer::new(ops.cluster, accounts.iter().map(|a| a.mail_host.as_str()));
    let mut account = accounts
        .into_iter()
        .find(|a| a.address == address)
        .with_context(|| format!("no account {address} in the directory"))?;
    let mut usage_failed = None;
    if let Some(host) = ops.cluster.host_by_fqdn(&account.mail_host) {
        match usage_of(ops, host, address).await {
            Ok(u) => account.usage = u,
            Err(e) => usage_failed = Some(format!("{}: {e:#}", host.name)),
        }
    }
    Ok(Shown { account, placer, usage_failed })
}

/// One account's use, asked of its mailbox host.
async fn usage_of(ops: &Ops<'_>, host: &Host, address: &str) -> anyhow::Result<Option<Usage>> {
    let conn = ops.connector.connect(host).await?;
    let out = conn.run_ok("doveadm quota get", &quota::usage_script_for(address)?).await;
    conn.close().await;
    quota::parse_usage_of(&out?.stdout_text(), address).map_err(anyhow::Error::msg)
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub address: String,
    pub mailbox: String,
    /// added, exists (already there, skipped), alias (another account's alias, skipped),
    /// list (a distribution list's address, skipped), alias_in_use (one of its aliases is
    /// taken, skipped; `mailbox` names the alias), would_add (dry run)
    pub result: &'static str,
}

/// Places and writes accounts; ones already in the directory are reported and skipped
/// (a single account that exists is an error).
pub async fn add_many(ops: &Ops<'_>, accounts: &[NewAccount], dry_run: bool) -> anyhow::Result<Vec<Added>> {
    let cluster = ops.cluster;
    let single = accounts.len() == 1;
    with_directory(ops, async |ldap| {
        let layout = Layout::new(cluster);
        let entries = entry::read_all(ldap, &layout, None).await?;
        let existing: Vec<(String, String)> =
            entries.iter().map(|e| (e.address.clone(), e.mail_host.clone())).collect();
        let alias_owner =
            |a: &str| entries.iter().find(|e| e.aliases.iter().any(|x| x == a)).map(|e| e.address.clone());
        let list_addresses = crate::accounts::lists::addresses(ldap, &layout).await?;
        let mut placer = Placer::new(cluster, existing.iter().map(|(_, h)| h.as_str()));
        let mut results = Vec::new();
        for account in accounts {
            let address = account.address.full.clone();
            if let Some((_, fqdn)) = existing.iter().find(|(a, _)| *a == address) {
                let on = manage::host_name(cluster, fqdn);
                if single {
                    bail!("{address} exists already (on {on})");
                }
                results.push(Added { address, mailbox: on, result: "exists" });
                continue;
            }
            if list_addresses.contains(&address) {
                if single {
                    bail!("{address} is a distribution list");
                }
                results.push(Added { address, mailbox: String::new(), result: "list" });
                continue;
            }
            if let Some(owner) = alias_owner(&address) {
                if single {
                    bail!("{address} is an alias of {owner}: remove it there first (`mailctl account alias remove`)");
                }
                results.push(Added { address, mailbox: owner, result: "alias" });
                continue;
            }
            let taken = |a: &String| {
                existing.iter().any(|(x, _)| x == a) || alias_owner(a).is_some() || list_addresses.contains(a)
            };
            if let Some(a) = account.aliases.iter().find(|a| taken(a)) {
                if single {
                    bail!("{address}: its alias {a} is in use already");
                }
                results.push(Added { address, mailbox: a.clone(), result: "alias_in_use" });
                continue;
            }
            let host = match &account.mailbox {
                Some(name) => {
                    let h = cluster.host(name).context("mailbox host")?;
                    placer.count(&h.fqdn);
                    h
                }
                None => {
                    let load = placer.place().context("the cluster has no mailbox host")?;
                    cluster.host(&load.host).context("placed host")?
                }
            };
            if !dry_run {
                manage::add(ldap, &layout, cluster, account, host).await?;
            }
            let result = if dry_run { "would_add" } else { "added" };
            results.push(Added { address, mailbox: host.name.clone(), result });
        }
        Ok(results)
    })
    .await
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub address: String,
    /// Mailbox hosts whose copy of the mail was deleted.
    pub mail_deleted_on: Vec<String>,
    /// The inventory still lists the account: the next deploy creates it again.
    pub still_in_inventory: bool,
}

/// Deletes an account: refused while it is moving, or while its mailbox holds mail unless
/// `purge`. Its sessions are closed and every mailbox host's copy deleted.
pub async fn remove(ops: &Ops<'_>, user: &str, purge: bool) -> anyhow::Result<Removed> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        entry.ensure_settled()?;
        if let Some(h) = cluster.host_by_fqdn(&entry.mail_host) {
            let (messages, bytes) = mailstore::totals(&mailstore::folders(s.fleet.get(&h.name), user).await?);
            if messages > 0 && !purge {
                bail!(
                    "{user} holds {messages} message(s) ({:.1} MB) on {}: add --purge to delete them with the account",
                    bytes as f64 / 1e6,
                    h.name
                );
            }
        }
        s.ldap.delete(&entry.dn).await?;
        let mailboxes: Vec<&Host> = cluster.hosts_with(Role::Mailbox).collect();
        let names: Vec<&str> = mailboxes.iter().map(|h| h.name.as_str()).collect();
        s.fleet.flush_auth_caches(user, &names).await?;
        s.fleet.kick(user, &names).await?;
        let mail_deleted_on = delete_homes(s, cluster, user, &mailboxes).await?;
        let still_in_inventory = cluster.accounts.iter().any(|a| a.address == user);
        Ok(Removed { address: user.to_string(), mail_deleted_on, still_in_inventory })
    })
    .await
}

#[derive(Debug, Serialize)]
pub struct PurgedMoved {
    pub address: String,
    /// Where the account lives (its copy there is kept).
    pub home: String,
    /// Its pair partner, whose copy is the replica and is kept too.
    pub replica_on: Option<String>,
    pub deleted_on: Vec<String>,
}

/// Deletes the closed copies a finished move left on the account's other mailbox hosts (all
/// but its home and, paired, the partner holding its replica).
pub async fn purge_moved(ops: &Ops<'_>, user: &str) -> anyhow::Result<PurgedMoved> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        if entry.state != AccountState::Active || entry.move_target.is_some() {
            bail!("{user} is in the middle of a move: its old copy is still needed");
        }
        let home = cluster
            .host_by_fqdn(&entry.mail_host)
            .with_context(|| format!("{user} lives on {}, not a host of this inventory", entry.mail_host))?;
        let replica = cluster.partner_of(&home.name);
        let others: Vec<&Host> = cluster
            .hosts_with(Role::Mailbox)
            .filter(|h| h.name != home.name && replica.is_none_or(|r| r.name != h.name))
            .collect();
        let deleted_on = delete_homes(s, cluster, user, &others).await?;
        Ok(PurgedMoved {
            address: user.to_string(),
            home: home.name.clone(),
            replica_on: replica.map(|r| r.name.clone()),
            deleted_on,
        })
    })
    .await
}

/// Deletes `user`'s mail home on each of `hosts` that has one; returns those hosts. A paired
/// host's replication forgets the account first: it would make the home again, or report
/// the account failing to sync for ever (docs/pairs.md).
async fn delete_homes(
    s: &super::AccountSessions,
    cluster: &Cluster,
    user: &str,
    hosts: &[&Host],
) -> anyhow::Result<Vec<String>> {
    let mut deleted = Vec::new();
    for h in hosts {
        let session = s.fleet.get(&h.name);
        if cluster.pair_of(&h.name).is_some() {
            replica::forget(h, session, user).await?;
        }
        if mailstore::has_home(session, user).await? {
            mailstore::remove_home(session, user).await?;
            deleted.push(h.name.clone());
        }
    }
    Ok(deleted)
}

#[derive(Debug, Serialize)]
pub struct StateChange {
    pub address: String,
    pub from: AccountState,
    pub to: AccountState,
}

/// Sets an account's status (see `AccountState` for what each does). Refused while the
/// account is moving, atomically against a move starting meanwhile. Every host that asks the
/// directory hears of it at once: the MTAs reload their maps, every Dovecot forgets its cached
/// login, sessions are closed when logins stop; leaving `maintenance` releases the mail held
/// for it.
pub async fn set_state(ops: &Ops<'_>, user: &str, to: AccountState) -> anyhow::Result<StateChange> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        entry.ensure_settled()?;
        let change = StateChange { address: user.to_string(), from: entry.state.clone(), to: to.clone() };
        if entry.state == to {
            return Ok(change);
        }
        let changes = [("mailctlState", vec![to.as_str()])];
        if !s.ldap.replace_if(&entry.dn, &changes, "(!(mailctlMoveTarget=*))").await? {
            bail!("{user} was claimed by a move while its status was being set: nothing was changed");
        }
        let dovecots = dovecot_hosts(ops);
        let (reload, flush) = tokio::join!(s.fleet.reload_mtas(), s.fleet.flush_auth_caches(user, &dovecots));
        reload?;
        flush?;
        if !to.may_log_in() {
            s.fleet.kick(user, &mailbox_names(ops)).await?;
        }
        if entry.state == AccountState::Maintenance {
            s.fleet.flush_mta_queues().await?;
        }
        Ok(change)
    })
    .await
}

#[derive(Debug, Serialize)]
pub struct PasswordSet {
    pub address: String,
    /// The inventory gives the account a password of its own: the next deploy sets it back.
    pub inventory_sets_it: bool,
}

/// Sets an account's password (stored as SSHA) and makes every Dovecot forget the old one at
/// once, so it stops working now rather than when a cache entry expires.
pub async fn set_password(ops: &Ops<'_>, user: &str, password: &str) -> anyhow::Result<PasswordSet> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        let hash = crate::state::ssha(password);
        s.ldap.replace(&entry.dn, &[("userPassword", vec![hash.as_str()])]).await?;
        s.fleet.flush_auth_caches(user, &dovecot_hosts(ops)).await?;
        let inventory_sets_it = cluster.accounts.iter().any(|a| a.address == user && a.password.is_some());
        Ok(PasswordSet { address: user.to_string(), inventory_sets_it })
    })
    .await
}

pub(super) fn mailbox_names<'a>(ops: &Ops<'a>) -> Vec<&'a str> {
    ops.cluster.hosts_with(Role::Mailbox).map(|h| h.name.as_str()).collect()
}

/// Every host whose Dovecot answers logins: mailbox hosts, and the MTAs' SASL service (the
/// proxies are flushed by `Fleet` itself).
pub(super) fn dovecot_hosts<'a>(ops: &Ops<'a>) -> Vec<&'a str> {
    let mut names = mailbox_names(ops);
    names.extend(ops.cluster.hosts_with(Role::Mta).map(|h| h.name.as_str()));
    names
}

#[derive(Debug, Serialize)]
pub struct Aliases {
    pub address: String,
    pub aliases: Vec<String>,
}

/// Adds `alias` to `user` (or removes it): mail to the alias reaches the account, and the
/// account may send as it. An address is one account's or one alias, never both
/// (`entry::address_use`).
pub async fn alias(ops: &Ops<'_>, user: &str, alias: &Address, add: bool) -> anyhow::Result<Aliases> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        let mut aliases = entry.aliases.clone();
        if add {
            match entry::address_use(s.ldap.as_mut(), &layout, &alias.full).await? {
                Some(entry::AddressUse::Account) => bail!("{} is an account: it cannot be an alias too", alias.full),
                Some(entry::AddressUse::List) => bail!("{} is a distribution list", alias.full),
                Some(entry::AddressUse::AliasOf(owner)) if owner != user => {
                    bail!("{} is an alias of {owner} already", alias.full)
                }
                Some(entry::AddressUse::AliasOf(_)) => return Ok(Aliases { address: user.to_string(), aliases }),
                None => aliases.push(alias.full.clone()),
            }
        } else if !aliases.contains(&alias.full) {
            bail!("{} is not an alias of {user} (its aliases: {})", alias.full, shown(&aliases));
        } else {
            aliases.retain(|a| *a != alias.full);
        }
        aliases.sort();
        let values: Vec<&str> = aliases.iter().map(String::as_str).collect();
        s.ldap.replace(&entry.dn, &[("mailLocalAddress", values)]).await?;
        s.fleet.reload_mtas().await?;
        Ok(Aliases { address: user.to_string(), aliases })
    })
    .await
}

#[derive(Debug, Serialize)]
pub struct Forwarding {
    pub address: String,
    /// Empty: not forwarded.
    pub to: Vec<String>,
    pub keep_copy: bool,
}

/// Forwards `user`'s mail to `to` (inside the cluster or out), keeping a copy in the account
/// when asked; an empty `to` stops forwarding.
pub async fn forward(ops: &Ops<'_>, user: &str, to: &[Address], keep_copy: bool) -> anyhow::Result<Forwarding> {
    if to.iter().any(|a| a.full == user) {
        bail!("{user} cannot forward to itself: use --keep-copy to keep its mail");
    }
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let entry = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        let targets: Vec<&str> = to.iter().map(|a| a.full.as_str()).collect();
        let keep = if keep_copy && !to.is_empty() { vec!["TRUE"] } else { vec![] };
        s.ldap.replace(&entry.dn, &[("mailctlForward", targets), ("mailctlForwardKeepCopy", keep)]).await?;
        s.fleet.reload_mtas().await?;
        Ok(Forwarding {
            address: user.to_string(),
            to: to.iter().map(|a| a.full.clone()).collect(),
            keep_copy: keep_copy && !to.is_empty(),
        })
    })
    .await
}

fn shown(list: &[String]) -> String {
    if list.is_empty() { "none".to_string() } else { list.join(", ") }
}
