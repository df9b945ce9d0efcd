//! What each Proxmox-backed host's VM should be, from the inventory, and how an existing VM's
//! configuration differs from it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::inventory::model::{Cluster, Host, Proxmox};

/// The VM of one host, as the inventory describes it.
#[derive(Debug, Clone, Serialize)]
pub struct VmSpec {
    pub host: String,
    /// The VM's name in Proxmox: the host's name.
    pub name: String,
    pub vmid: Option<u32>,
    /// The cloud-init template it is cloned from: its release's (`os:`).
    pub template_vmid: u32,
    pub node: String,
    pub cores: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
    pub address: IpAddr,
    pub ssh_port: u16,
    pub ipconfig0: String,
    pub nameserver: Option<String>,
    pub searchdomain: String,
    pub ciuser: String,
    /// Public keys, one per line, as the admin machine has them.
    #[serde(skip)]
    pub sshkeys: String,
    pub tags: Vec<String>,
    pub bridge: String,
}

/// One way an existing VM is not what the inventory says.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub inventory: String,
    pub proxmox: String,
}

/// The specs of every host with a `vm:` block; the public keys are read here, so a missing
/// key file is an error before anything is created.
pub fn specs(cluster: &Cluster) -> Result<Vec<VmSpec>, String> {
    let Some(px) = &cluster.proxmox else {
        return Err(format!("{}: the inventory has no `proxmox:` section", cluster.source.display()));
    };
    let keys = public_keys(cluster, px)?;
    Ok(cluster.hosts.iter().filter(|h| h.vm.is_some()).map(|h| spec(h, px, &keys)).collect())
}

fn spec(host: &Host, px: &Proxmox, keys: &str) -> VmSpec {
    let vm = host.vm.clone().expect("hosts without a vm block are filtered out");
    let mut ipconfig0 = format!("ip={}/{}", host.address, px.prefix_len);
    if let Some(gw) = px.gateway {
        ipconfig0 += &format!(",gw={gw}");
    }
    VmSpec {
        host: host.name.clone(),
        name: host.name.clone(),
        vmid: vm.vmid,
        template_vmid: px.template_for(host.os),
        node: px.node.clone(),
        cores: vm.cores,
        memory_mb: vm.memory_mb,
        disk_gb: vm.disk_gb,
        address: host.address,
        ssh_port: host.ssh.port.unwrap_or(22),
        ipconfig0,
        nameserver: px.nameserver.map(|n| n.to_string()),
        searchdomain: host.fqdn.split_once('.').map(|(_, d)| d.to_string()).unwrap_or_default(),
        ciuser: px.ci_user.clone(),
        sshkeys: keys.to_string(),
        tags: px.tags.iter().map(|t| t.to_ascii_lowercase()).collect(),
        bridge: px.bridge.clone(),
    }
}

fn public_keys(cluster: &Cluster, px: &Proxmox) -> Result<String, String> {
    let mut lines = Vec::new();
    for path in &px.ssh_public_keys {
        let full = crate::remote::target::expand(path, &cluster.base_dir());
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("proxmox.ssh_public_keys: reading {}: {e}", full.display()))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if line.contains("PRIVATE KEY") {
                return Err(format!(
                    "proxmox.ssh_public_keys: {} is a private key; give the .pub file",
                    full.display()
                ));
            }
            lines.push(line.to_string());
        }
    }
    Ok(lines.join("\n"))
}

/// Marks in the VM's notes: a clone mailctl has not finished configuring, and a finished one.
pub fn marker_in_progress(cluster: &str, host: &str) -> String {
    format!("mailctl: provisioning (cluster {cluster}, host {host})")
}

pub fn marker_done(cluster: &str, host: &str) -> String {
    format!("mailctl: provisioned (cluster {cluster}, host {host})")
}

pub fn is_in_progress(config: &Value) -> bool {
    description(config).starts_with("mailctl: provisioning")
}

/// Whether the VM carries mailctl's marker (in progress or done) for this cluster and host.
pub fn is_ours(config: &Value, cluster: &str, host: &str) -> bool {
    let d = description(config);
    d.starts_with(&marker_in_progress(cluster, host)) || d.starts_with(&marker_done(cluster, host))
}

