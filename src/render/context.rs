//! What templates see. The cluster-wide part is built once; each host adds a small part of
//! its own, so rendering grows linearly with hosts.
//!
//! Every key is always present (`none` when unset) because templates run with strict
//! undefined checks: a misspelt variable is an error, never an empty string.

use std::collections::BTreeMap;
use std::net::IpAddr;

use minijinja::Value;
use serde::Serialize;
use sha1::Digest;

use crate::inventory::{Cluster, Host, Pair, Role, Tls};
use crate::pki;
use crate::state::{LocalState, ZoneSerial};

use super::RenderError;

use crate::conventions::secret;
pub use crate::conventions::{
    BOOTED_SCRIPT, DOVEADM_PORT, LMTP_PORT, MAIL_ROOT, PAIR_GATE_DIR, PAIR_IMAP_SCRIPT, PROXIED_SMTP_PORTS,
    ProxiedPorts, QUORUM_SCRIPT, REPLICA_PORT, REPLICA_TUNNEL_PORT, REPLICATOR_PORT, REPLICATOR_STATUS, SCHEMA_OID,
    VMAIL_UID, mailbox_route,
};

#[derive(Serialize)]
struct ClusterCtx<'a> {
    name: &'a str,
    domains: &'a [String],
    timezone: &'a str,
    ntp_servers: &'a [String],
    public_name: &'a str,
    /// Bytes (0: unlimited); None: no quota.
    quota: Option<u64>,
    message_size_bytes: u64,
    /// Lab hosts have no DNS and no route out.
    lab: bool,
    /// Where mail clients connect: the VIPs in front of proxies, else the proxies, else MTAs.
    public_addresses: Vec<IpAddr>,
    /// Every cluster host's address and the pairs' addresses: Dovecot lets these pass a
    /// client's address on (a member holding its partner's address proxies to it).
    host_addresses: Vec<IpAddr>,
    /// Some mailbox hosts are paired (docs/pairs.md).
    paired: bool,
    /// `mailbox.<fqdn>` of every mailbox host and where its accounts are reached (its pair
    /// address, else its own): the name LMTP and the IMAP/POP3 proxies route to.
    mailbox_routes: Vec<(String, IpAddr)>,
    /// Postfix's mynetworks beyond loopback: the hosts that must send without logging in
    /// (mailbox hosts' bounces and notices, MTAs). Never a host that relays others' traffic
    /// (HAProxy, proxies only): through it anyone outside would be trusted.
    relay_addresses: Vec<IpAddr>,
    /// Some proxy host runs HAProxy in front of the MTAs, so MTAs take PROXY-protocol traffic.
    haproxy_front: bool,
    proxied_ports: ProxiedPorts,
}

#[derive(Serialize)]
struct LdapCtx<'a> {
    suffix: &'a str,
    accounts_base: String,
    lists_base: String,
    services_base: String,
    admin_dn: String,
    admin_password_ssha: String,
    reader_dn: String,
    reader_password: String,
    replicator_dn: String,
    replicator_password: String,
    provider: &'a Host,
    has_replicas: bool,
    schema_oid: &'static str,
}

#[derive(Serialize)]
struct MailCtx {
    vmail_uid: u32,
    vmail_root: &'static str,
    lmtp_port: u16,
    doveadm_port: u16,
    doveadm_password: String,
    postmaster: String,
}

#[derive(Serialize)]
struct RateLimitCtx {
    /// Limits for every sender without its own rule: `[[count, seconds], …]`.
    default: Vec<[u64; 2]>,
    by_sender: BTreeMap<String, Vec<[u64; 2]>>,
    /// Recipients matching this regexp are internal and never counted; none when unset.
    internal_regexp: Option<String>,
}

#[derive(Serialize, Clone)]
pub struct Zone {
    pub name: String,
    pub serial: u32,
    pub primary_ns: String,
    pub hostmaster: String,
    pub records: Vec<Record>,
}

pub use crate::mailauth::Record;

/// Rspamd's settings on the MTAs (templates/rspamd/): the inventory's `filter:`, and the DKIM
/// key each domain signs with.
#[derive(Serialize, Clone)]
struct FilterCtx {
    reject_score: f64,
    add_header_score: f64,
    greylist: bool,
    greylist_score: f64,
    allow_addresses: Vec<String>,
    allow_domains: Vec<String>,
    deny_addresses: Vec<String>,
    deny_domains: Vec<String>,
    dkim: Vec<DkimCtx>,
}

