//! Which services a host runs, derived from its roles and the inventory (the same facts the
//! playbook uses to install them), with the systemd unit and the protocol probe for each.

use crate::inventory::model::{Cluster, Host, Role};
use crate::render::context::{DOVEADM_PORT, LMTP_PORT};

/// How the admin machine checks that a service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// rootDSE search on port 389.
    Ldap,
    /// Banner, then EHLO (SMTP) or LHLO (LMTP).
    Smtp {
        port: u16,
    },
    Lmtp {
        port: u16,
    },
    /// Greeting, then CAPABILITY.
    Imap {
        port: u16,
    },
    Pop3 {
        port: u16,
    },
    /// An HTTP request for `/`, any non-5xx status answers.
    Http {
        port: u16,
        host_header: String,
    },
    /// An authoritative answer for the zone's SOA.
    Dns {
        zone: String,
    },
    /// sshd: judged by mailctl's own SSH session to the host (login, one command), so the
    /// host is not made to fork a second sshd just for a banner.
    Ssh {
        port: u16,
    },
    /// A TCP connection is accepted (doveadm speaks an authenticated protocol first).
    Tcp {
        port: u16,
    },
}

impl Probe {
    /// The short name of the protocol, as in output and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Ldap => "ldap",
            Probe::Smtp { .. } => "smtp",
            Probe::Lmtp { .. } => "lmtp",
            Probe::Imap { .. } => "imap",
            Probe::Pop3 { .. } => "pop3",
            Probe::Http { .. } => "http",
            Probe::Dns { .. } => "dns",
            Probe::Ssh { .. } => "ssh",
            Probe::Tcp { .. } => "tcp",
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Probe::Ldap => 389,
            Probe::Dns { .. } => 53,
            Probe::Smtp { port }
            | Probe::Lmtp { port }
            | Probe::Imap { port }
            | Probe::Pop3 { port }
            | Probe::Http { port, .. }
            | Probe::Ssh { port }
            | Probe::Tcp { port } => *port,
        }
    }
}

/// One line of `mailctl status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    /// The role that brings it, or `None` for what every host runs.
    pub role: Option<Role>,
    pub unit: &'static str,
    pub probe: Option<Probe>,
}

/// Every service name `status` knows, for `--service` and its error message.
pub const NAMES: [&str; 17] = [
    "sshd",
    "chrony",
    "ldap",
    "smtp",
    "submission",
    "ratelimit",
    "imap",
    "pop3",
    "lmtp",
    "doveadm",
    "imap-proxy",
    "pop3-proxy",
    "sasl",
    "nginx",
    "haproxy",
    "keepalived",
    "dns",
];

/// The services of one host, in a stable order: roles in stage order, the base last.
pub fn for_host(cluster: &Cluster, host: &Host) -> Vec<Service> {
    let svc = |name, role, unit, probe| Service { name, role, unit, probe };
    let mut out = Vec::new();
    if host.has(Role::Ldap) {
        out.push(svc("ldap", Some(Role::Ldap), "slapd", Some(Probe::Ldap)));
    }
    if host.has(Role::Mailbox) {
        let r = Some(Role::Mailbox);
        out.push(svc("imap", r, "dovecot", Some(Probe::Imap { port: 143 })));
        out.push(svc("pop3", r, "dovecot", Some(Probe::Pop3 { port: 110 })));
        out.push(svc("lmtp", r, "dovecot", Some(Probe::Lmtp { port: LMTP_PORT })));
        out.push(svc("doveadm", r, "dovecot", Some(Probe::Tcp { port: DOVEADM_PORT })));
    }
    if host.has(Role::Mta) {
        let r = Some(Role::Mta);
        // postfix.service is a oneshot that stays "active" when the master dies; the
        // instance unit is the daemon.
        out.push(svc("smtp", r, "postfix@-", Some(Probe::Smtp { port: 25 })));
        if host.mta.submission {
            out.push(svc("submission", r, "postfix@-", Some(Probe::Smtp { port: 587 })));
        }
        if cluster.rate_limit.is_some() {
            out.push(svc("ratelimit", r, "policyd-rate-limit", None));
        }
        if !host.has(Role::Mailbox) && !host.has(Role::Proxy) {
            // Dovecot runs here only to authenticate SMTP submission for Postfix.
            out.push(svc("sasl", r, "dovecot", None));
        }
    }
    if host.has(Role::Proxy) {
        let r = Some(Role::Proxy);
        // On a host that is also a mailbox, one Dovecot serves both and the mailbox lines
        // already probe its ports.
        if !host.has(Role::Mailbox) {
            out.push(svc("imap-proxy", r, "dovecot", Some(Probe::Imap { port: 143 })));
            out.push(svc("pop3-proxy", r, "dovecot", Some(Probe::Pop3 { port: 110 })));
        }
        let host_header = cluster.public_name.clone();
        out.push(svc("nginx", r, "nginx", Some(Probe::Http { port: 80, host_header })));
        if host.proxy.haproxy {
            out.push(svc("haproxy", r, "haproxy", Some(Probe::Smtp { port: 25 })));
        }
    }
    if host.has(Role::Dns) {
        let zone = cluster.domains.first().cloned().unwrap_or_default();
        out.push(svc("dns", Some(Role::Dns), "named", Some(Probe::Dns { zone })));
    }
    if cluster.vips.iter().any(|v| v.hosts.contains(&host.name)) {
        out.push(svc("keepalived", None, "keepalived", None));
    }
    out.push(svc("chrony", None, "chrony", None));
    let ssh_port = host.ssh.port.unwrap_or(22);
    out.push(svc("sshd", None, "ssh", Some(Probe::Ssh { port: ssh_port })));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Cluster {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/inventories/lab.yaml");
        crate::inventory::load(std::path::Path::new(path)).unwrap().cluster
    }

    fn names(cluster: &Cluster, host: &str) -> Vec<&'static str> {
        for_host(cluster, cluster.host(host).unwrap()).iter().map(|s| s.name).collect()
    }

    #[test]
    fn roles_bring_their_services() {
        let c = lab();
        assert_eq!(names(&c, "ldap"), ["ldap", "dns", "chrony", "sshd"]);
        assert_eq!(names(&c, "mbox-1"), ["imap", "pop3", "lmtp", "doveadm", "chrony", "sshd"]);
        assert_eq!(
            names(&c, "transport"),
            ["smtp", "submission", "imap-proxy", "pop3-proxy", "nginx", "chrony", "sshd"]
        );
    }

    #[test]
    fn every_service_name_is_listed() {
        for file in ["tgg", "lvlogistics", "hudedu", "excellent", "smknh", "lab"] {
            let path = format!("{}/inventories/{file}.yaml", env!("CARGO_MANIFEST_DIR"));
            let c = crate::inventory::load(std::path::Path::new(&path)).unwrap().cluster;
            for h in &c.hosts {
                for s in for_host(&c, h) {
                    assert!(NAMES.contains(&s.name), "{} is not in NAMES", s.name);
                }
            }
        }
    }
}
