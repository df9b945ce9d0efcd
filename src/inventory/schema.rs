//! The inventory file as written by the admin: serde types only, no logic.
//!
//! Every struct denies unknown keys, so a typo is an error with its position rather than a
//! silently ignored setting. Values that semantic validation may complain about are wrapped in
//! `Spanned` so the complaint can name their line and column.

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub ssh: SshSpec,
    pub hosts: S<Vec<HostSpec>>,
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
    /// Named quotas and limits that accounts reference (`class:`), like Zimbra's COS.
    #[serde(default)]
    pub classes_of_service: Vec<ClassSpec>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// Spam and virus filtering on the MTAs, DKIM signing and the domains' SPF and DMARC.
    #[serde(default)]
    pub filter: Option<FilterSpec>,
    #[serde(default)]
    pub vips: Vec<VipSpec>,
    /// Mailbox hosts that replicate each other's accounts and take them over (docs/pairs.md).
    #[serde(default)]
    pub pairs: Vec<PairSpec>,
    #[serde(default)]
    pub nat: Option<NatSpec>,
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default)]
    pub proxmox: Option<ProxmoxSpec>,
    #[serde(default)]
    pub lab: Option<LabSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: S<String>,
    /// Mail domains served; the first one names the LDAP suffix unless `ldap_suffix` is set.
    pub domains: S<Vec<S<String>>>,
    #[serde(default = "default_timezone")]
    pub timezone: S<String>,
    #[serde(default)]
    pub ntp_servers: Vec<S<String>>,
    /// The name users put in their mail clients (e.g. mail.tgg.net.id).
    #[serde(default)]
    pub public_name: Option<S<String>>,
    #[serde(default)]
    pub ldap_suffix: Option<S<String>>,
    /// Mailbox quota of an account with no class or quota of its own, e.g. "2G"; none when
    /// absent.
    #[serde(default)]
    pub quota: Option<S<String>>,
    /// Largest message accepted, in megabytes.
    #[serde(default = "default_message_size_mb")]
    pub message_size_mb: S<u32>,
    /// The Debian release every host runs unless the host says otherwise.
    #[serde(default)]
    pub os: Option<S<crate::release::Os>>,
}

fn default_timezone() -> S<String> {
    Spanned {
        value: "UTC".to_string(),
        referenced: serde_saphyr::Location::UNKNOWN,
        defined: serde_saphyr::Location::UNKNOWN,
    }
}

fn default_message_size_mb() -> S<u32> {
    unplaced(50)
}

/// A default value, which has no place in the file.
fn unplaced<T>(value: T) -> S<T> {
    Spanned { value, referenced: serde_saphyr::Location::UNKNOWN, defined: serde_saphyr::Location::UNKNOWN }
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    pub user: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub identity_file: Option<S<String>>,
    pub known_hosts: Option<S<String>>,
    /// A bastion as `[user@]host[:port]`, or the name of an inventory host.
    pub jump: Option<S<String>>,
}