#[derive(Serialize, Clone)]
struct DkimCtx {
    domain: String,
    selector: String,
    private_key: String,
}

/// Without `state`, no keys: enough for `when` conditions and status.
fn filter_ctx(cluster: &Cluster, state: Option<&mut LocalState>) -> Result<Option<FilterCtx>, RenderError> {
    let Some(f) = &cluster.filter else { return Ok(None) };
    let split = |list: &[String]| -> (Vec<String>, Vec<String>) { list.iter().cloned().partition(|s| s.contains('@')) };
    let (allow_addresses, allow_domains) = split(&f.allow);
    let (deny_addresses, deny_domains) = split(&f.deny);
    let mut dkim = Vec::new();
    if let Some(state) = state {
        for domain in &cluster.domains {
            let key = crate::mailauth::signing_key(state, domain).map_err(|e| RenderError::Cluster(e.to_string()))?;
            dkim.push(DkimCtx {
                domain: domain.clone(),
                selector: key.selector.clone(),
                private_key: key.private_key.clone(),
            });
        }
    }
    Ok(Some(FilterCtx {
        reject_score: f.reject_score,
        add_header_score: f.add_header_score,
        greylist: f.greylist,
        // Below the mark-as-spam score: only doubtful mail waits.
        greylist_score: (f.add_header_score / 2.0).min(4.0),
        allow_addresses,
        allow_domains,
        deny_addresses,
        deny_domains,
        dkim,
    }))
}

#[derive(Serialize)]
struct VrrpCtx {
    name: String,
    address: IpAddr,
    prefix_len: u8,
    interface: String,
    router_id: u8,
    priority: u8,
    preempt_delay: Option<u32>,
    /// This host's own address, the source of its unicast adverts.
    own_address: IpAddr,
    /// The other members' addresses: adverts go to them only, and only theirs are believed.
    peers: Vec<IpAddr>,
    /// One check per role the address fronts on this host: the node gives the address up
    /// when any of them fails.
    checks: Vec<VrrpCheck>,
    /// A pair's address stays where it is when its owner comes back: only `mailctl failback`
    /// returns it, once both copies are merged.
    nopreempt: bool,
    /// A pair member may hold the address only while this file holds 0 (docs/pairs.md):
    /// how `mailctl failover` and `failback` move it, and how a manual pair's partner waits.
    gate: Option<VrrpGate>,
}

#[derive(Serialize)]
struct VrrpGate {
    path: String,
    /// What the file holds before mailctl ever writes it.
    initial: u8,
}

/// Where a pair member's gate for the VRRP instance `instance` lives on the host.
pub fn pair_gate_path(instance: &str) -> String {
    format!("{PAIR_GATE_DIR}/{instance}")
}

/// The VRRP instance carrying a pair host's address.
pub fn pair_instance(pair: &Pair, owner: &str) -> String {
    let offset = if pair.hosts[0] == owner { 0 } else { 1 };
    format!("PAIR_{}", pair.router_id as u16 + offset)
}

/// A paired mailbox host's replication and takeover settings (templates/dovecot,
/// templates/keepalived).
#[derive(Serialize)]
struct PairCtx {
    partner: String,
    partner_fqdn: String,
    partner_address: IpAddr,
    /// The partner's replication arrives here (stunnel, on the host's own address), and this
    /// host's leaves through the tunnel's loopback end.
    replica_port: u16,
    tunnel_port: u16,
    /// The name the partner's certificate must carry: its FQDN, or with a bought certificate
    /// shared by every host, the cluster's public name.
    peer_name: String,
    /// Where Dovecot 2.4 posts changes to mailctl's replication controller (loopback), and
    /// where the controller writes its state.
    controller_port: u16,
    status_file: &'static str,
    automatic: bool,
    /// Who counts toward the majority a member needs to hold an address: every cluster host
    /// but this one, and the witness.
    voters: Vec<IpAddr>,
    /// Including this host.
    voters_total: usize,
    /// Where the partner's accounts are reached, and this host's gate for that address.
    partner_pair_address: IpAddr,
    partner_gate: String,
}

