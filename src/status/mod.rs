//! `mailctl status`: every service on every host, from two sides at once. Over SSH (the
//! deploy engine's connections) the host says what systemd thinks of each unit; from the admin
//! machine a probe speaks each service's protocol. All hosts, and all probes of a host, run
//! in parallel, so a cluster costs about as much as its slowest host.

pub mod format;
pub mod probe;
pub mod replication;
pub mod services;
pub mod tls;
pub mod units;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::inventory::model::{Cluster, Host, Role};
use crate::playbook::{Playbook, PlaybookError};
use crate::remote::{Connector, HostConn, fan_out};
use probe::ProbeResult;
use services::{OnHostCheck, Probe, Service};
use units::{HostState, UnitState};

/// What to look at and how long to wait.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Which services each host runs, and how to probe them.
    pub playbook: Playbook,
    pub hosts: Vec<String>,
    pub roles: Vec<Role>,
    pub services: Vec<String>,
    /// Bound on each protocol probe, connection included.
    pub probe_timeout: Duration,
    pub forks: usize,
    /// What TLS probes check certificates against.
    pub tls: tls::TlsTrust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The unit is active (or unknown) and the probe answers.
    Running,
    /// The unit is down, or its probe fails.
    Stopped,
    /// systemd skipped the unit by design (a Condition*= that does not hold on this host).
    Skipped,
    /// The host could not be asked and nothing probes the service from outside.
    Unknown,
}

impl State {
    pub fn is_ok(self) -> bool {
        matches!(self, State::Running | State::Skipped)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// The role that brings the service, or "base" for what every host runs.
    pub role: String,
    pub unit: String,
    pub state: State,
    /// None when the host could not be asked.
    pub unit_state: Option<UnitState>,
    pub probe: Option<ProbeResult>,
    /// Why it is not running, one fact per line; empty when running.
    pub reasons: Vec<String>,
    /// Running, but not for long or not whole: a certificate about to expire, an HAProxy
    /// backend server out of rotation.
    pub warnings: Vec<String>,
    /// HAProxy's backend servers, for its service.
    pub backend_servers: Vec<units::BackendServer>,
    /// Dovecot's replicator, for a paired mailbox host's `replication` service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<replication::ReplicationState>,
    /// A short description of what was seen: the probe's answer or the unit's state.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub fqdn: String,
    pub address: String,
    pub roles: Vec<Role>,
    /// Whether SSH answered; when false, `error` says why and only probes are known.
    pub reachable: bool,
    pub error: Option<String>,
    pub services: Vec<ServiceStatus>,
    /// The host's Proxmox VM, for hosts with a `vm:` block.
    pub vm: Option<VmStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmStatus {
    pub vmid: Option<u32>,
    pub node: Option<String>,
    /// Proxmox's word (running, stopped, paused); `absent` when no VM carries the host's
    /// name; `unknown` when the API could not be asked (`error` says why).
    pub status: String,
    pub error: Option<String>,
}

impl VmStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }

    pub fn is_unknown(&self) -> bool {
        self.status == "unknown"
    }

