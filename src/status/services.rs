//! Which services a host runs, read from the playbook (the same components and conditions
//! render uses to install them), with the systemd unit and the protocol probe for each.

use crate::inventory::model::{Cluster, Host, Role};
pub use crate::playbook::TlsMode;
use crate::playbook::{
    Component, Playbook, PlaybookError, ProbeKind, ProbeSpec, RoleSelector, Stage, applies, per_release,
};
use crate::render::context::conditions;

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
    /// Roundcube's login form at `/`, with status 200.
    Webmail {
        port: u16,
        host_header: String,
    },
    /// The ManageSieve greeting ends in OK.
    Managesieve {
        port: u16,
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
    /// Asked on the host itself, in status's one SSH command (src/status/units.rs): for
    /// daemons that listen on the host's loopback only.
    OnHost(OnHostCheck),
}

/// What a host checks of itself for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OnHostCheck {
    Rspamd,
    Redis,
    Clamd,
    Replication,
}

impl OnHostCheck {
    pub fn name(self) -> &'static str {
        match self {
            OnHostCheck::Rspamd => "rspamd",
            OnHostCheck::Redis => "redis",
            OnHostCheck::Clamd => "clamd",
            OnHostCheck::Replication => "replication",
        }
    }
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
            Probe::Webmail { .. } => "webmail",
            Probe::Managesieve { .. } => "managesieve",
            Probe::Dns { .. } => "dns",
            Probe::Ssh { .. } => "ssh",
            Probe::Tcp { .. } => "tcp",
            Probe::OnHost(c) => c.name(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Probe::Ldap => 389,
            Probe::Dns { .. } => 53,
            Probe::OnHost(_) => 0,
            Probe::Smtp { port }
            | Probe::Lmtp { port }
            | Probe::Imap { port }
            | Probe::Pop3 { port }
            | Probe::Http { port, .. }
            | Probe::Webmail { port, .. }
            | Probe::Managesieve { port }
            | Probe::Ssh { port }
            | Probe::Tcp { port } => *port,
        }
    }
}

/// One line of `mailctl status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// The role that brings it, or `None` for what every host runs.
    pub role: Option<Role>,
    pub unit: String,
    pub probe: Option<Probe>,
    /// The probe speaks TLS, so the certificate is judged too.
    pub tls: Option<TlsMode>,
}

