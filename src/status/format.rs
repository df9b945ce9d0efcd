//! The status report in the shapes its readers want: `zmcontrol status` for people who know
//! Zimbra, a table on a terminal, a Nagios plugin line, and Prometheus text exposition for
//! node_exporter's textfile collector. JSON is the report itself (serde).

use std::fmt::Write;

use super::{State, StatusReport};

/// Width of the service column, as `zmcontrol status` pads it.
const ZM_WIDTH: usize = 24;

/// `Host <fqdn>`, then a tab-indented line per service; under one that is not running its
/// reasons, indented once more.
pub fn zmcontrol(r: &StatusReport) -> String {
    let mut out = String::new();
    for h in &r.hosts {
        let _ = writeln!(out, "Host {}", h.fqdn);
        // The VM first: a stopped VM explains an unreachable host.
        if let Some(vm) = &h.vm {
            let word = match vm.status.as_str() {
                "running" => "Running",
                "unknown" => "Unknown",
                _ => "Stopped",
            };
            let _ = writeln!(out, "\t{:<ZM_WIDTH$}{word}", "vm");
            if !vm.is_running() {
                let _ = writeln!(out, "\t\t{}", vm.describe());
            }
        }
        if let Some(e) = &h.error {
            let _ = writeln!(out, "\tUnreachable\n\t\t{e}");
            continue;
        }
        for s in &h.services {
            let word = match s.state {
                State::Running => "Running",
                State::Stopped => "Stopped",
                State::Skipped => "Skipped",
                State::Unknown => "Unknown",
            };
            let _ = writeln!(out, "\t{:<ZM_WIDTH$}{word}", s.name);
            let why: Vec<&str> = match s.state {
                State::Running => s.warnings.iter().map(String::as_str).collect(),
                State::Skipped => vec![s.detail.as_str()],
                _ => s.reasons.iter().map(String::as_str).collect(),
            };
            for line in why {
                let _ = writeln!(out, "\t\t{line}");
            }
        }
    }
    for v in &r.vips {
        let _ = writeln!(out, "{} {}\n\t{}", v.label(), v.address, v.detail);
    }
    out
}

/// The terminal view: one row per service, then what is wrong, then a summary line.
pub fn table(r: &StatusReport) -> String {
    let mut t = crate::ui::table(["host", "role", "service", "unit", "probe", "detail"]);
    for h in &r.hosts {
        if let Some(vm) = &h.vm {
            let state = if vm.is_running() { "running".to_string() } else { vm.status.to_uppercase() };
            t.add_row([h.name.clone(), "proxmox".into(), "vm".into(), state, "-".into(), vm.describe()]);
        }
        for s in &h.services {
            let unit = match &s.unit_state {
                Some(u) if u.is_skipped() => format!("{}: skipped", s.unit),
                Some(u) => format!("{}: {}", s.unit, u.active),
                None => format!("{}: ?", s.unit),
            };
            let probe = match &s.probe {
                Some(p) if p.ok => format!("{} ok {:.0} ms", p.kind, p.latency_ms),
                Some(p) => format!("{} FAILED", p.kind),
                None => "-".into(),
            };
            let detail = match (s.reasons.is_empty(), s.warnings.is_empty()) {
                (false, _) => s.reasons.join("\n"),
                (true, false) => s.warnings.iter().map(|w| format!("WARNING: {w}")).collect::<Vec<_>>().join("\n"),
                (true, true) => clip(&s.detail, 60),
            };
            t.add_row([h.name.clone(), s.role.clone(), s.name.clone(), unit, probe, detail]);
        }
    }
    let mut out = format!("{t}\n");
    for h in r.hosts.iter().filter(|h| !h.reachable) {
        let _ = writeln!(out, "{}: unreachable over SSH: {}", h.name, h.error.as_deref().unwrap_or_default());
    }
    for v in &r.vips {
        let _ = writeln!(out, "{} {}: {}", v.label(), v.address, v.detail);
    }
    for h in r.hosts.iter().filter(|h| h.vm.as_ref().is_some_and(|v| !v.is_running())) {
        let _ = writeln!(out, "{}: {}", h.name, h.vm.as_ref().map(|v| v.describe()).unwrap_or_default());
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{}: {} host(s), {} unreachable; {} service(s): {} running, {} stopped, {} skipped, {} unknown, {} warning(s) ({:.2} s)",
        if s.ok { "OK" } else { "PROBLEM" },
        s.hosts,
        s.unreachable,
        s.services,
        s.running,
        s.stopped,
        s.skipped,
        s.unknown,
        s.warnings,
        r.seconds
    );
    out
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}