    pub fn describe(&self) -> String {
        match (self.vmid, &self.node, &self.error) {
            (_, _, Some(e)) => format!("VM state unknown: {e}"),
            (Some(id), Some(node), None) => format!("VM {id} on {node}: {}", self.status),
            _ => "no VM with the host's name in Proxmox".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VipStatus {
    pub address: String,
    /// The hosts keepalived may put it on, in priority order.
    pub hosts: Vec<String>,
    /// The hosts that hold it now: exactly one when healthy.
    pub holders: Vec<String>,
    pub ok: bool,
    pub detail: String,
    /// A mailbox pair's address: the host whose accounts are reached there (docs/pairs.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts_of: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub ok: bool,
    pub hosts: usize,
    pub unreachable: usize,
    pub services: usize,
    pub running: usize,
    pub stopped: usize,
    pub skipped: usize,
    pub unknown: usize,
    pub probes: usize,
    pub probes_failed: usize,
    /// Services running with a warning (a certificate expiring soon).
    pub warnings: usize,
    pub vips: usize,
    pub vips_failed: usize,
    /// Proxmox-backed hosts, and those whose VM is not running (stopped, absent).
    pub vms: usize,
    pub vms_down: usize,
    pub vms_unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    /// RFC 3339, UTC.
    pub checked_at: String,
    #[serde(skip)]
    pub checked_at_unix: f64,
    pub seconds: f64,
    pub summary: Summary,
    pub hosts: Vec<HostStatus>,
    pub vips: Vec<VipStatus>,
}

impl VipStatus {
    /// How outputs name it.
    pub fn label(&self) -> &'static str {
        if self.accounts_of.is_some() { "pair address" } else { "VIP" }
    }
}

impl StatusReport {
    pub fn ok(&self) -> bool {
        self.summary.ok
    }
}

/// The SSH side, kept between rounds of `--watch`: the connector (with keys, any passphrase
/// typed once, and ~/.ssh/config) and the connections still open.
pub struct Connections<'c> {
    connector: &'c dyn Connector,
    sessions: Vec<(String, HostConn)>,
}

impl<'c> Connections<'c> {
    pub fn new(connector: &'c dyn Connector) -> Connections<'c> {
        Connections { connector, sessions: Vec::new() }
    }

    fn take(&mut self, host: &str) -> Option<HostConn> {
        let i = self.sessions.iter().position(|(h, _)| h == host)?;
        Some(self.sessions.swap_remove(i).1)
    }

    pub async fn close(self) {
        futures::future::join_all(self.sessions.into_iter().map(|(_, s)| s.close())).await;
    }
}

/// The hosts and services the filters select (hosts left with no service are dropped).
pub fn select<'a>(cluster: &'a Cluster, opts: &StatusOptions) -> Result<Vec<(&'a Host, Vec<Service>)>, PlaybookError> {
    let mut out = Vec::new();
    let hosts = cluster
        .hosts
        .iter()
        .filter(|h| opts.hosts.is_empty() || opts.hosts.iter().any(|n| n == &h.name))
        .filter(|h| opts.roles.is_empty() || opts.roles.iter().any(|r| h.has(*r)));
    for h in hosts {
        let services: Vec<Service> = services::for_host(&opts.playbook, cluster, h)?
            .into_iter()
            .filter(|s| opts.roles.is_empty() || s.role.is_some_and(|r| opts.roles.contains(&r)))
            .filter(|s| opts.services.is_empty() || opts.services.contains(&s.name))
            .collect();
        if !services.is_empty() {
            out.push((h, services));
        }
    }
    Ok(out)
}

/// Checks the filters against the inventory and the playbook: unknown hosts and services are
/// named, with what exists instead.
pub fn check_filters(cluster: &Cluster, opts: &StatusOptions, inventory: &std::path::Path) -> Result<(), String> {
    for name in &opts.hosts {
        if cluster.host(name).is_none() {
            let known: Vec<&str> = cluster.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(format!(
                "--host {name}: no such host in {} (hosts: {})",
                inventory.display(),
                known.join(", ")
            ));
        }
    }
    let known = opts.playbook.status_names();
    for name in &opts.services {
        if !known.contains(&name.as_str()) {
            return Err(format!("--service {name}: unknown service (known: {})", known.join(", ")));
        }
    }
    match select(cluster, opts) {
        Err(e) => Err(e.to_string()),
        Ok(selected) if selected.is_empty() => Err("the filters select no service on any host".into()),
        Ok(_) => Ok(()),
    }
}

/// One round: every selected host over SSH and every probe, in parallel.
pub async fn check(
    cluster: &Cluster,
    opts: &StatusOptions,
    connections: &mut Connections<'_>,
) -> Result<StatusReport, PlaybookError> {
    let started = Instant::now();
    let now = SystemTime::now();
    let selected = select(cluster, opts)?;
    let jobs: Vec<_> = selected
        .into_iter()
        .map(|(host, services)| {
            let session = connections.take(&host.name);
            (host, services, session)
        })
        .collect();
    let connector = connections.connector;
    // A lab's hosts are containers, whatever `vm:` a twin kept from the real cluster.
    let want_vms: Vec<&str> = if cluster.lab.is_some() {
        Vec::new()
    } else {
        jobs.iter().filter(|(h, ..)| h.vm.is_some()).map(|(h, ..)| h.name.as_str()).collect()
    };
    let hosts_checked = fan_out(jobs, opts.forks, |(host, services, session)| {
        let partner = cluster.pair_of(&host.name).and_then(|p| p.partner_of(&host.name));
        check_host(connector, host, partner, services, session, opts)
    });
    let (results, mut vms) = futures::join!(hosts_checked, vm_states(cluster, &want_vms, opts.probe_timeout));
    let mut hosts = Vec::new();
    let mut addresses = Vec::new();
    for (status, facts, session) in results {
        if let Some(s) = session {
            connections.sessions.push((status.name.clone(), s));
        }
        addresses.push((status.name.clone(), facts.map(|f| f.addresses)));
        let mut status = status;
        status.vm = vms.remove(&status.name);
        hosts.push(status);
    }
    let watch_vips = opts.services.is_empty() || opts.services.iter().any(|s| s == "keepalived");
    let vips = if watch_vips { vip_status(cluster, &addresses) } else { Vec::new() };
    annotate_keepalived(&mut hosts, &vips);
    annotate_failovers(&mut hosts, &vips);
    let summary = summarize(&hosts, &vips);
    let unix = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
    Ok(StatusReport {
        cluster: cluster.name.clone(),
        checked_at: humantime::format_rfc3339_seconds(now).to_string(),
        checked_at_unix: unix,
        seconds: round_ms(started.elapsed().as_secs_f64()),
        summary,
        hosts,
        vips,
    })
}

async fn check_host(
    connector: &dyn Connector,
    host: &Host,
    partner: Option<&str>,
    services: Vec<Service>,
    session: Option<HostConn>,
    opts: &StatusOptions,
) -> (HostStatus, Option<HostState>, Option<HostConn>) {
    // sshd's probe is our own SSH session: a second connection only for its banner would
    // cost the host another sshd process for nothing.
    let check = opts.tls.for_host(&host.fqdn);
    let probes = futures::future::join_all(services.iter().map(|s| async {
        match &s.probe {
            Some(Probe::Ssh { .. } | Probe::OnHost(_)) | None => None,
            Some(p) => Some(probe::run(p, host.address, opts.probe_timeout, s.tls.map(|m| (m, &check))).await),
        }
    }));
    let units: BTreeSet<&str> = services.iter().map(|s| s.unit.as_str()).collect();
    let units: Vec<&str> = units.into_iter().collect();
    let checks: BTreeSet<OnHostCheck> = services
        .iter()
        .filter_map(|s| match s.probe {
            Some(Probe::OnHost(c)) => Some(c),
            _ => None,
        })
        .collect();
    let checks: Vec<OnHostCheck> = checks.into_iter().collect();
    let asked = async {
        let started = Instant::now();
        let (facts, session) = ask_host(connector, host, &units, &checks, session).await;
        (facts, session, started.elapsed())
    };
    let (probes, (facts, session, ssh_took)) = futures::join!(probes, asked);
    let (facts, error) = match facts {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e)),
    };
    let services = services
        .into_iter()
        .zip(probes)
        .map(|(s, probe)| {
            let probe = match &s.probe {
                Some(p @ Probe::Ssh { port }) => Some(ProbeResult {
                    kind: p.kind(),
                    target: std::net::SocketAddr::new(host.address, *port).to_string(),
                    ok: error.is_none(),
                    latency_ms: (ssh_took.as_secs_f64() * 1e6).round() / 1000.0,
                    detail: match &error {
                        None => "SSH session answered (login, command, systemd)".into(),
                        Some(e) => e.clone(),
                    },
                    tls: None,
                    warning: None,
                }),
                // An unreachable host ran no check: the service is unknown, like its unit.
                Some(Probe::OnHost(c)) => facts.as_ref().map(|f| on_host_result(*c, host, partner, f)),
                _ => probe,
            };
            let mut status = service_status(&s, facts.as_ref().and_then(|f| f.units.get(&s.unit)).cloned(), probe);
            // A backend server out of rotation: HAProxy still serves through the others.
            if s.unit == "haproxy" && status.state == State::Running {
                let servers = facts.as_ref().map(|f| f.backend_servers.as_slice()).unwrap_or_default();
                status.warnings.extend(servers.iter().filter(|b| b.is_down()).map(|b| b.describe()));
                status.backend_servers = servers.to_vec();
            }
            if s.probe == Some(Probe::OnHost(OnHostCheck::Replication)) {
                status.replication = facts.as_ref().and_then(|f| replication::parse(&f.replication));
            }
            status
        })
        .collect();
    let status = HostStatus {
        name: host.name.clone(),
        fqdn: host.fqdn.clone(),
        address: host.address.to_string(),
        roles: host.roles.iter().copied().collect(),
        reachable: error.is_none(),
        error,
        services,
        vm: None,
    };
    (status, facts, session)
}

