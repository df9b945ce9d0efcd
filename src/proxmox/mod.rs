//! Proxmox VE: the API client (`client`, `tls`), each host's VM as the inventory wants it
//! (`spec`), and provisioning and teardown (`provision`).

pub mod client;
pub mod provision;
pub mod spec;
pub mod tls;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::inventory::model::{Cluster, Proxmox};
use client::{Client, ClientOptions, Trust};

/// A client for the cluster's Proxmox API. The token secret is resolved here and lives only
/// inside the client's (sensitive) header. `accept_invalid_certs` is the user's explicit
/// `--insecure-accept-invalid-certs`; otherwise the CA file, else the pinned fingerprint,
/// else the system roots decide.
pub fn client_for(
    cluster: &Cluster,
    accept_invalid_certs: bool,
    timeout: Duration,
    attempts: u32,
) -> anyhow::Result<Client> {
    let px = proxmox_of(cluster)?;
    let secret =
        px.token_secret.resolve(&cluster.base_dir()).map_err(|e| anyhow::anyhow!("proxmox.token_secret: {e}"))?;
    let trust = if accept_invalid_certs {
        Trust::AcceptInvalidCerts
    } else if let Some(ca) = &px.ca_file {
        Trust::CaFile(crate::remote::target::expand(ca, &cluster.base_dir()))
    } else if let Some(fp) = &px.fingerprint {
        Trust::Fingerprint(fp.clone())
    } else {
        Trust::SystemRoots
    };
    let opts = ClientOptions {
        trust,
        timeout,
        connect_timeout: timeout.min(Duration::from_secs(10)),
        attempts,
        ..Default::default()
    };
    Ok(Client::new(&px.api_url, &px.token_id, &secret, opts)?)
}

pub fn proxmox_of(cluster: &Cluster) -> anyhow::Result<&Proxmox> {
    cluster.proxmox.as_ref().ok_or_else(|| {
        anyhow::anyhow!("{} has no `proxmox:` section: add one to provision VMs", cluster.source.display())
    })
}

/// A host's VM as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VmState {
    pub vmid: u32,
    pub node: String,
    /// Proxmox's word: running, stopped, paused, ...
    pub status: String,
}

/// The VM state of every Proxmox-backed host (by VM name = host name), in one API call,
/// tried once: status must answer within its timeout. Hosts without a VM are not in the map.
pub async fn vm_states(cluster: &Cluster, timeout: Duration) -> anyhow::Result<HashMap<String, VmState>> {
    let client = client_for(cluster, false, timeout, 1)?;
    let all = provision::resources(&client).await?;
    let mut out = HashMap::new();
    for host in cluster.hosts.iter().filter(|h| h.vm.is_some()) {
        let vm = all.iter().find(|r| !r.template && r.name == host.name);
        if let Some(vm) = vm {
            out.insert(host.name.clone(), VmState { vmid: vm.vmid, node: vm.node.clone(), status: vm.status.clone() });
        }
    }
    Ok(out)
}
