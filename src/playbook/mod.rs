//! The playbook: which components (a service with its packages, files, checker and handler,
//! and the services `status` reports with their probes) each role brings, and the stage
//! order. Loaded from playbooks/cluster.yaml, which is data: adding a component is one edit
//! there (and its templates), no Rust.

use serde::{Deserialize, Serialize};

use crate::inventory::{Host, Role};

/// The playbook shipped inside the binary.
pub const BUILTIN: &str = include_str!("../../playbooks/cluster.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub stages: Vec<Stage>,
    pub components: Vec<Component>,
}

/// `base` runs first on every host; then one stage per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Base,
    Ldap,
    Mailbox,
    Mta,
    Proxy,
    Dns,
}

impl Stage {
    pub fn of(role: Role) -> Stage {
        match role {
            Role::Ldap => Stage::Ldap,
            Role::Mta => Stage::Mta,
            Role::Mailbox => Stage::Mailbox,
            Role::Proxy => Stage::Proxy,
            Role::Dns => Stage::Dns,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleSelector {
    All,
    Ldap,
    Mta,
    Mailbox,
    Proxy,
    Dns,
}

impl RoleSelector {
    pub fn role(self) -> Option<Role> {
        match self {
            RoleSelector::All => None,
            RoleSelector::Ldap => Some(Role::Ldap),
            RoleSelector::Mta => Some(Role::Mta),
            RoleSelector::Mailbox => Some(Role::Mailbox),
            RoleSelector::Proxy => Some(Role::Proxy),
            RoleSelector::Dns => Some(Role::Dns),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub roles: Vec<RoleSelector>,
    /// A template expression over the host context; the component applies only when true.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// debconf answers (`package question type value`) set before the packages install.
    #[serde(default)]
    pub debconf: Vec<String>,
    /// System users the service needs, created when missing, and group memberships.
    #[serde(default)]
    pub users: Vec<SystemUser>,
    #[serde(default)]
    pub directories: Vec<Directory>,
    #[serde(default)]
    pub service: Option<Service>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// What `mailctl status` reports for this component.
    #[serde(default)]
    pub status: Vec<StatusSpec>,
    /// Shell run on the host after the component's files are live and its unit is started,
    /// whenever something of it changed or its packages were just installed (creating a
    /// database, say). It must be idempotent: a deploy that failed later runs it again.
    #[serde(default)]
    pub setup: Option<String>,
}

/// One line of `mailctl status`: a service, the unit that runs it, the probe that checks it
/// from the admin machine.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSpec {
    pub name: String,
    /// Only on hosts with this role (and it is the role shown); absent: wherever the component
    /// is, shown as `base` when the component is on every host.
    #[serde(default)]
    pub role: Option<Role>,
    /// The systemd unit; absent: the component's service unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// A condition over the same context as the component's `when`.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub probe: Option<ProbeSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    /// Defaults by kind: smtp 25, lmtp 24, imap 143, pop3 110, http 80 (443 with TLS),
    /// webmail 443, managesieve 4190, ssh the host's SSH
    /// port; ldap (389) and dns (53) take none; tcp needs one.
    #[serde(default)]
    pub port: Option<u16>,
    /// The probe speaks TLS: `implicit` from the first byte (465, 993, 995, 443) or
    /// `starttls` after the protocol's own upgrade (smtp, imap, pop3); the certificate is
    /// judged (src/status/tls.rs).
    #[serde(default)]
    pub tls: Option<TlsMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Implicit,
    Starttls,
}

/// What a probe speaks (src/status/probe.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// A rootDSE search.
    Ldap,
    /// Banner, then EHLO.
    Smtp,
    /// Banner, then LHLO.
    Lmtp,
    /// Greeting, then CAPABILITY.
    Imap,
    Pop3,
    /// A request for `/` with the cluster's public name; any non-5xx status answers.
    Http,
    /// Roundcube's login page: `/` answers 200 with the login form (PHP and the database
    /// work, not only nginx).
    Webmail,
    /// ManageSieve's greeting, up to its OK.
    Managesieve,
    /// An authoritative SOA for the cluster's first domain.
    Dns,
    /// mailctl's own SSH session to the host.
    Ssh,
    /// A TCP connection is accepted.
    Tcp,
    /// Rspamd's controller answers `/ping` (asked on the host: it listens on loopback).
    Rspamd,
    /// Redis answers PING (on the host).
    Redis,
    /// clamd answers PING on its socket, and its signatures' age (on the host).
    Clamd,
    /// Dovecot's replicator: accounts waiting, failing, the lag and the last full sync (on
    /// a paired mailbox host).
    Replication,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub path: String,
    #[serde(default = "dir_mode")]
    pub mode: String,
    #[serde(default = "root")]
    pub owner: String,
    #[serde(default = "root")]
    pub group: String,
}

/// A user that must exist (created as a system user with `uid` and `home` when missing; a
/// user without `uid` comes from a package) and belong to `groups`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SystemUser {
    pub name: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub unit: String,
    pub on_change: Handler,
    /// Shell run on the host with the new files in place; non-zero exit rejects them.
    #[serde(default)]
    pub check: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Handler {
    Reload,
    Restart,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Target path; may use `{{ item... }}` with `foreach`.
    pub dest: String,
    /// Name under templates/.
    pub template: String,
    #[serde(default = "file_mode")]
    pub mode: String,
    #[serde(default = "root")]
    pub owner: String,
    #[serde(default = "root")]
    pub group: String,
    #[serde(default)]
    pub when: Option<String>,
    /// Name of a list in the host context; one file per element, bound to `item`.
    #[serde(default)]
    pub foreach: Option<String>,
}

fn dir_mode() -> String {
    "0755".to_string()
}

fn file_mode() -> String {
    "0644".to_string()
}

fn root() -> String {
    "root".to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("playbook: {0}")]
    Parse(String),
    #[error("playbook: component `{component}`: {message}")]
    Invalid { component: String, message: String },
}

/// Checks a status entry against its component.
fn check_status(c: &Component, st: &StatusSpec) -> Result<(), String> {
    if st.unit.is_none() && c.service.is_none() {
        return Err(format!("status `{}` names no unit and the component has no service", st.name));
    }
    if let Some(role) = st.role
        && !c.roles.iter().any(|r| *r == RoleSelector::All || r.role() == Some(role))
    {
        return Err(format!("status `{}` is for role {}, which does not bring the component", st.name, role.as_str()));
    }
    match st.probe.as_ref().map(|p| (p.kind, p.port)) {
        Some((ProbeKind::Ldap | ProbeKind::Dns, Some(_))) => {
            Err(format!("status `{}`: this probe takes no port", st.name))
        }
        Some((ProbeKind::Tcp, None)) => Err(format!("status `{}`: a tcp probe needs a port", st.name)),
        _ => check_tls(st),
    }
}

/// STARTTLS exists in SMTP, IMAP and POP3; implicit TLS also wraps HTTP.
fn check_tls(st: &StatusSpec) -> Result<(), String> {
    let Some(p) = &st.probe else { return Ok(()) };
    match (p.tls, p.kind) {
        (None, _)
        | (Some(TlsMode::Starttls), ProbeKind::Smtp | ProbeKind::Imap | ProbeKind::Pop3)
        | (
            Some(TlsMode::Implicit),
            ProbeKind::Smtp | ProbeKind::Imap | ProbeKind::Pop3 | ProbeKind::Http | ProbeKind::Webmail,
        ) => Ok(()),
        (Some(mode), kind) => Err(format!("status `{}`: a {kind:?} probe cannot speak {mode:?} TLS", st.name)),
    }
}

/// The environment `when` conditions are compiled and judged in.
pub fn condition_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// A playbook string that may differ between releases (`php{{ release.php }}-fpm`),
/// rendered on a host's context; plain strings come back as they are.
pub fn per_release(text: &str, ctx: &minijinja::Value) -> Result<String, minijinja::Error> {
    if text.contains("{{") { condition_env().render_str(text, ctx) } else { Ok(text.to_string()) }
}

/// A `when` condition judged on `ctx` (absent: always).
pub fn applies(when: &Option<String>, ctx: &minijinja::Value) -> Result<bool, minijinja::Error> {
    match when {
        None => Ok(true),
        Some(expr) => Ok(condition_env().compile_expression(expr)?.eval(ctx)?.is_true()),
    }
}

impl Playbook {
    /// Every status service name, sorted (for `status --service` and its error message).
    pub fn status_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.components.iter().flat_map(|c| c.status.iter().map(|s| s.name.as_str())).collect();
        names.sort_unstable();
        names
    }

    /// Every Debian package any component may install, sorted (what the lab's repository holds).
    pub fn all_packages(&self) -> Vec<String> {
        let mut p: Vec<String> = self.components.iter().flat_map(|c| c.packages.clone()).collect();
        p.sort();
        p.dedup();
        p
    }

    pub fn builtin() -> Result<Playbook, PlaybookError> {
        Playbook::parse(BUILTIN)
    }

    pub fn parse(text: &str) -> Result<Playbook, PlaybookError> {
        let pb: Playbook = serde_saphyr::from_str(text).map_err(|e| PlaybookError::Parse(e.to_string()))?;
        for c in &pb.components {
            let invalid = |message: String| PlaybookError::Invalid { component: c.name.clone(), message };
            for mode in c.files.iter().map(|f| &f.mode).chain(c.directories.iter().map(|d| &d.mode)) {
                if u32::from_str_radix(mode, 8).is_err() {
                    return Err(invalid(format!("mode `{mode}` is not octal")));
                }
            }
            if c.roles.is_empty() {
                return Err(invalid("lists no roles".to_string()));
            }
            let conditions = c.when.iter().chain(c.files.iter().filter_map(|f| f.when.as_ref()));
            for expr in conditions.chain(c.status.iter().filter_map(|st| st.when.as_ref())) {
                condition_env().compile_expression(expr).map_err(|e| invalid(format!("`{expr}`: {e}")))?;
            }
            for st in &c.status {
                check_status(c, st).map_err(invalid)?;
            }
        }
        let mut names: Vec<&str> =
            pb.components.iter().flat_map(|c| c.status.iter().map(|s| s.name.as_str())).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(PlaybookError::Parse(format!("status service `{}` is listed twice", w[0])));
        }
        Ok(pb)
    }

    /// The stage a component runs in on this host, or `None` if the host does not get it.
    /// (Its `when` condition is evaluated by the renderer, which has the context.)
    pub fn stage_for(&self, component: &Component, host: &Host) -> Option<Stage> {
        let stages = component.roles.iter().filter_map(|sel| match sel.role() {
            None => Some(Stage::Base),
            Some(role) => host.has(role).then(|| Stage::of(role)),
        });
        stages.min_by_key(|s| self.stage_index(*s))
    }

    pub fn stage_index(&self, stage: Stage) -> usize {
        self.stages.iter().position(|s| *s == stage).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_playbook_parses_and_orders_roles() {
        let pb = Playbook::builtin().unwrap();
        let order = [Stage::Base, Stage::Ldap, Stage::Mailbox, Stage::Mta, Stage::Proxy, Stage::Dns];
        assert_eq!(pb.stages, order);
        assert!(pb.components.iter().any(|c| c.name == "postfix"));
    }
}