/// The services of one host, as the playbook describes them: each component the host gets
/// (its roles and `when`, judged as render judges them) yields its status entries whose own
/// role and `when` hold. Ordered by stage, what every host runs last, then playbook order.
pub fn for_host(playbook: &Playbook, cluster: &Cluster, host: &Host) -> Result<Vec<Service>, PlaybookError> {
    let ctx = conditions(cluster, host);
    let invalid = |c: &Component, e: minijinja::Error| PlaybookError::Invalid {
        component: c.name.clone(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    for c in &playbook.components {
        if playbook.stage_for(c, host).is_none() || !applies(&c.when, &ctx).map_err(|e| invalid(c, e))? {
            continue;
        }
        for st in &c.status {
            let wanted = st.role.is_none_or(|r| host.has(r)) && applies(&st.when, &ctx).map_err(|e| invalid(c, e))?;
            if !wanted {
                continue;
            }
            let unit = st.unit.clone().or_else(|| c.service.as_ref().map(|s| s.unit.clone())).unwrap_or_default();
            let unit = per_release(&unit, &ctx).map_err(|e| invalid(c, e))?;
            let role = st.role.or_else(|| component_role(c, host));
            let stage = role.map(|r| playbook.stage_index(Stage::of(r))).unwrap_or(usize::MAX);
            out.push((
                stage,
                Service {
                    name: st.name.clone(),
                    role,
                    unit,
                    probe: st.probe.as_ref().map(|p| probe(p, cluster, host)),
                    tls: st.probe.as_ref().and_then(|p| p.tls),
                },
            ));
        }
    }
    // A stable sort keeps playbook order within a stage.
    out.sort_by_key(|(stage, _)| *stage);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// The role a component is on this host for, or None when it is on every host.
fn component_role(c: &Component, host: &Host) -> Option<Role> {
    if c.roles.contains(&RoleSelector::All) {
        return None;
    }
    c.roles.iter().filter_map(|r| r.role()).find(|r| host.has(*r))
}

fn probe(spec: &ProbeSpec, cluster: &Cluster, host: &Host) -> Probe {
    let port = |default: u16| spec.port.unwrap_or(default);
    match spec.kind {
        ProbeKind::Ldap => Probe::Ldap,
        ProbeKind::Smtp => Probe::Smtp { port: port(25) },
        ProbeKind::Lmtp => Probe::Lmtp { port: port(24) },
        ProbeKind::Imap => Probe::Imap { port: port(143) },
        ProbeKind::Pop3 => Probe::Pop3 { port: port(110) },
        ProbeKind::Http => {
            let default = if spec.tls == Some(TlsMode::Implicit) { 443 } else { 80 };
            Probe::Http { port: port(default), host_header: cluster.public_name.clone() }
        }
        ProbeKind::Webmail => Probe::Webmail { port: port(443), host_header: cluster.public_name.clone() },
        ProbeKind::Managesieve => Probe::Managesieve { port: port(4190) },
        ProbeKind::Dns => Probe::Dns { zone: cluster.domains.first().cloned().unwrap_or_default() },
        ProbeKind::Ssh => Probe::Ssh { port: port(host.ssh.port.unwrap_or(22)) },
        ProbeKind::Tcp => Probe::Tcp { port: port(0) },
        ProbeKind::Rspamd => Probe::OnHost(OnHostCheck::Rspamd),
        ProbeKind::Redis => Probe::OnHost(OnHostCheck::Redis),
        ProbeKind::Clamd => Probe::OnHost(OnHostCheck::Clamd),
        ProbeKind::Replication => Probe::OnHost(OnHostCheck::Replication),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Cluster {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/inventories/lab.yaml");
        crate::inventory::load(std::path::Path::new(path)).unwrap().cluster
    }

    fn names(cluster: &Cluster, host: &str) -> Vec<String> {
        let pb = Playbook::builtin().unwrap();
        for_host(&pb, cluster, cluster.host(host).unwrap()).unwrap().into_iter().map(|s| s.name).collect()
    }

    #[test]
    fn roles_bring_their_services() {
        let c = lab();
        assert_eq!(names(&c, "ldap"), ["ldap", "dns", "chrony", "sshd"]);
        assert_eq!(
            names(&c, "mbox-1"),
            ["imap", "imaps", "pop3", "pop3s", "lmtp", "doveadm", "managesieve", "chrony", "sshd"]
        );
        assert_eq!(
            names(&c, "transport"),
            [
                "smtp",
                "submission",
                "submissions",
                "imap-proxy",
                "imaps-proxy",
                "pop3-proxy",
                "pop3s-proxy",
                "managesieve-proxy",
                "webmail",
                "php-fpm",
                "nginx",
                "https",
                "chrony",
                "sshd"
            ]
        );
    }

    #[test]
    fn units_that_carry_a_version_follow_the_hosts_release() {
        let pb = Playbook::builtin().unwrap();
        let mut c = lab();
        let unit = |c: &Cluster, host: &str, name: &str| {
            let all = for_host(&pb, c, c.host(host).unwrap()).unwrap();
            all.into_iter().find(|s| s.name == name).unwrap().unit
        };
        assert_eq!(
            (unit(&c, "transport", "php-fpm"), unit(&c, "transport", "smtp")),
            ("php8.2-fpm".into(), "postfix@-".into())
        );
        c.hosts.iter_mut().for_each(|h| h.os = crate::release::Os::Debian13);
        assert_eq!(
            (unit(&c, "transport", "php-fpm"), unit(&c, "transport", "smtp")),
            ("php8.4-fpm".into(), "postfix".into())
        );
    }

    #[test]
    fn every_field_inventory_gets_sshd_and_known_units() {
        let pb = Playbook::builtin().unwrap();
        for file in ["tgg", "lvlogistics", "hudedu", "excellent", "smknh", "lab"] {
            let path = format!("{}/inventories/{file}.yaml", env!("CARGO_MANIFEST_DIR"));
            let c = crate::inventory::load(std::path::Path::new(&path)).unwrap().cluster;
            for h in &c.hosts {
                let services = for_host(&pb, &c, h).unwrap();
                assert!(services.iter().any(|s| s.name == "sshd"), "{file}/{}", h.name);
                assert!(services.iter().all(|s| !s.unit.is_empty()), "{file}/{}", h.name);
            }
        }
    }
}