/// The VM's notes, first line, for messages (`(no notes)` when empty).
pub fn description(config: &Value) -> String {
    let first = config["description"].as_str().and_then(|d| d.lines().next()).unwrap_or("").trim();
    if first.is_empty() { "(no notes)".to_string() } else { crate::escape::line(first) }
}

impl VmSpec {
    /// The settings `POST /nodes/{node}/qemu/{vmid}/config` gets after the clone.
    /// `net0` keeps the clone's MAC address and model, on the inventory's bridge.
    pub fn config_params(&self, current: &Value) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("cores", self.cores.to_string()),
            ("memory", self.memory_mb.to_string()),
            ("ciuser", self.ciuser.clone()),
            ("ipconfig0", self.ipconfig0.clone()),
            ("searchdomain", self.searchdomain.clone()),
            ("onboot", "1".to_string()),
        ];
        if !self.sshkeys.is_empty() {
            params.push(("sshkeys", encode_sshkeys(&self.sshkeys)));
        }
        if let Some(ns) = &self.nameserver {
            params.push(("nameserver", ns.clone()));
        }
        if !self.tags.is_empty() {
            params.push(("tags", self.tags.join(";")));
        }
        if let Some(net0) = current["net0"].as_str()
            && property(net0, "bridge") != Some(self.bridge.as_str())
        {
            params.push(("net0", with_property(net0, "bridge", &self.bridge)));
        }
        params
    }

    /// Where an existing VM's config and power state part from the inventory.
    pub fn differences(&self, vmid: u32, config: &Value, status: &str) -> Vec<Difference> {
        let mut out = Vec::new();
        let mut differ = |field: &str, inventory: String, proxmox: String| {
            if inventory != proxmox {
                out.push(Difference { field: field.into(), inventory, proxmox });
            }
        };
        if let Some(pinned) = self.vmid {
            differ("vmid", pinned.to_string(), vmid.to_string());
        }
        differ("cores", self.cores.to_string(), text(&config["cores"]).unwrap_or_else(|| "1".into()));
        let memory = text(&config["memory"]).map(|m| m.trim_start_matches("current=").to_string());
        differ("memory", self.memory_mb.to_string(), memory.unwrap_or_else(|| "512".into()));
        differ("ciuser", self.ciuser.clone(), text(&config["ciuser"]).unwrap_or_default());
        differ(
            "ipconfig0",
            sorted_parts(&self.ipconfig0),
            sorted_parts(&text(&config["ipconfig0"]).unwrap_or_default()),
        );
        differ(
            "nameserver",
            self.nameserver.clone().unwrap_or_default(),
            text(&config["nameserver"]).unwrap_or_default(),
        );
        differ("searchdomain", self.searchdomain.clone(), text(&config["searchdomain"]).unwrap_or_default());
        let keys = text(&config["sshkeys"]).map(|k| decode_sshkeys(&k)).unwrap_or_default();
        differ("sshkeys", key_set(&self.sshkeys), key_set(&keys));
        let tags: BTreeSet<String> = text(&config["tags"])
            .unwrap_or_default()
            .split([';', ',', ' '])
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        differ(
            "tags",
            self.tags.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(";"),
            tags.into_iter().collect::<Vec<_>>().join(";"),
        );
        if let Some(net0) = text(&config["net0"]) {
            differ("bridge", self.bridge.clone(), property(&net0, "bridge").unwrap_or_default().to_string());
        }
        if let Some((disk, size)) = boot_disk(config) {
            // A bigger disk than asked is fine: disks only grow.
            if size < self.disk_gb as f64 {
                differ(&format!("{disk} size"), format!("{}G", self.disk_gb), format!("{size}G"));
            }
        }
        differ("status", "running".into(), status.to_string());
        out
    }
}

/// `sshkeys` as Proxmox wants it: percent-encoded with `%20` for spaces (never `+`), which
/// the form body then encodes a second time.
pub fn encode_sshkeys(keys: &str) -> String {
    urlencoding::encode(keys).into_owned()
}

pub fn decode_sshkeys(stored: &str) -> String {
    urlencoding::decode(stored).map(|s| s.into_owned()).unwrap_or_else(|_| stored.to_string())
}

fn key_set(keys: &str) -> String {
    let set: BTreeSet<&str> = keys.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    set.into_iter().collect::<Vec<_>>().join("\n")
}

