//! The validated cluster: what every other module works from. Built only by `validate`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

pub use super::schema::Role;
use super::secret::SecretRef;
pub use crate::release::Os;

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// The inventory file this came from; relative `file:` references start at its directory.
    pub source: PathBuf,
    pub name: String,
    pub domains: Vec<String>,
    pub timezone: String,
    pub ntp_servers: Vec<String>,
    /// The name mail clients use (IMAP, POP3, SMTP submission, webmail).
    pub public_name: String,
    pub ldap_suffix: String,
    /// Bytes (0: unlimited) for an account with no class or quota of its own; None: no quota.
    pub quota: Option<u64>,
    pub classes: Vec<ClassOfService>,
    pub message_size_mb: u32,
    /// The release hosts run unless they say otherwise (debian-12 when the inventory is silent).
    pub os: Os,
    pub hosts: Vec<Host>,
    pub accounts: Vec<Account>,
    pub rate_limit: Option<RateLimit>,
    pub filter: Option<Filter>,
    pub vips: Vec<Vip>,
    pub pairs: Vec<Pair>,
    pub nat: Option<Nat>,
    pub tls: Tls,
    pub proxmox: Option<Proxmox>,
    pub lab: Option<Lab>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub address: IpAddr,
    pub fqdn: String,
    pub roles: BTreeSet<Role>,
    pub capacity: Option<u32>,
    /// The Debian release this host runs: which dialect its files are rendered in.
    pub os: Os,
    pub ssh: SshSettings,
    /// Set on an LDAP replica: the provider it copies from.
    pub ldap_replica_of: Option<String>,
    pub mta: MtaSettings,
    pub proxy: ProxySettings,
    pub vm: Option<Vm>,
}

