//! Lab twins: any inventory rewritten to run on the lab, so an admin can rehearse their own
//! cluster before touching it. The twin keeps the hosts, roles, names and everything else of
//! the original; only what cannot work on this machine changes:
//! - addresses in the hosts' /24 networks move onto the lab's /24, keeping their last octet
//!   (10.20.0.31 becomes 10.95.0.31), wherever they appear: hosts, VIPs, relay networks,
//!   comments. Addresses outside those networks (an application subnet, the NAT's public
//!   address, NTP servers) are kept;
//! - `env:` secrets become throwaway passwords in files beside the twin;
//! - `ssh:` is the lab's key and known_hosts, and a `lab:` section is added.
//!
//! `vm:` and `proxmox:` stay as a record of the real cluster: in an inventory with `lab:`,
//! status does not ask Proxmox and `provision` refuses.
//!
//! The twin is text rewritten from the original, so its comments and layout survive, and it
//! is written only once it loads as a valid inventory.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::inventory::{self, Cluster};

/// What to call the twin and where to put it on the lab.
#[derive(Debug, Clone)]
pub struct TwinOptions {
    /// The twin's cluster name (and so its lab directory and namespaces); default: the original's.
    pub name: Option<String>,
    /// A /24 for the lab hosts; default: one derived from the cluster name.
    pub subnet: Option<Ipv4Net>,
    /// The lab bridge; default: one derived from the cluster name.
    pub bridge: Option<String>,
}

/// A written twin.
#[derive(Debug, serde::Serialize)]
pub struct Twin {
    pub inventory: PathBuf,
    pub credentials: PathBuf,
    pub name: String,
    pub subnet: Ipv4Net,
    pub bridge: String,
    /// Original address to lab address, for the hosts and VIPs.
    pub addresses: BTreeMap<String, String>,
    /// Secrets that were `env:` references and now are throwaway files.
    pub secrets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    #[error("{0}")]
    Inventory(#[from] inventory::InventoryError),
    #[error("{0} already has a `lab:` section: it is a lab inventory, run `mailctl lab up` on it")]
    AlreadyLab(PathBuf),
    #[error("the lab subnet must be a /24 (got {0}): twins keep each address's last octet")]
    SubnetNot24(Ipv4Net),
    #[error("host {0} has an IPv6 address: twins remap IPv4 inventories only")]
    Ipv6(String),
    #[error("{what} would land on {address}, {why}")]
    Clash { what: String, address: Ipv4Addr, why: String },
    #[error("{0}: could not rename the cluster: write `name:` on a line of its own under `cluster:`")]
    NotRenamed(PathBuf),
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("the twin does not load (check --name and --bridge; otherwise it is a bug in `lab twin`):\n{0}")]
    Invalid(inventory::InventoryError),
}

/// The twin's inventory path for an original: beside it, so relative `file:` references
/// (a TLS certificate, a secret) still resolve.
pub fn twin_path(original: &Path) -> PathBuf {
    let stem = original.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "inventory".into());
    original.with_file_name(format!("{stem}.twin.yaml"))
}

fn credentials_dir_name(twin: &Path) -> String {
    let stem = twin.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{stem}-credentials")
}

/// Writes the twin of the inventory at `original` and its throwaway secrets. Secrets already
/// written by an earlier run are kept, so a re-made twin still matches its deployed lab.
pub fn make(original: &Path, opts: &TwinOptions) -> Result<Twin, TwinError> {
    let cluster = inventory::load(original)?.cluster;
    if cluster.lab.is_some() {
        return Err(TwinError::AlreadyLab(original.to_path_buf()));
    }
    let text = std::fs::read_to_string(original).map_err(|cause| TwinError::Io { path: original.into(), cause })?;
    let name = opts.name.clone().unwrap_or_else(|| cluster.name.clone());
    let path = twin_path(original);
    let earlier = earlier_lab(&path);
    let subnet = opts.subnet.or(earlier.as_ref().map(|e| e.0)).unwrap_or_else(|| free_subnet(&name));
    if subnet.prefix_len() != 24 {
        return Err(TwinError::SubnetNot24(subnet));
    }
    let subnet = subnet.trunc();
    let bridge = opts.bridge.clone().or(earlier.map(|e| e.1)).unwrap_or_else(|| default_bridge(&name));
    let map = AddressMap::new(&cluster, subnet)?;

    let creds_name = credentials_dir_name(&path);
    let creds_dir = path.with_file_name(&creds_name);
    let mut secrets = Vec::new();
    let mut twin = map.rewrite(&text);
    twin = rewrite_env_secrets(&twin, &creds_name, &mut secrets);
    twin = rename_cluster(&twin, &cluster.name, &name);
    twin = drop_top_level(&twin, "ssh");
    let lab_paths = super::LabPaths::for_name(&name);
    twin = format!(
        "# Lab twin of {original} made by `mailctl lab twin`: the same hosts, roles and names\n\
         # on lab addresses, throwaway secrets in {creds_name}/.\n\
         # Re-make it after editing the original rather than editing it.\n{twin}{sep}\n\
         lab:\n  subnet: {subnet}\n  bridge: {bridge}\n\n\
         ssh:\n  user: root\n  identity_file: {key}\n  known_hosts: {known}\n",
        original = original.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        sep = if twin.ends_with('\n') { "" } else { "\n" },
        key = lab_paths.key().display(),
        known = lab_paths.known_hosts().display(),
    );

    let loaded = inventory::parse(&twin, &path).map_err(TwinError::Invalid)?;
    if loaded.cluster.name != name {
        return Err(TwinError::NotRenamed(original.to_path_buf()));
    }
    write_secrets(&creds_dir, &secrets)?;
    write_file(&path, &twin, 0o644)?;
    Ok(Twin {
        inventory: path,
        credentials: creds_dir,
        name,
        subnet,
        bridge,
        addresses: map.listed.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        secrets,
    })
}