fn pair_ctx(cluster: &Cluster, host: &Host) -> Option<PairCtx> {
    let pair = cluster.pair_of(&host.name)?;
    let partner = cluster.partner_of(&host.name)?;
    let voters: Vec<IpAddr> =
        cluster.hosts.iter().filter(|h| h.name != host.name).map(|h| h.address).chain(pair.witness).collect();
    Some(PairCtx {
        partner_pair_address: pair.address_of(&partner.name)?,
        partner_gate: pair_gate_path(&pair_instance(pair, &partner.name)),
        partner: partner.name.clone(),
        partner_fqdn: partner.fqdn.clone(),
        partner_address: partner.address,
        replica_port: REPLICA_PORT,
        tunnel_port: REPLICA_TUNNEL_PORT,
        peer_name: match cluster.tls {
            Tls::Files { .. } => cluster.public_name.clone(),
            _ => partner.fqdn.clone(),
        },
        controller_port: REPLICATOR_PORT,
        status_file: REPLICATOR_STATUS,
        automatic: pair.automatic,
        voters_total: voters.len() + 1,
        voters,
    })
}

/// A keepalived health check for one role.
#[derive(Serialize, Clone, PartialEq)]
struct VrrpCheck {
    name: &'static str,
    script: &'static str,
}

/// The checks of the roles a host carries, in a fixed order. IMAP logins stand for the proxy
/// and mailbox roles (Dovecot answers both); `postfix status` for the MTA; the unit for
/// nginx and HAProxy, whose own checkers test config, not liveness.
fn vrrp_checks(host: &Host) -> Vec<VrrpCheck> {
    let mut checks = Vec::new();
    if host.has(Role::Proxy) || host.has(Role::Mailbox) {
        checks.push(VrrpCheck { name: "imap_login", script: "/usr/bin/doveadm service status imap-login" });
    }
    if host.has(Role::Proxy) {
        checks.push(VrrpCheck { name: "nginx", script: "/usr/bin/systemctl is-active --quiet nginx" });
    }
    if host.proxy.haproxy {
        checks.push(VrrpCheck { name: "haproxy", script: "/usr/bin/systemctl is-active --quiet haproxy" });
    }
    if host.has(Role::Mta) {
        checks.push(VrrpCheck { name: "postfix", script: "/usr/sbin/postfix status" });
    }
    checks
}

#[derive(Serialize)]
struct TlsCtx {
    ca: String,
    cert: String,
    key: String,
}

/// How Dovecot runs on a host, from its roles.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum DovecotMode {
    /// Stores mail: imap, pop3, lmtp, doveadm.
    Backend,
    /// Forwards logins to the account's mailbox host.
    Proxy,
    /// Both on one host: logins for accounts stored here stay here.
    ProxyMaybe,
    /// Only the SASL socket for Postfix submission.
    Auth,
}

pub fn dovecot_mode(host: &Host) -> Option<DovecotMode> {
    match (host.has(Role::Mailbox), host.has(Role::Proxy), host.has(Role::Mta)) {
        (true, true, _) => Some(DovecotMode::ProxyMaybe),
        (true, false, _) => Some(DovecotMode::Backend),
        (false, true, _) => Some(DovecotMode::Proxy),
        (false, false, true) => Some(DovecotMode::Auth),
        (false, false, false) => None,
    }
}

/// What playbook `when` conditions of components and status services see: the host and the
/// cluster's shape, no secrets. Render and status judge conditions on this same context, so
/// they agree on what a host runs.
pub fn conditions(cluster: &Cluster, host: &Host) -> Value {
    minijinja::context! {
        host => ser(host),
        release => ser(host.os.release()),
        dovecot => ser(dovecot_mode(host)),
        is_ldap_provider => cluster.ldap_provider().is_some_and(|p| p.name == host.name),
        vrrp => ser(vrrp_instances(cluster, host)),
        rate_limit => ser(rate_limit(cluster)),
        webmail => ser(webmail(cluster, host, String::new())),
        sieve => ser(sieve(cluster, host)),
        webmail_db => ser(webmail_db(cluster, String::new())),
        webmail_db_server => webmail_db(cluster, String::new()).is_some_and(|d| d.server == host.fqdn),
        filter => ser(filter_ctx(cluster, None).ok().flatten()),
        pair => ser(pair_ctx(cluster, host)),
    }
}