impl Host {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The short name of the FQDN (`mbox-1` for `mbox-1.tgg.net.id`).
    pub fn short_name(&self) -> &str {
        self.fqdn.split('.').next().unwrap_or(&self.fqdn)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SshSettings {
    /// None: from ~/.ssh/config, else root.
    pub user: Option<String>,
    /// None: from ~/.ssh/config, else 22.
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub jump: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MtaSettings {
    pub mx: bool,
    pub mx_priority: u16,
    pub submission: bool,
    pub relay_networks: Vec<IpNet>,
    pub purpose: Option<String>,
    /// ClamAV scans this MTA's mail (only where the inventory has a `filter:`).
    pub clamav: bool,
}

impl Default for MtaSettings {
    fn default() -> Self {
        MtaSettings {
            mx: true,
            mx_priority: 10,
            submission: true,
            relay_networks: Vec::new(),
            purpose: None,
            clamav: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProxySettings {
    pub haproxy: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Vm {
    pub vmid: Option<u32>,
    pub cores: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub address: String,
    pub local_part: String,
    pub domain: String,
    pub name: Option<String>,
    /// The mailbox host the inventory pins this account to.
    pub mailbox: Option<String>,
    pub password: Option<SecretRef>,
    pub class: Option<String>,
    /// Bytes (0: unlimited).
    pub quota: Option<u64>,
}

/// A named quota and limits accounts reference (`classes_of_service` in the inventory).
#[derive(Debug, Clone, Serialize)]
pub struct ClassOfService {
    pub name: String,
    /// Bytes (0: unlimited); None: the cluster's.
    pub quota: Option<u64>,
    /// Most messages a mailbox holds; None: no limit.
    pub messages: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimit {
    pub default: Option<Limit>,
    pub senders: Vec<SenderLimit>,
    pub bypass: Vec<String>,
    pub internal_domains: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Limit {
    pub messages: u32,
    #[serde(serialize_with = "as_seconds")]
    pub period: Duration,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Rspamd on every MTA: scores, sender lists, DKIM signing; and the DMARC the zones publish.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    pub reject_score: f64,
    pub add_header_score: f64,
    pub greylist: bool,
    /// Lower-cased senders: `user@domain` addresses, or bare domains.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub dmarc_policy: String,
    /// None: postmaster@ each domain.
    pub dmarc_report: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SenderLimit {
    pub sender: String,
    pub limit: Limit,
}

#[derive(Debug, Clone, Serialize)]
pub struct Vip {
    pub address: IpAddr,
    pub prefix_len: u8,
    pub hosts: Vec<String>,
    pub interface: String,
    pub router_id: u8,
    pub preempt_delay: Option<u32>,
}

/// Two mailbox hosts replicating each other's accounts (docs/pairs.md).
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub hosts: [String; 2],
    /// Where each host's accounts are reached, in the order of `hosts`.
    pub addresses: [IpAddr; 2],
    pub prefix_len: u8,
    pub interface: String,
    /// VRRP id of the first host's address; the second's is the next.
    pub router_id: u8,
    /// The partner takes over by itself (else only `mailctl failover`).
    pub automatic: bool,
    /// An address besides the cluster's hosts that counts toward the majority.
    pub witness: Option<IpAddr>,
}

impl Pair {
    /// The other member of the pair.
    pub fn partner_of(&self, host: &str) -> Option<&str> {
        match self.hosts.iter().position(|h| h == host)? {
            0 => Some(&self.hosts[1]),
            _ => Some(&self.hosts[0]),
        }
    }

    /// Where `host`'s accounts are reached.
    pub fn address_of(&self, host: &str) -> Option<IpAddr> {
        Some(self.addresses[self.hosts.iter().position(|h| h == host)?])
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Nat {
    pub public_address: IpAddr,
    pub forwards: Vec<NatForward>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NatForward {
    pub ports: Vec<u16>,
    pub host: String,
}

#[derive(Debug, Clone, Serialize)]
pub enum Tls {
    /// A cluster CA generated once and kept in the state file; a certificate per host.
    GenerateCa,
    /// One certificate chain and key, installed on every host that serves TLS.
    Files { certificate: PathBuf, key: SecretRef },
}

#[derive(Debug, Clone, Serialize)]
pub struct Proxmox {
    pub api_url: String,
    pub node: String,
    pub token_id: String,
    pub token_secret: SecretRef,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<String>,
    pub template_vmid: u32,
    /// Per release, where it differs from `template_vmid`.
    pub templates: std::collections::BTreeMap<Os, u32>,
    pub full_clone: bool,
    pub storage: Option<String>,
    pub bridge: String,
    pub gateway: Option<IpAddr>,
    pub prefix_len: u8,
    pub nameserver: Option<IpAddr>,
    pub ci_user: String,
    pub ssh_public_keys: Vec<PathBuf>,
    pub tags: Vec<String>,
}

impl Proxmox {
    /// The cloud-init template a host of this release is cloned from.
    pub fn template_for(&self, os: Os) -> u32 {
        self.templates.get(&os).copied().unwrap_or(self.template_vmid)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lab {
    pub subnet: IpNet,
    pub bridge: String,
}

impl Cluster {
    pub fn class(&self, name: &str) -> Option<&ClassOfService> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// The LDAP host writes go to: the provider, never a replica. Validation makes sure
    /// there is exactly one.
    pub fn ldap_provider(&self) -> Option<&Host> {
        self.hosts_with(Role::Ldap).find(|h| h.ldap_replica_of.is_none())
    }

    /// The host whose FQDN is `fqdn` (mailHost values are FQDNs).
    pub fn host_by_fqdn(&self, fqdn: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.fqdn.eq_ignore_ascii_case(fqdn))
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The pair `host` belongs to, if any.
    pub fn pair_of(&self, host: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.hosts.iter().any(|h| h == host))
    }

    /// The other member of `host`'s mailbox pair, if it is paired.
    pub fn partner_of(&self, host: &str) -> Option<&Host> {
        self.host(self.pair_of(host)?.partner_of(host)?)
    }

    /// Where a mailbox host's accounts are reached: its pair address, else its own.
    pub fn mailbox_address(&self, host: &Host) -> IpAddr {
        self.pair_of(&host.name).and_then(|p| p.address_of(&host.name)).unwrap_or(host.address)
    }

    pub fn hosts_with(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| h.has(role))
    }

    /// The directory relative paths in the inventory start from.
    pub fn base_dir(&self) -> PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}
