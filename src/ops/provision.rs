//! `provision`: which VMs a run works on, and the options from the inventory's `proxmox:`
//! section. The work itself is `proxmox::provision::Provisioner`.

use std::path::Path;
use std::time::Duration;

use crate::inventory::model::Cluster;
use crate::proxmox::provision::ProvisionOptions;
use crate::proxmox::{self, spec::VmSpec};

/// Every VM of the inventory, or those of the `wanted` hosts; an unknown host, a host that is
/// no VM, or nothing to do is an error saying so.
pub fn select(cluster: &Cluster, inventory: &Path, wanted: &[String]) -> Result<Vec<VmSpec>, String> {
    proxmox::proxmox_of(cluster).map_err(|e| e.to_string())?;
    let mut specs = proxmox::spec::specs(cluster)?;
    for name in wanted {
        match cluster.host(name) {
            None => return Err(format!("{name}: no such host in {}", inventory.display())),
            Some(h) if h.vm.is_none() => return Err(format!("{name} is not a Proxmox VM of this inventory")),
            Some(_) => {}
        }
    }
    if !wanted.is_empty() {
        specs.retain(|s| wanted.contains(&s.host));
    }
    if specs.is_empty() {
        return Err(format!("{} names no Proxmox VM", inventory.display()));
    }
    Ok(specs)
}

/// What a run does, from the inventory and the command's flags.
pub fn options(
    cluster: &Cluster,
    check: bool,
    task_timeout: Duration,
    ssh_wait: Option<Duration>,
    forks: usize,
) -> anyhow::Result<ProvisionOptions> {
    let px = proxmox::proxmox_of(cluster)?;
    Ok(ProvisionOptions {
        check,
        cluster: cluster.name.clone(),
        template_vmid: px.template_vmid,
        full_clone: px.full_clone,
        storage: px.storage.clone(),
        task_timeout,
        ssh_wait,
        forks: forks.max(1),
    })
}