/// Nagios plugin states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NagiosState {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

/// CRITICAL when a service is stopped or fails its probe (an expired or untrusted
/// certificate included), or a VIP is not held by exactly one host; WARNING when a host
/// cannot be asked over SSH but everything probed answers, or a certificate expires soon.
pub fn nagios_state(r: &StatusReport) -> NagiosState {
    let s = &r.summary;
    if s.stopped > 0 || s.vips_failed > 0 || s.vms_down > 0 {
        NagiosState::Critical
    } else if s.unreachable > 0 || s.unknown > 0 || s.vms_unknown > 0 || s.warnings > 0 {
        NagiosState::Warning
    } else if s.services == 0 {
        NagiosState::Unknown
    } else {
        NagiosState::Ok
    }
}

/// One status line with perfdata, then one line per problem (Nagios long output).
pub fn nagios(r: &StatusReport) -> String {
    let state = nagios_state(r);
    let word = match state {
        NagiosState::Ok => "OK",
        NagiosState::Warning => "WARNING",
        NagiosState::Critical => "CRITICAL",
        NagiosState::Unknown => "UNKNOWN",
    };
    let mut problems = Vec::new();
    for h in &r.hosts {
        let down: Vec<&str> =
            h.services.iter().filter(|s| s.state == State::Stopped).map(|s| s.name.as_str()).collect();
        if let Some(vm) = h.vm.as_ref().filter(|v| !v.is_running()) {
            problems.push(format!("{} VM {}", h.name, vm.status));
        }
        if !h.reachable {
            problems.push(format!("{} unreachable over SSH", h.name));
        }
        if !down.is_empty() {
            problems.push(format!("{}: {} stopped", h.name, down.join(", ")));
        }
        for svc in h.services.iter().filter(|s| !s.warnings.is_empty()) {
            problems.push(format!("{}/{}: {}", h.name, svc.name, svc.warnings.join("; ")));
        }
    }
    problems.extend(r.vips.iter().filter(|v| !v.ok).map(|v| format!("{} {} {}", v.label(), v.address, v.detail)));
    let s = &r.summary;
    let text = if problems.is_empty() {
        let skipped = if s.skipped > 0 { format!(", {} skipped by design", s.skipped) } else { String::new() };
        format!("{} hosts, {} services running{skipped}", s.hosts, s.running)
    } else {
        problems.join("; ")
    };
    let perf = format!(
        "hosts={};;;0 unreachable={};;;0 services={};;;0 running={};;;0 stopped={};;;0 skipped={};;;0 \
         probes_failed={};;;0 vms_down={};;;0 warnings={};;;0 time={:.3}s;;;0",
        s.hosts,
        s.unreachable,
        s.services,
        s.running,
        s.stopped,
        s.skipped,
        s.probes_failed,
        s.vms_down,
        s.warnings,
        r.seconds
    );
    let mut out = format!("MAILCTL {word} - {text} | {perf}\n");
    for h in &r.hosts {
        for svc in h.services.iter().filter(|s| s.state == State::Stopped) {
            let _ = writeln!(out, "{}/{}: {}", h.name, svc.name, svc.reasons.join("; "));
        }
        if let Some(e) = &h.error {
            let _ = writeln!(out, "{}: {e}", h.name);
        }
        if let Some(vm) = h.vm.as_ref().filter(|v| !v.is_running()) {
            let _ = writeln!(out, "{}/vm: {}", h.name, vm.describe());
        }
    }
    out
}