/// The one database every webmail host uses where there are several of them, so a user's
/// settings and contacts are the same whichever proxy serves them: PostgreSQL on the LDAP
/// provider, the host every cluster already depends on for writes. With one webmail host,
/// Roundcube keeps its sqlite file locally and this is `None`.
#[derive(Serialize)]
struct WebmailDbCtx {
    server: String,
    /// The webmail hosts' addresses: the only clients pg_hba.conf lets in.
    clients: Vec<IpAddr>,
    password: String,
}

fn webmail_db(cluster: &Cluster, password: String) -> Option<WebmailDbCtx> {
    let webmail_hosts: Vec<&Host> = cluster.hosts_with(Role::Proxy).collect();
    if webmail_hosts.len() < 2 {
        return None;
    }
    let server = cluster.ldap_provider()?;
    Some(WebmailDbCtx {
        server: server.fqdn.clone(),
        clients: webmail_hosts.iter().map(|h| h.address).collect(),
        password,
    })
}

/// Roundcube on a proxy host (templates/roundcube/).
#[derive(Serialize)]
struct WebmailCtx {
    /// The MTA Roundcube submits to, as the user (587, STARTTLS, the cluster CA).
    smtp_host: String,
    /// The largest upload nginx takes: a message of the cluster's limit, base64-encoded.
    upload_mb: u64,
    /// Encrypts IMAP passwords kept in sessions; one per cluster, so any webmail host can
    /// read a session another started.
    des_key: String,
}

/// Webmail runs where logins are proxied, so each user lands on their own mailbox host.
fn webmail(cluster: &Cluster, host: &Host, des_key: String) -> Option<WebmailCtx> {
    if !host.has(Role::Proxy) {
        return None;
    }
    Some(WebmailCtx {
        smtp_host: submission_mta(cluster)?.fqdn.clone(),
        upload_mb: (cluster.message_size_mb as u64 * 4).div_ceil(3) + 1,
        des_key,
    })
}

/// The MTA users submit through: the first that takes submission, else the first MTA.
fn submission_mta(cluster: &Cluster) -> Option<&Host> {
    let mut mtas = cluster.hosts_with(Role::Mta);
    cluster.hosts_with(Role::Mta).find(|h| h.mta.submission).or_else(|| mtas.next())
}

/// Sieve on the mailbox hosts: where replies and redirects a user's filters make are sent.
#[derive(Serialize)]
struct SieveCtx {
    /// The host's own Postfix when it is an MTA too (it is up whenever this host is), else an
    /// MTA that relays for mailbox hosts: not an incoming-only MX when there is another.
    submission_host: String,
}

fn sieve(cluster: &Cluster, host: &Host) -> Option<SieveCtx> {
    if host.has(Role::Mta) {
        return Some(SieveCtx { submission_host: "127.0.0.1:25".into() });
    }
    let mut mtas = cluster.hosts_with(Role::Mta);
    let outbound = cluster.hosts_with(Role::Mta).find(|h| !h.mta.mx).or_else(|| mtas.next())?;
    Some(SieveCtx { submission_host: format!("{}:25", outbound.fqdn) })
}

/// The cluster-wide context and what per-host contexts are made from.
pub struct SharedContext {
    shared: Value,
    tls: TlsSource,
    des_key: String,
    webmail_db_password: String,
    /// With the DKIM private keys, so only in the full context (not in `conditions`).
    filter: Value,
}

enum TlsSource {
    Files { ca: String, cert: String, key: String },
    Generated(BTreeMap<String, TlsCtx>),
}