/// Reuses the host's connection when it is still alive; a failed one is dropped, so the next
/// round of `--watch` connects afresh.
async fn ask_host(
    connector: &dyn Connector,
    host: &Host,
    units: &[&str],
    checks: &[OnHostCheck],
    session: Option<HostConn>,
) -> (Result<HostState, String>, Option<HostConn>) {
    let session = match session.filter(|s| !s.is_closed()) {
        Some(s) => s,
        None => match connector.connect(host).await {
            Ok(s) => s,
            Err(e) => return (Err(e.to_string()), None),
        },
    };
    match units::query(session.as_ref(), units, checks).await {
        Ok(f) => (Ok(f), Some(session)),
        Err(e) => {
            session.close().await;
            (Err(e.to_string()), None)
        }
    }
}

/// A check the host ran on itself, as a probe result (its target is the host's loopback).
fn on_host_result(check: OnHostCheck, host: &Host, partner: Option<&str>, facts: &HostState) -> ProbeResult {
    let replication;
    let found = match check {
        OnHostCheck::Replication => {
            replication = replication::result(&facts.replication, partner.unwrap_or("the partner"));
            Some(&replication)
        }
        _ => facts.checks.get(check.name()),
    };
    let (ok, detail, warning) = match found {
        Some(r) => (r.ok, r.detail.clone(), r.warning.clone()),
        None => (false, "the host's check printed nothing".to_string(), None),
    };
    ProbeResult {
        kind: check.name(),
        target: format!("{} (on the host)", host.name),
        ok,
        latency_ms: 0.0,
        detail,
        tls: None,
        warning,
    }
}

