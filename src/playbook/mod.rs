//! The playbook: which components (a service with its packages, files, checker and handler)
//! each role brings, and the stage order. Loaded from playbooks/cluster.yaml, which is data.

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
    fn of(role: Role) -> Stage {
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
    fn role(self) -> Option<Role> {
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

impl Playbook {
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