fn sorted_parts(s: &str) -> String {
    let set: BTreeSet<&str> = s.split(',').filter(|p| !p.is_empty()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `key=value` from a property string such as `virtio=BC:24:11:00:00:01,bridge=vmbr0`.
pub fn property<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.split(',').find_map(|p| p.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

fn with_property(s: &str, key: &str, value: &str) -> String {
    let mut parts: Vec<String> =
        s.split(',').filter(|p| p.split_once('=').is_none_or(|(k, _)| k != key)).map(String::from).collect();
    parts.push(format!("{key}={value}"));
    parts.join(",")
}

/// The disk the VM boots from and its size in GiB: the first disk of `boot: order=`, else
/// the first of scsi0/virtio0/sata0/ide0 that is not a CD-ROM.
pub fn boot_disk(config: &Value) -> Option<(String, f64)> {
    let is_disk = |key: &str| -> Option<f64> {
        let value = config[key].as_str()?;
        if value.contains("media=cdrom") || value.contains("cloudinit") {
            return None;
        }
        property(value, "size").and_then(size_gib)
    };
    let ordered = config["boot"].as_str().and_then(|b| property(b, "order")).unwrap_or("");
    ordered
        .split(';')
        .chain(["scsi0", "virtio0", "sata0", "ide0"])
        .find_map(|key| is_disk(key).map(|size| (key.to_string(), size)))
}

fn size_gib(size: &str) -> Option<f64> {
    let (number, unit) = size.split_at(size.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(size.len()));
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "T" => n * 1024.0,
        "G" => n,
        "M" => n / 1024.0,
        "K" => n / (1024.0 * 1024.0),
        _ => n / (1024.0 * 1024.0 * 1024.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_host_is_cloned_from_its_releases_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/inventories/lvlogistics.yaml");
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("  template_vmid: 9000\n", "  template_vmid: 9000\n  templates: { debian-13: 9013 }\n");
        let text = text.replacen("{ name: gsmta2,", "{ os: debian-13, name: gsmta2,", 1);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lv.yaml"), &text).unwrap();
        let loaded = crate::inventory::load(&dir.path().join("lv.yaml"));
        let cluster = loaded.unwrap_or_else(|e| panic!("{e}")).cluster;
        let px = cluster.proxmox.as_ref().unwrap();
        let template = |host: &str| px.template_for(cluster.host(host).unwrap().os);
        assert_eq!((template("gsmta1"), template("gsmta2")), (9000, 9013));
    }

    #[test]
    fn sshkeys_are_percent_encoded_with_percent_20() {
        let keys = "ssh-ed25519 AAAAC3Nz+ab/c= admin@host\nssh-rsa AAAB3= x";
        let encoded = encode_sshkeys(keys);
        assert_eq!(encoded, "ssh-ed25519%20AAAAC3Nz%2Bab%2Fc%3D%20admin%40host%0Assh-rsa%20AAAB3%3D%20x");
        // Proxmox's check of the `urlencoded` format.
        assert!(encoded.chars().all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c)));
        assert_eq!(decode_sshkeys(&encoded), keys);
    }

    #[test]
    fn boot_disk_follows_the_boot_order() {
        let config = json!({"boot": "order=virtio0;ide2;net0", "virtio0": "local-lvm:vm-181-disk-0,size=8G",
                            "scsi0": "local-lvm:vm-181-disk-1,size=100G", "ide2": "local-lvm:vm-181-cloudinit,media=cdrom"});
        assert_eq!(boot_disk(&config), Some(("virtio0".into(), 8.0)));
        let config = json!({"ide2": "none,media=cdrom", "scsi0": "local:181/vm-181-disk-0.qcow2,size=2252M"});
        assert_eq!(boot_disk(&config).map(|(d, s)| (d, (s * 100.0).round() / 100.0)), Some(("scsi0".into(), 2.2)));
    }

    #[test]
    fn net0_keeps_its_mac_on_the_inventory_bridge() {
        assert_eq!(
            with_property("virtio=BC:24:11:00:00:01,bridge=vmbr1,firewall=1", "bridge", "vmbr0"),
            "virtio=BC:24:11:00:00:01,firewall=1,bridge=vmbr0"
        );
        assert_eq!(property("virtio=BC:24:11:00:00:01,bridge=vmbr1", "bridge"), Some("vmbr1"));
    }
}