fn service_status(s: &Service, unit: Option<UnitState>, probe: Option<ProbeResult>) -> ServiceStatus {
    let mut reasons = Vec::new();
    let unit_down = unit.as_ref().is_some_and(|u| !u.is_active() && !u.is_skipped());
    if let Some(u) = unit.as_ref().filter(|_| unit_down) {
        reasons.push(format!("{}.service is {}", s.unit, u.describe()));
        if let Some(last) = u.log.last() {
            reasons.push(format!("last log: {last}"));
        }
    }
    if let Some(p) = probe.as_ref().filter(|p| !p.ok) {
        reasons.push(format!("{} probe of {} failed: {}", p.kind, p.target, p.detail));
    }
    let skipped = unit.as_ref().is_some_and(UnitState::is_skipped);
    let state = match (&unit, &probe) {
        _ if !reasons.is_empty() => State::Stopped,
        (_, Some(_)) => State::Running,
        (Some(_), None) if skipped => State::Skipped,
        (Some(_), None) => State::Running,
        (None, None) => State::Unknown,
    };
    let detail = match (&probe, &unit) {
        _ if !reasons.is_empty() => reasons.join("; "),
        (Some(p), _) => p.detail.clone(),
        (None, Some(u)) if skipped => skipped_detail(&s.unit, u),
        (None, Some(u)) => format!("{}.service {} ({})", s.unit, u.active, u.sub),
        (None, None) => "host unreachable: unit state unknown".into(),
    };
    let warnings = probe.iter().filter(|_| state == State::Running).filter_map(|p| p.warning.clone()).collect();
    ServiceStatus {
        name: s.name.to_string(),
        role: s.role.map(|r| r.as_str()).unwrap_or("base").to_string(),
        unit: s.unit.to_string(),
        state,
        unit_state: unit,
        probe,
        reasons,
        warnings,
        backend_servers: Vec::new(),
        replication: None,
        detail,
    }
}