impl SharedContext {
    pub fn build(cluster: &Cluster, state: &mut LocalState) -> Result<SharedContext, RenderError> {
        let provider =
            cluster.ldap_provider().ok_or_else(|| RenderError::Cluster("no LDAP provider host".to_string()))?;
        let replicas: Vec<&Host> = cluster.hosts_with(Role::Ldap).filter(|h| h.ldap_replica_of.is_some()).collect();
        let suffix = &cluster.ldap_suffix;
        let layout = crate::directory::Layout::new(cluster);
        let ldap = LdapCtx {
            suffix,
            accounts_base: layout.accounts_base(),
            lists_base: layout.lists_base(),
            services_base: layout.services_base(),
            admin_dn: layout.admin_dn(),
            admin_password_ssha: state.secret_ssha(secret::LDAP_ADMIN.0, secret::LDAP_ADMIN.1),
            reader_dn: layout.reader_dn(),
            reader_password: state.secret(secret::LDAP_READER.0, secret::LDAP_READER.1),
            replicator_dn: layout.replicator_dn(),
            replicator_password: state.secret(secret::LDAP_REPLICATOR.0, secret::LDAP_REPLICATOR.1),
            provider,
            has_replicas: !replicas.is_empty(),
            schema_oid: SCHEMA_OID,
        };
        let first_domain = cluster.domains.first().cloned().unwrap_or_default();
        let mail = MailCtx {
            vmail_uid: VMAIL_UID,
            vmail_root: MAIL_ROOT,
            lmtp_port: LMTP_PORT,
            doveadm_port: DOVEADM_PORT,
            doveadm_password: state.secret(secret::DOVEADM.0, secret::DOVEADM.1),
            postmaster: format!("postmaster@{first_domain}"),
        };
        let public_addresses = public_addresses(cluster);
        let cluster_ctx = ClusterCtx {
            name: &cluster.name,
            domains: &cluster.domains,
            timezone: &cluster.timezone,
            ntp_servers: &cluster.ntp_servers,
            public_name: &cluster.public_name,
            quota: cluster.quota,
            message_size_bytes: cluster.message_size_mb as u64 * 1024 * 1024,
            lab: cluster.lab.is_some(),
            public_addresses: public_addresses.clone(),
            host_addresses: cluster
                .hosts
                .iter()
                .map(|h| h.address)
                .chain(cluster.pairs.iter().flat_map(|p| p.addresses))
                .collect(),
            paired: !cluster.pairs.is_empty(),
            mailbox_routes: cluster
                .hosts_with(Role::Mailbox)
                .map(|h| (mailbox_route(&h.fqdn), cluster.mailbox_address(h)))
                .collect(),
            relay_addresses: relay_addresses(cluster),
            haproxy_front: cluster.hosts.iter().any(|h| h.proxy.haproxy),
            proxied_ports: PROXIED_SMTP_PORTS,
        };
        let filter = filter_ctx(cluster, Some(state))?;
        let zones = zones(cluster, &public_addresses, state)?;
        let by_role: BTreeMap<&str, Vec<&Host>> =
            Role::ALL.iter().map(|r| (r.as_str(), cluster.hosts_with(*r).collect())).collect();
        let mx_hosts: Vec<&Host> = cluster.hosts_with(Role::Mta).filter(|h| h.mta.mx).collect();

        let shared = minijinja::context! {
            cluster => ser(&cluster_ctx),
            hosts => ser(&cluster.hosts),
            by_role => ser(&by_role),
            mx_hosts => ser(&mx_hosts),
            ldap => ser(&ldap),
            mail => ser(&mail),
            rate_limit => ser(rate_limit(cluster)),
            zones => ser(&zones),
        };
        let filter = ser(&filter);
        let tls = tls_source(cluster, state)?;
        let (name, len) = secret::ROUNDCUBE_DES_KEY;
        let des_key = state.secret(name, len);
        let (name, len) = secret::WEBMAIL_DB;
        let webmail_db_password = state.secret(name, len);
        Ok(SharedContext { shared, tls, des_key, webmail_db_password, filter })
    }

    pub fn for_host(&self, cluster: &Cluster, host: &Host) -> Value {
        let tls = match &self.tls {
            TlsSource::Files { ca, cert, key } => ser(TlsCtx { ca: ca.clone(), cert: cert.clone(), key: key.clone() }),
            TlsSource::Generated(per_host) => ser(&per_host[&host.name]),
        };
        let vrrp = vrrp_instances(cluster, host);
        minijinja::context! {
            vrrp => ser(&vrrp),
            ldap_uris => ldap_uris(cluster, host),
            webmail => ser(webmail(cluster, host, self.des_key.clone())),
            webmail_db => ser(webmail_db(cluster, self.webmail_db_password.clone())),
            tls => tls,
            filter => self.filter.clone(),
            ..minijinja::context! { ..conditions(cluster, host), ..self.shared.clone() }
        }
    }
}