#[derive(Debug, Deserialize, serde::Serialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ldap,
    Mta,
    Mailbox,
    Proxy,
    Dns,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Ldap, Role::Mta, Role::Mailbox, Role::Proxy, Role::Dns];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ldap => "ldap",
            Role::Mta => "mta",
            Role::Mailbox => "mailbox",
            Role::Proxy => "proxy",
            Role::Dns => "dns",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: S<String>,
    pub address: S<String>,
    pub fqdn: S<String>,
    pub roles: S<Vec<S<Role>>>,
    /// How many accounts this mailbox host is meant to carry.
    #[serde(default)]
    pub capacity: Option<S<u32>>,
    /// This host's Debian release, where it differs from the cluster's (a host already upgraded).
    #[serde(default)]
    pub os: Option<S<crate::release::Os>>,
    #[serde(default)]
    pub ssh: Option<SshSpec>,
    #[serde(default)]
    pub ldap: Option<LdapHostSpec>,
    #[serde(default)]
    pub mta: Option<MtaHostSpec>,
    #[serde(default)]
    pub proxy: Option<ProxyHostSpec>,
    #[serde(default)]
    pub vm: Option<VmSpec>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LdapHostSpec {
    /// Makes this host a read-only syncrepl replica of the named LDAP host.
    pub replica_of: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtaHostSpec {
    /// Receives the domains' mail from the internet (named in MX records).
    #[serde(default = "yes")]
    pub mx: bool,
    #[serde(default = "default_mx_priority")]
    pub mx_priority: u16,
    /// Offers authenticated submission on 587 and 465.
    #[serde(default = "yes")]
    pub submission: bool,
    /// Networks allowed to relay without authentication (application servers, list servers).
    #[serde(default)]
    pub relay_networks: Vec<S<String>>,
    /// A free-form purpose shown in status and render output ("incoming", "lists", ...).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Scans mail for viruses with ClamAV (about 1.5 GB of memory with the full signatures).
    #[serde(default)]
    pub clamav: bool,
}

fn yes() -> bool {
    true
}

fn default_mx_priority() -> u16 {
    10
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProxyHostSpec {
    /// Puts HAProxy in front of the MTAs on this proxy (SMTP ports balanced over them).
    #[serde(default)]
    pub haproxy: bool,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    pub vmid: Option<S<u32>>,
    pub cores: Option<S<u32>>,
    pub memory_mb: Option<S<u32>>,
    pub disk_gb: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    pub address: S<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Pins the account to this mailbox host; otherwise placement chooses.
    #[serde(default)]
    pub mailbox: Option<S<String>>,
    #[serde(default)]
    pub password: Option<S<String>>,
    /// A class of service from `classes_of_service`.
    #[serde(default)]
    pub class: Option<S<String>>,
    /// The account's own quota, over its class's and the cluster's.
    #[serde(default)]
    pub quota: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: S<String>,
    /// Mailbox quota, e.g. "10G" or "unlimited"; the cluster's when absent.
    #[serde(default)]
    pub quota: Option<S<String>>,
    /// Most messages a mailbox may hold; no limit when absent.
    #[serde(default)]
    pub messages: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Applies to every authenticated sender without a rule of its own.
    #[serde(default)]
    pub default: Option<LimitSpec>,
    #[serde(default)]
    pub senders: Vec<SenderLimitSpec>,
    /// Senders never limited.
    #[serde(default)]
    pub bypass: Vec<S<String>>,
    /// Mail to these domains is never counted.
    #[serde(default)]
    pub internal_domains: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// Rspamd's score at which mail is refused at SMTP time.
    #[serde(default = "default_reject_score")]
    pub reject_score: S<f64>,
    /// The score from which mail is delivered with X-Spam headers (a client files it as spam).
    #[serde(default = "default_add_header_score")]
    pub add_header_score: S<f64>,
    /// Greylisting delays first mail from unknown senders; off unless asked.
    #[serde(default)]
    pub greylist: bool,
    /// Senders (address, or domain for all its addresses) whose mail is never scored as spam.
    #[serde(default)]
    pub allow: Vec<S<String>>,
    /// Senders whose mail is always refused.
    #[serde(default)]
    pub deny: Vec<S<String>>,
    #[serde(default)]
    pub dmarc: DmarcSpec,
}

fn default_reject_score() -> S<f64> {
    unplaced(15.0)
}

fn default_add_header_score() -> S<f64> {
    unplaced(6.0)
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DmarcSpec {
    /// none, quarantine (default) or reject.
    #[serde(default)]
    pub policy: Option<S<String>>,
    /// Where receivers send aggregate reports (rua); postmaster@ the domain when absent.
    #[serde(default)]
    pub report: Option<S<String>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    pub messages: S<u32>,
    /// A duration such as `1800s`, `30m` or `1h`.
    pub period: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderLimitSpec {
    pub sender: S<String>,
    pub messages: S<u32>,
    pub period: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipSpec {
    /// The floating address, with or without a prefix length (`/24` by default).
    pub address: S<String>,
    pub hosts: S<Vec<S<String>>>,
    #[serde(default = "default_interface")]
    pub interface: S<String>,
    #[serde(default)]
    pub router_id: Option<S<u8>>,
    /// Lets a recovered node take the address back only after this many seconds (0: at once).
    #[serde(default)]
    pub preempt_delay: Option<S<u32>>,
}

/// Two mailbox hosts that hold each other's accounts: every account of either is replicated
/// to the other, and each host's accounts are reached at an address of their own that moves
/// to the partner when the host is down.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSpec {
    pub hosts: S<Vec<S<String>>>,
    /// Where each host's accounts are reached (proxies and MTAs route there), in the order of
    /// `hosts`; with or without a prefix length (`/24` by default).
    pub addresses: S<Vec<S<String>>>,
    /// `automatic`: the partner takes over by itself when a host stops answering and it can
    /// see a majority; `manual` (default): only `mailctl failover`.
    #[serde(default)]
    pub failover: Option<S<String>>,
    /// An address the members must reach to count as the majority (the router): needed where
    /// the cluster has fewer than three hosts, so an isolated member does not take over.
    #[serde(default)]
    pub witness: Option<S<String>>,
    #[serde(default = "default_interface")]
    pub interface: S<String>,
    /// VRRP ids of the two addresses: this one and the next (default: after the VIPs').
    #[serde(default)]
    pub router_id: Option<S<u8>>,
}

fn default_interface() -> S<String> {
    unplaced("eth0".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    pub public_address: S<String>,
    #[serde(default)]
    pub forwards: Vec<NatForwardSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatForwardSpec {
    pub ports: S<Vec<S<u16>>>,
    pub host: S<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// `generate`: a cluster CA kept in the state file, one certificate per host.
    #[serde(default)]
    pub ca: Option<S<String>>,
    /// Path (on the admin machine) of a certificate chain to install on every host.
    #[serde(default)]
    pub certificate: Option<S<String>>,
    /// Secret reference to its private key.
    #[serde(default)]
    pub key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxSpec {
    pub api_url: S<String>,
    pub node: S<String>,
    pub token_id: S<String>,
    pub token_secret: S<String>,
    #[serde(default)]
    pub ca_file: Option<S<String>>,
    #[serde(default)]
    pub fingerprint: Option<S<String>>,
    pub template_vmid: S<u32>,
    /// A template per Debian release where hosts run several (`debian-13: 9013`); hosts of
    /// a release not listed are cloned from `template_vmid`.
    #[serde(default)]
    pub templates: std::collections::BTreeMap<crate::release::Os, S<u32>>,
    #[serde(default)]
    pub full_clone: Option<bool>,
    #[serde(default)]
    pub storage: Option<S<String>>,
    #[serde(default)]
    pub bridge: Option<S<String>>,
    /// The hosts' default gateway, given to cloud-init.
    #[serde(default)]
    pub gateway: Option<S<String>>,
    /// The hosts' prefix length on the Proxmox bridge.
    #[serde(default)]
    pub prefix_len: Option<S<u8>>,
    #[serde(default)]
    pub nameserver: Option<S<String>>,
    #[serde(default)]
    pub ci_user: Option<S<String>>,
    /// Public keys (file paths on the admin machine) given to cloud-init.
    #[serde(default)]
    pub ssh_public_keys: Vec<S<String>>,
    #[serde(default)]
    pub default_vm: Option<VmSpec>,
    #[serde(default)]
    pub tags: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// The lab network; the bridge takes its first address, hosts must sit inside it.
    pub subnet: S<String>,
    #[serde(default = "default_bridge")]
    pub bridge: S<String>,
}

fn default_bridge() -> S<String> {
    unplaced("mailctl0".to_string())
}
