//! Quotas: each mailbox's size and use (one batched `doveadm quota get` per mailbox host),
//! and setting an account's own quota or class of service (`accounts::quota` has the rules).

use std::collections::BTreeMap;

use anyhow::bail;
use futures::future::join_all;
use serde::Serialize;

use super::{Ops, with_sessions};
use crate::accounts::entry;
use crate::accounts::quota::{self, Limits, Usage};
use crate::directory::Layout;
use crate::inventory::model::Host;
use crate::remote::connector::connect_each;

/// Every mail home's use on `hosts`, by host name then address; hosts that could not say,
/// with why. A host may hold old copies of accounts that live elsewhere (left by moves):
/// an account's use is the one its own host reports.
#[derive(Debug, Default)]
pub struct UsageReport {
    pub by_host: BTreeMap<String, BTreeMap<String, Usage>>,
    pub failed: Vec<(String, String)>,
}

impl UsageReport {
    /// `address`'s use on `host`: empty when the host answered without a home for it, None
    /// when the host did not answer.
    pub fn of(&self, host: &str, address: &str) -> Option<Usage> {
        self.by_host.get(host).map(|homes| homes.get(address).cloned().unwrap_or_default())
    }
}

/// Asks every host at once: one SSH connection and one doveadm call each.
pub async fn usage(ops: &Ops<'_>, hosts: &[&Host]) -> UsageReport {
    let conns = connect_each(ops.connector, hosts).await;
    let asked = join_all(conns.into_iter().map(async |(name, conn)| {
        let result = match conn {
            Ok(c) => {
                let out = c.run_ok("doveadm quota get", quota::USAGE_SCRIPT).await;
                c.close().await;
                out.map_err(|e| e.to_string()).and_then(|o| quota::parse_usage(&o.stdout_text()))
            }
            Err(e) => Err(e.to_string()),
        };
        (name, result)
    }))
    .await;
    let mut report = UsageReport::default();
    for (host, result) in asked {
        match result {
            Ok(map) => {
                report.by_host.insert(host, map);
            }
            Err(why) => report.failed.push((host, why)),
        }
    }
    report
}

#[derive(Debug, Serialize)]
pub struct LimitsSet {
    pub address: String,
    pub class: Option<String>,
    /// The account's own quota in bytes (0: unlimited).
    pub quota: Option<u64>,
    pub limits: Limits,
    /// The inventory sets this for the account: the next deploy sets it back.
    pub inventory_sets_it: bool,
}

/// What `account quota` and `account class` change.
pub enum LimitChange {
    /// None: back to the class's or the cluster's.
    Quota(Option<u64>),
    /// None: no class.
    Class(Option<String>),
}

/// Sets an account's own quota or class and the limits that follow; every Dovecot forgets
/// its cached lookup so the new limit counts from the next delivery or login, and the MTAs
/// retry the mail a full mailbox had deferred.
pub async fn set_limits(ops: &Ops<'_>, user: &str, change: LimitChange) -> anyhow::Result<LimitsSet> {
    let cluster = ops.cluster;
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let e = entry::existing(s.ldap.as_mut(), &layout, user).await?;
        let listed = cluster.accounts.iter().find(|a| a.address == user);
        let (class, own, inventory_sets_it) = match change {
            LimitChange::Quota(q) => (e.class.clone(), q, listed.is_some_and(|a| a.quota.is_some())),
            LimitChange::Class(c) => (c, e.quota, listed.is_some_and(|a| a.class.is_some())),
        };
        let limits = match quota::limits(cluster, class.as_deref(), own) {
            Ok(l) => l,
            Err(why) => bail!("{why}"),
        };
        let own_text = own.map(|q| q.to_string());
        let mut changes: Vec<(&str, Vec<String>)> = vec![
            ("mailctlClassOfService", class.iter().cloned().collect()),
            ("mailctlQuota", own_text.into_iter().collect()),
        ];
        changes.extend(quota::directory_values(cluster, &limits));
        let changes: Vec<(&str, Vec<&str>)> =
            changes.iter().map(|(k, v)| (*k, v.iter().map(String::as_str).collect())).collect();
        s.ldap.replace(&e.dn, &changes).await?;
        let mailboxes: Vec<&str> =
            cluster.hosts_with(crate::inventory::model::Role::Mailbox).map(|h| h.name.as_str()).collect();
        s.fleet.flush_auth_caches(user, &mailboxes).await?;
        s.fleet.flush_mta_queues().await?;
        Ok(LimitsSet { address: user.to_string(), class, quota: own, limits, inventory_sets_it })
    })
    .await
}