/// The LDAP servers a host's clients try, in order: the host itself when it serves LDAP (a
/// replica answers reads even when the provider is dead, with no connect timeout to sit
/// through first), then the provider, then the replicas.
fn ldap_uris(cluster: &Cluster, host: &Host) -> String {
    let provider = cluster.ldap_provider();
    let replicas = cluster.hosts_with(Role::Ldap).filter(|h| h.ldap_replica_of.is_some());
    let mut order: Vec<&Host> = Vec::new();
    for h in host.has(Role::Ldap).then_some(host).into_iter().chain(provider).chain(replicas) {
        if !order.iter().any(|o| o.name == h.name) {
            order.push(h);
        }
    }
    order.iter().map(|h| format!("ldap://{}", h.fqdn)).collect::<Vec<_>>().join(" ")
}

fn public_addresses(cluster: &Cluster) -> Vec<IpAddr> {
    let proxies: Vec<&Host> = cluster.hosts_with(Role::Proxy).collect();
    let fronting_vips: Vec<IpAddr> = cluster
        .vips
        .iter()
        .filter(|v| v.hosts.iter().any(|h| proxies.iter().any(|p| &p.name == h)))
        .map(|v| v.address)
        .collect();
    if !fronting_vips.is_empty() {
        return fronting_vips;
    }
    if !proxies.is_empty() {
        return proxies.iter().map(|h| h.address).collect();
    }
    cluster.hosts_with(Role::Mta).map(|h| h.address).collect()
}

/// The hosts an MTA lets relay without authentication (beside loopback and the MTA's own
/// `relay_networks`): mail and MTA hosts, which only ever send their own mail.
fn relay_addresses(cluster: &Cluster) -> Vec<IpAddr> {
    cluster
        .hosts
        .iter()
        .filter(|h| (h.has(Role::Mailbox) || h.has(Role::Mta)) && !h.proxy.haproxy)
        .map(|h| h.address)
        .collect()
}

fn rate_limit(cluster: &Cluster) -> Option<RateLimitCtx> {
    let rl = cluster.rate_limit.as_ref().filter(|rl| rl.default.is_some() || !rl.senders.is_empty())?;
    let pair = |l: &crate::inventory::Limit| [l.messages as u64, l.period.as_secs()];
    // policyd-rate-limit's cleaner keeps twice the longest DEFAULT window: a default shorter
    // than some sender's window would forget that sender's mail too early. Without a default
    // we add a limit no one reaches over the longest window, for that reason alone.
    let longest = rl
        .senders
        .iter()
        .map(|s| s.limit.period.as_secs())
        .chain(rl.default.map(|d| d.period.as_secs()))
        .max()
        .unwrap_or(3600);
    let mut default: Vec<[u64; 2]> = rl.default.iter().map(pair).collect();
    if default.iter().all(|d| d[1] < longest) {
        default.push([1_000_000, longest]);
    }
    let mut by_sender: BTreeMap<String, Vec<[u64; 2]>> =
        rl.senders.iter().map(|s| (s.sender.clone(), vec![pair(&s.limit)])).collect();
    for b in &rl.bypass {
        by_sender.insert(b.clone(), Vec::new());
    }
    let internal_regexp = (!rl.internal_domains.is_empty()).then(|| {
        format!("@({})$", rl.internal_domains.iter().map(|d| d.replace('.', "\\.")).collect::<Vec<_>>().join("|"))
    });
    Some(RateLimitCtx { default, by_sender, internal_regexp })
}