/// A stable hash of the name, so a twin's default subnet and bridge are the same every time.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// The subnet and bridge of a twin made before, so re-making it keeps its lab where it is.
fn earlier_lab(twin: &Path) -> Option<(Ipv4Net, String)> {
    let lab = inventory::load(twin).ok()?.cluster.lab?;
    match lab.subnet {
        ipnet::IpNet::V4(net) => Some((net, lab.bridge)),
        ipnet::IpNet::V6(_) => None,
    }
}

/// One of 10.100.0.0/24 to 10.199.0.0/24 (away from the 10.9x.0.0 the tests' labs use),
/// starting from one derived from the name and skipping those this machine already uses.
fn free_subnet(name: &str) -> Ipv4Net {
    let used = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = name_hash(name) % 100;
    let candidates = (0..100).map(|i| {
        let second = 100 + ((start + i) % 100) as u8;
        Ipv4Net::new(Ipv4Addr::new(10, second, 0, 0), 24).expect("valid prefix")
    });
    let mut fallback = None;
    for net in candidates {
        fallback.get_or_insert(net);
        let prefix =
            format!(" {}.", net.network().octets()[..3].iter().map(u8::to_string).collect::<Vec<_>>().join("."));
        if !used.contains(&prefix) {
            return net;
        }
    }
    fallback.expect("100 candidates")
}

fn default_bridge(name: &str) -> String {
    format!("mctw{:04x}", name_hash(name) & 0xffff)
}

/// Original /24 networks of the hosts onto the lab's /24.
struct AddressMap {
    from: Vec<Ipv4Net>,
    to: Ipv4Net,
    /// Host and VIP addresses and where they land, for the report.
    listed: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl AddressMap {
    fn new(cluster: &Cluster, to: Ipv4Net) -> Result<AddressMap, TwinError> {
        let mut from: Vec<Ipv4Net> = Vec::new();
        let mut named: Vec<(String, Ipv4Addr)> = Vec::new();
        for h in &cluster.hosts {
            let std::net::IpAddr::V4(a) = h.address else { return Err(TwinError::Ipv6(h.name.clone())) };
            let net = Ipv4Net::new(a, 24).expect("valid prefix").trunc();
            if !from.contains(&net) {
                from.push(net);
            }
            named.push((format!("host {}", h.name), a));
        }
        for v in &cluster.vips {
            if let std::net::IpAddr::V4(a) = v.address {
                named.push((format!("VIP {a}"), a));
            }
        }
        let mut map = AddressMap { from, to, listed: BTreeMap::new() };
        let gateway = to.hosts().next().expect("a /24 has hosts");
        let mut taken: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        for (what, a) in named {
            let Some(b) = map.map(a) else { continue };
            if b == gateway {
                return Err(TwinError::Clash {
                    what,
                    address: b,
                    why: "the lab bridge's own address: give it another last octet in the original".into(),
                });
            }
            if let Some(other) = taken.insert(b, what.clone())
                && map.listed.get(&a) != Some(&b)
            {
                return Err(TwinError::Clash {
                    what,
                    address: b,
                    why: format!("as {other} does: their networks share last octets"),
                });
            }
            map.listed.insert(a, b);
        }
        Ok(map)
    }

    fn map(&self, a: Ipv4Addr) -> Option<Ipv4Addr> {
        self.from.iter().any(|n| n.contains(&a)).then(|| {
            let o = self.to.network().octets();
            Ipv4Addr::new(o[0], o[1], o[2], a.octets()[3])
        })
    }

    /// Every dotted quad in the text that lies in a mapped network, replaced.
    fn rewrite(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
            let (before, from_digit) = rest.split_at(start);
            out.push_str(before);
            let mut len = from_digit.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(from_digit.len());
            // A sentence's full stop is not part of the address before it.
            while from_digit[..len].ends_with('.') {
                len -= 1;
            }
            let token = &from_digit[..len];
            let glued = before.chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            match token.parse::<Ipv4Addr>().ok().filter(|_| !glued).and_then(|a| self.map(a)) {
                Some(b) => out.push_str(&b.to_string()),
                None => out.push_str(token),
            }
            rest = &from_digit[len..];
        }
        out.push_str(rest);
        out
    }
}

