//! Operations: each command's work as one library call that returns a report. The command
//! line (`cli/`) parses arguments, calls one of these, prints the report and picks the exit
//! code; nothing here prints, knows output formats or exit codes. Hosts are reached through
//! a `remote::Connector` (SSH, or the in-process fake in tests); progress goes to an
//! `observe::Observer`.

pub mod accounts;
pub mod deploy;
pub mod export;
pub mod lists;
pub mod move_account;
pub mod pair;
pub mod provision;
pub mod quota;
pub mod rebalance;
pub mod rename;

use std::path::Path;

use anyhow::Context;

use crate::accounts::fleet::Fleet;
use crate::directory::client::DirectoryClient;
use crate::inventory::model::{Cluster, Host, Role};
use crate::observe::Observer;
use crate::remote::Connector;

/// What every operation works with.
pub struct Ops<'a> {
    pub cluster: &'a Cluster,
    /// The inventory file as the admin named it: move journals and locks sit beside it.
    pub inventory: &'a Path,
    pub connector: &'a dyn Connector,
    pub observer: &'a dyn Observer,
}

/// The connections an account operation needs, opened at once: the LDAP provider, every
/// mailbox host, every MTA and proxy (`Fleet`), and the directory on the provider.
pub struct AccountSessions {
    pub fleet: Fleet,
    pub ldap: Box<dyn DirectoryClient>,
}

impl AccountSessions {
    pub async fn open(ops: &Ops<'_>) -> anyhow::Result<AccountSessions> {
        let provider = ops.cluster.ldap_provider().context("the inventory has no LDAP provider host")?;
        let mut hosts: Vec<&Host> = vec![provider];
        hosts.extend(ops.cluster.hosts_with(Role::Mailbox));
        let fleet = Fleet::connect(ops.connector, ops.cluster, &hosts).await?;
        match ops.connector.directory(fleet.get(&provider.name)).await {
            Ok(ldap) => Ok(AccountSessions { fleet, ldap }),
            Err(e) => {
                fleet.close().await;
                Err(e.into())
            }
        }
    }

    pub async fn close(self) {
        self.ldap.close().await;
        self.fleet.close().await;
    }
}

/// Runs `job` with the account sessions and closes them whatever it returns.
pub async fn with_sessions<T>(
    ops: &Ops<'_>,
    job: impl AsyncFnOnce(&mut AccountSessions) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut sessions = AccountSessions::open(ops).await?;
    let result = job(&mut sessions).await;
    sessions.close().await;
    result
}

/// Runs `job` with the directory alone (one connection, to the LDAP provider).
pub async fn with_directory<T>(
    ops: &Ops<'_>,
    job: impl AsyncFnOnce(&mut dyn DirectoryClient) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let provider = ops.cluster.ldap_provider().context("the inventory has no LDAP provider host")?;
    let conn = ops.connector.connect(provider).await?;
    let result = async {
        let mut ldap = ops.connector.directory(conn.as_ref()).await?;
        let result = job(ldap.as_mut()).await;
        ldap.close().await;
        result
    }
    .await;
    conn.close().await;
    result
}