fn zones(cluster: &Cluster, public: &[IpAddr], state: &mut LocalState) -> Result<Vec<Zone>, RenderError> {
    let name_servers: Vec<&Host> = cluster.hosts_with(Role::Dns).collect();
    let Some(ns) = name_servers.first() else { return Ok(Vec::new()) };
    let mx: Vec<&Host> = cluster.hosts_with(Role::Mta).filter(|h| h.mta.mx).collect();
    let addr_kind = |a: &IpAddr| if a.is_ipv4() { "A" } else { "AAAA" };
    cluster
        .domains
        .iter()
        .map(|domain| {
            let mut records: Vec<Record> = name_servers
                .iter()
                .map(|n| Record { name: "@".into(), kind: "NS", value: format!("{}.", n.fqdn) })
                .collect();
            for h in &mx {
                records.push(Record {
                    name: "@".into(),
                    kind: "MX",
                    value: format!("{} {}.", h.mta.mx_priority, h.fqdn),
                });
            }
            records.extend(
                crate::mailauth::records(cluster, state, domain).map_err(|e| RenderError::Cluster(e.to_string()))?,
            );
            let suffix = format!(".{domain}");
            let mut names = Vec::new();
            for h in &cluster.hosts {
                if let Some(rel) = h.fqdn.strip_suffix(&suffix) {
                    records.push(Record {
                        name: rel.to_string(),
                        kind: addr_kind(&h.address),
                        value: h.address.to_string(),
                    });
                    names.push(rel.to_string());
                }
            }
            let mut service_names = vec!["mail".to_string(), "autoconfig".to_string()];
            if let Some(rel) = cluster.public_name.strip_suffix(&suffix) {
                service_names.push(rel.to_string());
            }
            for name in service_names {
                if names.contains(&name) {
                    continue;
                }
                for a in public {
                    records.push(Record { name: name.clone(), kind: addr_kind(a), value: a.to_string() });
                }
                names.push(name);
            }
            let serial = zone_serial(state, domain, &records);
            Ok(Zone {
                name: domain.clone(),
                serial,
                primary_ns: format!("{}.", ns.fqdn),
                hostmaster: format!("hostmaster.{domain}."),
                records,
            })
        })
        .collect()
}