/// Journal lines come from services whose configs hold the cluster's secrets: mask them, and
/// everything quoted from them, before the report leaves mailctl.
pub fn mask(report: &mut StatusReport, masker: &crate::deploy::diff::Masker) {
    for h in &mut report.hosts {
        if let Some(e) = h.error.as_mut() {
            *e = masker.mask(e);
        }
        for s in &mut h.services {
            if let Some(u) = s.unit_state.as_mut() {
                u.log.iter_mut().for_each(|l| *l = masker.mask(l));
            }
            s.reasons.iter_mut().for_each(|r| *r = masker.mask(r));
            s.detail = masker.mask(&s.detail);
        }
    }
}

/// systemd's log names the condition that did not hold: "... unmet condition check
/// (ConditionCapability=CAP_SYS_TIME)." up to systemd 252 (Debian 12), "... unmet condition
/// check ConditionCapability=CAP_SYS_TIME" from 257 (Debian 13). Say it when it is there.
fn skipped_detail(unit: &str, state: &UnitState) -> String {
    let condition = state.log.iter().rev().find_map(|l| {
        let start = l.find("Condition").or_else(|| l.find("Assert"))?;
        let word = l[start..].split(|c: char| c.is_whitespace() || c == ')').next()?;
        let word = word.trim_end_matches('.');
        word.contains('=').then(|| word.to_string())
    });
    match condition {
        Some(c) => format!("skipped by systemd: {c} does not hold here"),
        None => format!("skipped by systemd: a Condition of {unit}.service does not hold here"),
    }
}