/// Prometheus text exposition (format 0.0.4), which node_exporter's textfile collector reads.
/// Hand-written: the format is a few lines of text, and the client crates are built around a
/// long-lived registry rather than a one-shot dump.
pub fn prometheus(r: &StatusReport) -> String {
    let mut m = Metrics::default();
    let c = &r.cluster;
    m.family("mailctl_host_up", "Whether the host answered over SSH (1) or not (0).");
    for h in &r.hosts {
        m.sample(&[("cluster", c), ("host", &h.name)], f64::from(u8::from(h.reachable)));
    }
    m.family("mailctl_service_up", "Whether the service is running (1; skipped by design counts) or not (0).");
    for h in &r.hosts {
        for s in &h.services {
            let labels = [("cluster", c.as_str()), ("host", &h.name), ("role", &s.role), ("service", &s.name)];
            m.sample(&labels, f64::from(u8::from(s.state.is_ok())));
        }
    }
    m.family("mailctl_unit_active", "Whether systemd reports the service's unit active (absent when unknown).");
    for h in &r.hosts {
        for s in &h.services {
            if let Some(u) = &s.unit_state {
                let labels = [("cluster", c.as_str()), ("host", &h.name), ("service", &s.name), ("unit", &s.unit)];
                m.sample(&labels, f64::from(u8::from(u.is_active())));
            }
        }
    }
    let probes: Vec<_> = r
        .hosts
        .iter()
        .flat_map(|h| h.services.iter().filter_map(move |s| s.probe.as_ref().map(|p| (h, s, p))))
        .collect();
    m.family("mailctl_probe_success", "Whether the protocol probe of the service succeeded.");
    for (h, s, p) in &probes {
        let labels = [("cluster", c.as_str()), ("host", &h.name), ("service", &s.name), ("probe", p.kind)];
        m.sample(&labels, f64::from(u8::from(p.ok)));
    }
    m.family("mailctl_probe_duration_seconds", "How long the protocol probe took.");
    for (h, s, p) in &probes {
        let labels = [("cluster", c.as_str()), ("host", &h.name), ("service", &s.name), ("probe", p.kind)];
        m.sample(&labels, p.latency_ms / 1000.0);
    }
    let tls: Vec<_> = probes.iter().filter_map(|(h, s, p)| p.tls.as_ref().map(|t| (h, s, t))).collect();
    if !tls.is_empty() {
        m.family("mailctl_tls_certificate_expiry_days", "Days until the certificate the service presents expires.");
        for (h, s, t) in &tls {
            m.sample(&[("cluster", c.as_str()), ("host", &h.name), ("service", &s.name)], t.days_left as f64);
        }
        m.family(
            "mailctl_tls_certificate_verified",
            "Whether the service's certificate chain is trusted and names the host.",
        );
        for (h, s, t) in &tls {
            m.sample(
                &[("cluster", c.as_str()), ("host", &h.name), ("service", &s.name)],
                f64::from(u8::from(t.verified)),
            );
        }
    }
    let servers: Vec<_> = r
        .hosts
        .iter()
        .flat_map(|h| h.services.iter().flat_map(move |s| s.backend_servers.iter().map(move |b| (h, b))))
        .collect();
    if !servers.is_empty() {
        m.family(
            "mailctl_haproxy_server_up",
            "Whether HAProxy has the backend server in rotation (1) or not (0: down, maintenance).",
        );
        for (h, b) in servers {
            let labels = [("cluster", c.as_str()), ("host", &h.name), ("backend", &b.backend), ("server", &b.server)];
            m.sample(&labels, f64::from(u8::from(!b.is_down())));
        }
    }
    if !r.vips.is_empty() {
        m.family("mailctl_vip_holders", "How many hosts hold the VIP: 1 when healthy.");
        for v in &r.vips {
            m.sample(&[("cluster", c), ("address", &v.address)], v.holders.len() as f64);
        }
    }
    let vms: Vec<_> =
        r.hosts.iter().filter_map(|h| h.vm.as_ref().filter(|v| !v.is_unknown()).map(|v| (h, v))).collect();
    if !vms.is_empty() {
        m.family("mailctl_vm_running", "Whether the host's Proxmox VM runs (1) or not (0: stopped, paused, absent).");
        for (h, vm) in vms {
            let vmid = vm.vmid.map(|v| v.to_string()).unwrap_or_default();
            let node = vm.node.clone().unwrap_or_default();
            let labels = [("cluster", c.as_str()), ("host", &h.name), ("vmid", &vmid), ("node", &node)];
            m.sample(&labels, f64::from(u8::from(vm.is_running())));
        }
    }
    let replicating: Vec<_> = r
        .hosts
        .iter()
        .flat_map(|h| h.services.iter().filter_map(move |s| s.replication.as_ref().map(|st| (h, st))))
        .collect();
    if !replicating.is_empty() {
        type Field = fn(&super::replication::ReplicationState) -> f64;
        let families: [(&'static str, &str, Field); 4] = [
            ("mailctl_replication_lag_seconds", "How far behind the pair partner's copy may be (0: in sync).", |s| {
                s.lag_seconds as f64
            }),
            ("mailctl_replication_waiting", "Sync requests queued or waiting for a retry.", |s| s.waiting as f64),
            ("mailctl_replication_failing_accounts", "Accounts whose last sync with the partner failed.", |s| {
                s.failing as f64
            }),
            (
                "mailctl_replication_full_sync_age_seconds",
                "Since the oldest account's last full sync (-1: one never had one).",
                |s| s.full_sync_age_seconds.map(|a| a as f64).unwrap_or(-1.0),
            ),
        ];
        for (name, help, field) in families {
            m.family(name, help);
            for (h, st) in &replicating {
                m.sample(&[("cluster", c.as_str()), ("host", &h.name)], field(st));
            }
        }
    }
    m.family("mailctl_status_duration_seconds", "How long the whole status run took.");
    m.sample(&[("cluster", c)], r.seconds);
    m.family("mailctl_status_last_run_timestamp_seconds", "When the status run started (Unix time).");
    m.sample(&[("cluster", c)], r.checked_at_unix);
    m.out
}

#[derive(Default)]
struct Metrics {
    out: String,
    name: &'static str,
}

impl Metrics {
    fn family(&mut self, name: &'static str, help: &str) {
        self.name = name;
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} gauge");
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
        let _ = writeln!(self.out, "{}{{{}}} {value}", self.name, labels.join(","));
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::probe::ProbeResult;
    use super::super::units::UnitState;
    use super::super::*;
    use super::*;

    fn unit(active: &str, sub: &str) -> UnitState {
        UnitState {
            active: active.into(),
            sub: sub.into(),
            load: "loaded".into(),
            result: "success".into(),
            condition_met: true,
            since: "Sun 2026-11-22 10:00:00 UTC".into(),
            enabled: "enabled".into(),
            log: vec!["Stopped Dovecot.".into()],
        }
    }

    fn report() -> StatusReport {
        let probe = |ok: bool| ProbeResult {
            kind: "imap",
            target: "10.0.0.5:143".into(),
            ok,
            latency_ms: 1.5,
            detail: if ok { "IMAP4rev1".into() } else { "Connection refused (os error 111)".into() },
            tls: None,
            warning: None,
        };
        let svc = |name: &str, u: UnitState, ok: bool| {
            super::super::service_status(
                &services::Service {
                    name: name.to_string(),
                    role: Some(Role::Mailbox),
                    unit: "dovecot".to_string(),
                    probe: Some(services::Probe::Imap { port: 143 }),
                    tls: None,
                },
                Some(u),
                Some(probe(ok)),
            )
        };
        let hosts = vec![
            HostStatus {
                name: "mbox-1".into(),
                fqdn: "mbox-1.example.org".into(),
                address: "10.0.0.4".into(),
                roles: vec![Role::Mailbox],
                reachable: true,
                error: None,
                services: vec![svc("imap", unit("active", "running"), true)],
                vm: None,
            },
            HostStatus {
                name: "mbox-2".into(),
                fqdn: "mbox-2.example.org".into(),
                address: "10.0.0.5".into(),
                roles: vec![Role::Mailbox],
                reachable: true,
                error: None,
                services: vec![svc("imap", unit("inactive", "dead"), false)],
                vm: None,
            },
        ];
        let summary = summarize(&hosts, &[]);
        StatusReport {
            cluster: "t\"1".into(),
            checked_at: "2026-11-22T10:00:00Z".into(),
            checked_at_unix: 1.0,
            seconds: 0.25,
            summary,
            hosts,
            vips: vec![],
        }
    }

    #[test]
    fn zmcontrol_layout() {
        let text = zmcontrol(&report());
        let expected = "Host mbox-1.example.org\n\timap                    Running\nHost mbox-2.example.org\n\
\timap                    Stopped\n\t\tdovecot.service is inactive (dead) since Sun 2026-11-22 10:00:00 UTC\n\
\t\tlast log: Stopped Dovecot.\n\t\timap probe of 10.0.0.5:143 failed: Connection refused (os error 111)\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn mask_hides_secrets_quoted_from_journals() {
        let mut r = report();
        let s = &mut r.hosts[1].services[0];
        s.unit_state.as_mut().unwrap().log.push("auth_pass s3cretVRRP rejected".into());
        s.reasons.push("last log: auth_pass s3cretVRRP rejected".into());
        s.detail = s.reasons.join("; ");
        mask(&mut r, &crate::deploy::diff::Masker::new(["s3cretVRRP".to_string()]));
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("s3cretVRRP") && json.contains("auth_pass ******** rejected"), "{json}");
        assert!(!zmcontrol(&r).contains("s3cretVRRP"));
    }

    #[test]
    fn nagios_is_critical_with_perfdata() {
        let r = report();
        assert_eq!(nagios_state(&r), NagiosState::Critical);
        let text = nagios(&r);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("MAILCTL CRITICAL - mbox-2: imap stopped | hosts=2;;;0"), "{first}");
        assert!(text.contains("\nmbox-2/imap: dovecot.service is inactive"), "{text}");
    }

    /// mbox-1's certificate expires in 9 days: a warning in every format, not a failure.
    fn expiring() -> StatusReport {
        let mut r = report();
        r.hosts.truncate(1);
        let info = tls::TlsInfo {
            version: "TLSv1_3".into(),
            subject: "CN=mbox-1".into(),
            issuer: "CN=ca".into(),
            not_after: "2026-12-01T00:00:00Z".into(),
            days_left: 9,
            verified: true,
            problem: None,
        };
        let s = &mut r.hosts[0].services[0];
        let p = s.probe.as_mut().unwrap();
        p.warning = info.warning();
        p.tls = Some(info);
        s.warnings = p.warning.iter().cloned().collect();
        r.summary = summarize(&r.hosts, &[]);
        r
    }

    #[test]
    fn an_expiring_certificate_is_a_warning_in_every_format() {
        let r = expiring();
        assert!(r.summary.ok, "a warning is not a failure");
        assert_eq!(r.summary.warnings, 1);
        assert!(zmcontrol(&r).contains("\timap                    Running\n\t\tcertificate expires in 9 day(s)"));
        assert!(table(&r).contains("WARNING: certificate expires in 9 day(s)"));
        assert_eq!(nagios_state(&r), NagiosState::Warning);
        assert!(
            nagios(&r).starts_with("MAILCTL WARNING - mbox-1/imap: certificate expires in 9 day(s)"),
            "{}",
            nagios(&r)
        );
        let prom = prometheus(&r);
        assert!(
            prom.contains(
                "mailctl_tls_certificate_expiry_days{cluster=\"t\\\"1\",host=\"mbox-1\",service=\"imap\"} 9\n"
            ),
            "{prom}"
        );
        assert!(
            prom.contains("mailctl_tls_certificate_verified{cluster=\"t\\\"1\",host=\"mbox-1\",service=\"imap\"} 1\n")
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["hosts"][0]["services"][0]["probe"]["tls"]["days_left"], 9);
    }

    #[test]
    fn prometheus_escapes_labels() {
        let text = prometheus(&report());
        assert!(
            text.contains(
                "mailctl_service_up{cluster=\"t\\\"1\",host=\"mbox-2\",role=\"mailbox\",service=\"imap\"} 0\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE mailctl_probe_duration_seconds gauge\n"));
        assert!(text.contains("mailctl_probe_duration_seconds{cluster=\"t\\\"1\",host=\"mbox-1\",service=\"imap\",probe=\"imap\"} 0.0015\n"));
    }
}