/// A zone's serial moves only when its records change, so re-renders are identical.
fn zone_serial(state: &mut LocalState, domain: &str, records: &[Record]) -> u32 {
    let mut h = sha1::Sha1::new();
    for r in records {
        h.update(format!("{} {} {}\n", r.name, r.kind, r.value));
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let today = today_serial_base();
    let entry = state
        .data
        .zones
        .entry(domain.to_string())
        .or_insert_with(|| ZoneSerial { digest: digest.clone(), serial: today });
    if entry.digest != digest {
        entry.digest = digest;
        entry.serial = (entry.serial + 1).max(today);
    }
    entry.serial
}

/// YYYYMMDD00 for today (UTC), the usual serial convention.
fn today_serial_base() -> u32 {
    let d = time::OffsetDateTime::now_utc().date();
    (d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32) * 100
}

fn vrrp_instances(cluster: &Cluster, host: &Host) -> Vec<VrrpCtx> {
    let mut instances = vip_instances(cluster, host);
    instances.extend(pair_instances(cluster, host));
    instances
}

/// A pair member carries two addresses: its own accounts' (priority 150) and its partner's
/// (100). Each is held only while the IMAP logins answer (a restart of Dovecot is not a failure:
/// the partner would keep the address until `mailctl failback`) and, with automatic failover, while
/// the member sees a majority. The partner's is held only once its gate opens: in a manual
/// pair by `mailctl failover`, in an automatic one by the deploy, once the owner has taken
/// its address (templates/keepalived/mailctl-arm), so a partner deployed first does not keep
/// it; and only after 90 s up, so when both boot at once each takes its own.
fn pair_instances(cluster: &Cluster, host: &Host) -> Vec<VrrpCtx> {
    let Some(pair) = cluster.pair_of(&host.name) else { return Vec::new() };
    let Some(partner) = cluster.partner_of(&host.name) else { return Vec::new() };
    let mut checks = vec![VrrpCheck { name: "pair_imap", script: PAIR_IMAP_SCRIPT }];
    if pair.automatic {
        checks.push(VrrpCheck { name: "quorum", script: QUORUM_SCRIPT });
    }
    [(&host.name, 150u8), (&partner.name, 100u8)]
        .into_iter()
        .filter_map(|(owner, priority)| {
            let name = pair_instance(pair, owner);
            let own = owner == &host.name;
            Some(VrrpCtx {
                address: pair.address_of(owner)?,
                prefix_len: pair.prefix_len,
                interface: pair.interface.clone(),
                router_id: pair.router_id.wrapping_add(u8::from(pair.hosts[0] != *owner)),
                priority,
                preempt_delay: None,
                own_address: host.address,
                peers: vec![partner.address],
                checks: if own { checks.clone() } else { [checks.clone(), vec![BOOTED_CHECK]].concat() },
                nopreempt: true,
                gate: Some(VrrpGate { path: pair_gate_path(&name), initial: u8::from(!own) }),
                name,
            })
        })
        .collect()
}

/// True once the host has been up 90 s (a partner's claim on its partner's address waits).
const BOOTED_CHECK: VrrpCheck = VrrpCheck { name: "booted", script: BOOTED_SCRIPT };

fn vip_instances(cluster: &Cluster, host: &Host) -> Vec<VrrpCtx> {
    cluster
        .vips
        .iter()
        .filter_map(|vip| {
            let rank = vip.hosts.iter().position(|h| h == &host.name)?;
            let peers = vip
                .hosts
                .iter()
                .filter(|h| *h != &host.name)
                .filter_map(|h| cluster.host(h).map(|h| h.address))
                .collect();
            Some(VrrpCtx {
                name: format!("VIP_{}", vip.router_id),
                address: vip.address,
                prefix_len: vip.prefix_len,
                interface: vip.interface.clone(),
                router_id: vip.router_id,
                // Distinct by construction: validation caps the members so the steps stay above 0.
                priority: 150u8.saturating_sub(10 * rank as u8),
                preempt_delay: vip.preempt_delay,
                own_address: host.address,
                peers,
                checks: vrrp_checks(host),
                nopreempt: false,
                gate: None,
            })
        })
        .collect()
}

fn tls_source(cluster: &Cluster, state: &mut LocalState) -> Result<TlsSource, RenderError> {
    match &cluster.tls {
        Tls::Files { certificate, key } => {
            let base = cluster.base_dir();
            let path = base.join(certificate);
            let cert = std::fs::read_to_string(&path)
                .map_err(|e| RenderError::Cluster(format!("cannot read TLS certificate {}: {e}", path.display())))?;
            let key = key.resolve(&base).map_err(|e| RenderError::Cluster(format!("TLS key: {e}")))?;
            // Checked again here: the file may have changed since the inventory was validated.
            if let Some(problem) = crate::inventory::validate::certificate_pem_problem(cert.as_bytes()) {
                return Err(RenderError::Cluster(format!("tls.certificate {}: {problem}", path.display())));
            }
            // The key is a secret: say what is wrong, never what it holds.
            if !(key.contains("-----BEGIN") && key.contains("PRIVATE KEY-----")) {
                return Err(RenderError::Cluster("the TLS key is not a PEM private key".to_string()));
            }
            // With bought certificates the chain's last element stands in for the CA bundle.
            let ca = last_pem_block(&cert).unwrap_or_else(|| cert.clone());
            Ok(TlsSource::Files { ca, cert, key: ensure_newline(key) })
        }
        Tls::GenerateCa => {
            if state.data.pki.is_none() {
                state.data.pki = Some(pki::new_ca(&cluster.name).map_err(|e| RenderError::Cluster(e.to_string()))?);
            }
            let pki = state.data.pki.as_mut().expect("just set");
            let mut per_host = BTreeMap::new();
            for h in &cluster.hosts {
                let names = certificate_names(cluster, h);
                let current = pki.hosts.get(&h.name).filter(|c| c.names == names).cloned();
                let issued = match current {
                    Some(c) => c,
                    None => {
                        let c = pki::issue(pki, &names)
                            .map_err(|e| RenderError::Cluster(format!("host {}: {e}", h.name)))?;
                        pki.hosts.insert(h.name.clone(), c.clone());
                        c
                    }
                };
                per_host.insert(h.name.clone(), TlsCtx { ca: pki.ca_cert.clone(), cert: issued.cert, key: issued.key });
            }
            Ok(TlsSource::Generated(per_host))
        }
    }
}

/// The names a host answers to: its own, and the public ones if clients reach it by them.
fn certificate_names(cluster: &Cluster, host: &Host) -> Vec<String> {
    let mut names = vec![host.fqdn.clone(), host.address.to_string()];
    if host.has(Role::Proxy) || host.has(Role::Mta) {
        names.push(cluster.public_name.clone());
        names.extend(cluster.domains.iter().map(|d| format!("mail.{d}")));
    }
    for vip in cluster.vips.iter().filter(|v| v.hosts.contains(&host.name)) {
        names.push(vip.address.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn last_pem_block(text: &str) -> Option<String> {
    let start = text.rfind("-----BEGIN CERTIFICATE-----")?;
    Some(ensure_newline(text[start..].trim_end().to_string()))
}

fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Any serde value as a template value.
fn ser<T: Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}