/// Which host holds each VIP and each mailbox pair address, from the addresses the hosts
/// report.
fn vip_status(cluster: &Cluster, addresses: &[(String, Option<Vec<String>>)]) -> Vec<VipStatus> {
    let vips = cluster.vips.iter().map(|v| (v.address, v.hosts.clone(), None));
    // A pair address: its owner first, then the partner that takes it over.
    let pairs = cluster.pairs.iter().flat_map(|p| {
        [(0, 1), (1, 0)].map(|(o, q)| (p.addresses[o], vec![p.hosts[o].clone(), p.hosts[q].clone()], Some(())))
    });
    vips.chain(pairs)
        .filter(|(_, hosts, _)| hosts.iter().any(|h| addresses.iter().any(|(name, _)| name == h)))
        .map(|(address, hosts, paired)| {
            let accounts_of = paired.map(|_| hosts[0].clone());
            let address = address.to_string();
            let holders: Vec<String> = addresses
                .iter()
                .filter(|(_, a)| a.as_ref().is_some_and(|a| a.contains(&address)))
                .map(|(name, _)| name.clone())
                .collect();
            let unasked: Vec<&String> =
                hosts.iter().filter(|h| !addresses.iter().any(|(n, a)| n == *h && a.is_some())).collect();
            let detail = match holders.len() {
                1 => match &accounts_of {
                    Some(owner) if holders[0] != *owner => format!(
                        "held by {} (serves {owner}'s accounts: failed over; `mailctl failback {owner}` once {owner} is back)",
                        holders[0]
                    ),
                    Some(owner) => format!("held by {owner} (its own accounts)"),
                    None => format!("held by {}", holders[0]),
                },
                0 if !unasked.is_empty() => format!(
                    "held by no host that answered ({} could not be asked)",
                    unasked.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
                0 => "held by no host: clients cannot reach the service".into(),
                _ => format!("held by {} at once (split brain)", holders.join(" and ")),
            };
            VipStatus { address, ok: holders.len() == 1, hosts, holders, detail, accounts_of }
        })
        .collect()
}

/// A pair member serving its partner's accounts says so on its `replication` line: the
/// cluster works, but on one host for two.
fn annotate_failovers(hosts: &mut [HostStatus], vips: &[VipStatus]) {
    for v in vips {
        let (Some(owner), [holder]) = (&v.accounts_of, &v.holders[..]) else { continue };
        if holder == owner {
            continue;
        }
        let Some(h) = hosts.iter_mut().find(|h| h.name == *holder) else { continue };
        for s in h.services.iter_mut().filter(|s| s.name == "replication" && s.state == State::Running) {
            s.warnings.push(format!(
                "serves {owner}'s accounts ({}): failed over; `mailctl failback {owner}` once {owner} is back",
                v.address
            ));
        }
    }
}

/// keepalived's line says what its host does for each VIP.
fn annotate_keepalived(hosts: &mut [HostStatus], vips: &[VipStatus]) {
    for h in hosts.iter_mut() {
        let roles: Vec<String> = vips
            .iter()
            .filter(|v| v.hosts.contains(&h.name))
            .map(|v| {
                let part = if v.holders.contains(&h.name) { "holds" } else { "standby for" };
                format!("{part} {}", v.address)
            })
            .collect();
        for s in h.services.iter_mut().filter(|s| s.name == "keepalived" && s.state == State::Running) {
            if !roles.is_empty() {
                s.detail = roles.join(", ");
            }
        }
    }
}

/// The VM state of the Proxmox-backed hosts among `hosts`, in one API call.
async fn vm_states(cluster: &Cluster, hosts: &[&str], timeout: Duration) -> HashMap<String, VmStatus> {
    if hosts.is_empty() {
        return HashMap::new();
    }
    let found = crate::proxmox::vm_states(cluster, timeout).await.map_err(|e| format!("{e:#}"));
    hosts
        .iter()
        .map(|name| {
            let status = match &found {
                Ok(states) => match states.get(*name) {
                    Some(vm) => VmStatus {
                        vmid: Some(vm.vmid),
                        node: Some(vm.node.clone()),
                        status: vm.status.clone(),
                        error: None,
                    },
                    None => VmStatus { vmid: None, node: None, status: "absent".into(), error: None },
                },
                Err(e) => VmStatus { vmid: None, node: None, status: "unknown".into(), error: Some(e.clone()) },
            };
            (name.to_string(), status)
        })
        .collect()
}

fn summarize(hosts: &[HostStatus], vips: &[VipStatus]) -> Summary {
    let mut s = Summary { hosts: hosts.len(), vips: vips.len(), ..Summary::default() };
    for h in hosts {
        if let Some(vm) = &h.vm {
            s.vms += 1;
            s.vms_down += usize::from(!vm.is_running() && !vm.is_unknown());
            s.vms_unknown += usize::from(vm.is_unknown());
        }
        s.unreachable += usize::from(!h.reachable);
        for svc in &h.services {
            s.services += 1;
            match svc.state {
                State::Running => s.running += 1,
                State::Stopped => s.stopped += 1,
                State::Skipped => s.skipped += 1,
                State::Unknown => s.unknown += 1,
            }
            if let Some(p) = &svc.probe {
                s.probes += 1;
                s.probes_failed += usize::from(!p.ok);
            }
            s.warnings += usize::from(!svc.warnings.is_empty());
        }
    }
    s.vips_failed = vips.iter().filter(|v| !v.ok).count();
    s.ok = s.unreachable == 0
        && s.stopped == 0
        && s.unknown == 0
        && s.vips_failed == 0
        && s.vms_down == 0
        && s.vms_unknown == 0;
    s
}

/// Seconds to the millisecond: finer digits are noise in a report.
pub fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_unit_names_its_condition_in_either_systemds_words() {
        let with = |line: &str| UnitState { log: vec![line.to_string()], ..Default::default() };
        let debian_12 =
            "chrony.service was skipped because of an unmet condition check (ConditionCapability=CAP_SYS_TIME).";
        let debian_13 = "chrony.service - chrony, an NTP client/server skipped, unmet condition check ConditionCapability=CAP_SYS_TIME";
        for line in [debian_12, debian_13] {
            assert_eq!(
                skipped_detail("chrony", &with(line)),
                "skipped by systemd: ConditionCapability=CAP_SYS_TIME does not hold here"
            );
        }
        assert_eq!(
            skipped_detail("chrony", &with("Condition: start condition unmet")),
            "skipped by systemd: a Condition of chrony.service does not hold here"
        );
    }
}