/// `env:NAME` references become `file:<dir>/<name>.pw`; the names are collected.
fn rewrite_env_secrets(text: &str, creds_dir: &str, names: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("env:") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let name_len = from[4..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(from.len() - 4);
        let name = &from[4..4 + name_len];
        let at_word_start = !before.chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if at_word_start && !name.is_empty() {
            let file = name.to_ascii_lowercase();
            if !names.contains(&file) {
                names.push(file.clone());
            }
            out.push_str(&format!("file:{creds_dir}/{file}.pw"));
        } else {
            out.push_str(&from[..4 + name_len]);
        }
        rest = &from[4 + name_len..];
    }
    out.push_str(rest);
    out
}

/// The first `name:` line of the `cluster:` section, renamed.
fn rename_cluster(text: &str, old: &str, new: &str) -> String {
    if old == new {
        return text.to_string();
    }
    let mut in_cluster = false;
    let mut done = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if is_top_level_key(line) {
            in_cluster = line.starts_with("cluster:");
        }
        let trimmed = line.trim_start();
        if in_cluster && !done && line.starts_with(' ') && trimmed.starts_with("name:") {
            let indent = &line[..line.len() - trimmed.len()];
            let value = trimmed["name:".len()..].split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
            if value == old {
                out.push_str(&format!("{indent}name: {new}\n"));
                done = true;
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

fn is_top_level_key(line: &str) -> bool {
    line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && line.contains(':')
}

/// A top-level section removed with its indented body (the twin writes its own).
fn drop_top_level(text: &str, key: &str) -> String {
    let mut skipping = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if is_top_level_key(line) || line.starts_with('#') {
            skipping = line.starts_with(&format!("{key}:"));
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out
}

fn write_secrets(dir: &Path, names: &[String]) -> Result<(), TwinError> {
    use std::os::unix::fs::PermissionsExt;
    if names.is_empty() {
        return Ok(());
    }
    let io = |cause| TwinError::Io { path: dir.to_path_buf(), cause };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    for name in names {
        let file = dir.join(format!("{name}.pw"));
        if !file.exists() {
            write_file(&file, &(crate::state::random_token(20) + "\n"), 0o600)?;
        }
    }
    Ok(())
}

/// Written whole or not at all: through a temporary file renamed into place.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), TwinError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let io = |cause| TwinError::Io { path: path.to_path_buf(), cause };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(from: &str, to: &str) -> AddressMap {
        AddressMap { from: vec![from.parse().unwrap()], to: to.parse().unwrap(), listed: BTreeMap::new() }
    }

    #[test]
    fn addresses_in_the_hosts_network_move_and_others_stay() {
        let m = map("10.20.0.0/24", "10.95.0.0/24");
        let text = "address: 10.20.0.31\nvip: 10.20.0.40/24\nrelay: [10.20.10.0/24, 10.20.0.50/32]\n\
                    public: 198.51.100.40 # was 10.20.0.41.\nversion: 110.20.0.3\nid: x10.20.0.3";
        assert_eq!(
            m.rewrite(text),
            "address: 10.95.0.31\nvip: 10.95.0.40/24\nrelay: [10.20.10.0/24, 10.95.0.50/32]\n\
             public: 198.51.100.40 # was 10.95.0.41.\nversion: 110.20.0.3\nid: x10.20.0.3"
        );
    }

    #[test]
    fn env_secrets_become_files_named_once() {
        let mut names = Vec::new();
        let out = rewrite_env_secrets(
            "a: \"env:LV_PW_ADMIN\"\nb: env:PVE_TOKEN_SECRET\nc: env:LV_PW_ADMIN\nd: noenv:X",
            "lv.twin-credentials",
            &mut names,
        );
        assert_eq!(
            out,
            "a: \"file:lv.twin-credentials/lv_pw_admin.pw\"\nb: file:lv.twin-credentials/pve_token_secret.pw\n\
             c: file:lv.twin-credentials/lv_pw_admin.pw\nd: noenv:X"
        );
        assert_eq!(names, ["lv_pw_admin", "pve_token_secret"]);
    }

    #[test]
    fn the_ssh_section_goes_and_the_rest_stays() {
        let text = "cluster:\n  name: a\n\nssh:\n  user: root\n  identity_file: ~/.ssh/k\n\n# hosts\nhosts: []\n";
        assert_eq!(drop_top_level(text, "ssh"), "cluster:\n  name: a\n\n# hosts\nhosts: []\n");
    }

    #[test]
    fn only_the_cluster_name_is_renamed() {
        let text = "hosts:\n  - name: tgg\ncluster:\n  # c\n  name: \"tgg\" # ISP\n  domains: [tgg]\n";
        assert_eq!(
            rename_cluster(text, "tgg", "tgg-rehearsal"),
            "hosts:\n  - name: tgg\ncluster:\n  # c\n  name: tgg-rehearsal\n  domains: [tgg]\n"
        );
    }

    #[test]
    fn defaults_are_stable_and_valid() {
        assert_eq!(default_bridge("excellent"), default_bridge("excellent"));
        assert!(default_bridge("a-very-long-cluster-name").len() <= 15);
        let s = free_subnet("tgg").network().octets();
        assert!((100..200).contains(&s[1]));
    }
}
