//! The one way operations reach hosts: a `Connector` turns inventory hosts into connected
//! `RemoteHost`s, each host's failure reported the same way everywhere. `SshConnector` is
//! the real one (inventory + ~/.ssh/config + keys + options); tests pass a `fake::FakeFleet`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::host::{BoxFuture, HostConn, RemoteHost};
use super::keys::KeyStore;
use super::{ConnectOptions, RemoteError, Session, SshConfigFile, Target};
use crate::directory::DirectoryError;
use crate::directory::client::DirectoryClient;
use crate::inventory::model::{Cluster, Host};

pub trait Connector: Send + Sync {
    fn connect<'a>(&'a self, host: &'a Host) -> BoxFuture<'a, Result<HostConn, RemoteError>>;

    /// The directory on the LDAP provider, through that host's connection: ldap3 over slapd's
    /// ldapi socket. A fake fleet hands out its in-memory directory instead.
    fn directory<'a>(
        &'a self,
        provider: &'a dyn RemoteHost,
    ) -> BoxFuture<'a, Result<Box<dyn DirectoryClient>, DirectoryError>> {
        Box::pin(crate::directory::ldap::Ldap::connect(provider))
    }
}

/// SSH to the cluster's hosts: keys (and any passphrase typed once) and ~/.ssh/config are
/// loaded once and shared by every connection.
pub struct SshConnector {
    base_dir: PathBuf,
    /// An unreadable ~/.ssh/config fails every connection, with the same message.
    ssh_config: Result<SshConfigFile, String>,
    keys: KeyStore,
    pub opts: ConnectOptions,
}

impl SshConnector {
    pub fn new(cluster: &Cluster, opts: ConnectOptions) -> SshConnector {
        SshConnector {
            base_dir: cluster.base_dir(),
            ssh_config: SshConfigFile::load_default().map_err(|e| e.to_string()),
            keys: KeyStore::default(),
            opts,
        }
    }
}

impl Connector for SshConnector {
    fn connect<'a>(&'a self, host: &'a Host) -> BoxFuture<'a, Result<HostConn, RemoteError>> {
        Box::pin(async move {
            let config = self.ssh_config.as_ref().map_err(|message| RemoteError::Ssh {
                host: host.name.clone(),
                step: "ssh config".into(),
                message: message.clone(),
            })?;
            let target = Target::for_host(host, &self.base_dir, config)?;
            let session = Session::connect(&target, &self.opts, &self.keys).await?;
            Ok(Box::new(session) as HostConn)
        })
    }
}

/// Connects to every host at once; each host's outcome by name.
pub async fn connect_each(
    connector: &dyn Connector,
    hosts: &[&Host],
) -> BTreeMap<String, Result<HostConn, RemoteError>> {
    let results = futures::future::join_all(hosts.iter().map(|h| connector.connect(h))).await;
    hosts.iter().map(|h| h.name.clone()).zip(results).collect()
}

/// Connects to every host at once; the first failure is the error (the others are closed).
pub async fn connect_all(
    connector: &dyn Connector,
    hosts: &[&Host],
) -> Result<BTreeMap<String, HostConn>, RemoteError> {
    let mut out = BTreeMap::new();
    let mut first_error = None;
    for (name, result) in connect_each(connector, hosts).await {
        match result {
            Ok(conn) => {
                out.insert(name, conn);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        None => Ok(out),
        Some(e) => {
            futures::future::join_all(out.into_values().map(|c| c.close())).await;
            Err(e)
        }
    }
}
