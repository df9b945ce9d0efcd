//! The plan: the difference between a host's rendered desired state and its facts. Deploy
//! acts only on this difference, so a converged host gets nothing uploaded or restarted.

use serde::Serialize;
use sha2::Digest;

use super::facts::{HostFacts, PathFact};
use crate::playbook::{Directory, Handler, Stage, SystemUser};
use crate::render::{HostComponent, RenderedFile, RenderedHost};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not on the host yet.
    Create,
    /// Different content (and perhaps attributes).
    Content,
    /// Same content, other mode or owner.
    Attributes,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    #[serde(flatten)]
    pub file: RenderedFile,
    pub change: Change,
}

/// What happens to a component's unit after its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitAction {
    Start,
    Reload,
    Restart,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentPlan {
    pub name: String,
    pub stage: Stage,
    /// Users to create, or to add to the listed groups (only the missing ones).
    pub users: Vec<SystemUser>,
    pub directories: Vec<Directory>,
    pub files: Vec<FilePlan>,
    #[serde(skip)]
    pub check: Option<String>,
    pub unit: Option<String>,
    pub action: Option<UnitAction>,
    pub enable: bool,
    /// The component's setup command, when something of it changed this time.
    #[serde(skip)]
    pub setup: Option<String>,
}

impl ComponentPlan {
    pub fn is_noop(&self) -> bool {
        self.users.is_empty()
            && self.directories.is_empty()
            && self.files.is_empty()
            && self.action.is_none()
            && !self.enable
            && self.setup.is_none()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostPlan {
    pub host: String,
    pub packages: Vec<String>,
    #[serde(skip)]
    pub debconf: Vec<String>,
    pub components: Vec<ComponentPlan>,
}

impl HostPlan {
    pub fn is_noop(&self) -> bool {
        self.packages.is_empty() && self.components.iter().all(ComponentPlan::is_noop)
    }

    pub fn stages(&self) -> impl Iterator<Item = Stage> + '_ {
        self.components.iter().filter(|c| !c.is_noop()).map(|c| c.stage)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn plan(host: &RenderedHost, facts: &HostFacts) -> HostPlan {
    let mut packages: Vec<String> = Vec::new();
    let mut debconf: Vec<String> = Vec::new();
    for c in &host.components {
        for p in &c.packages {
            if !facts.installed.contains(p) && !packages.contains(p) {
                packages.push(p.clone());
                debconf.extend(c.debconf.iter().cloned());
            }
        }
    }
    let components = host.components.iter().map(|c| plan_component(c, host, facts)).collect();
    HostPlan { host: host.host.clone(), packages, debconf, components }
}

fn plan_component(c: &HostComponent, host: &RenderedHost, facts: &HostFacts) -> ComponentPlan {
    let users: Vec<SystemUser> = c
        .users
        .iter()
        .filter_map(|u| match facts.user_groups.get(&u.name) {
            None => Some(u.clone()),
            Some(has) => {
                let missing: Vec<String> = u.groups.iter().filter(|g| !has.contains(g)).cloned().collect();
                (!missing.is_empty()).then(|| SystemUser { groups: missing, ..u.clone() })
            }
        })
        .collect();
    let directories: Vec<Directory> = c
        .directories
        .iter()
        .filter(|d| {
            let mode = u32::from_str_radix(&d.mode, 8).unwrap_or(0o755);
            !attributes_match(facts.paths.get(&d.path), mode, &d.owner, &d.group)
        })
        .cloned()
        .collect();
    let files: Vec<FilePlan> = host
        .files
        .iter()
        .filter(|f| f.component == c.name)
        .filter_map(|f| {
            let change = file_change(f, facts.paths.get(&f.dest))?;
            Some(FilePlan { file: f.clone(), change })
        })
        .collect();
    let changed = !users.is_empty() || !directories.is_empty() || !files.is_empty();
    let fresh_packages = c.packages.iter().any(|p| !facts.installed.contains(p));
    let unit_fact = c.unit.as_ref().and_then(|u| facts.units.get(u));
    let running = unit_fact.is_some_and(|u| u.active == "active");
    let skipped = unit_fact.is_some_and(|u| !u.condition_met);
    let enabled = unit_fact.is_some_and(|u| u.is_enabled());
    let action = unit_action(c.unit.is_some(), running, skipped, changed, c.on_change);
    ComponentPlan {
        name: c.name.clone(),
        stage: c.stage,
        users,
        directories,
        files,
        check: c.check.clone(),
        unit: c.unit.clone(),
        action,
        enable: c.unit.is_some() && !enabled,
        setup: c.setup.clone().filter(|_| changed || fresh_packages),
    }
}

/// What to do with a component's unit. A unit systemd skipped by its own condition is left
/// alone while nothing changes (starting it again is futile), but started once its files
/// change: the condition may hold now (keepalived waits for a non-empty config).
fn unit_action(
    has_unit: bool,
    running: bool,
    skipped: bool,
    changed: bool,
    on_change: Option<Handler>,
) -> Option<UnitAction> {
    match (has_unit, running, changed) {
        (false, _, _) | (true, true, false) => None,
        (true, false, false) if skipped => None,
        (true, false, true) => Some(UnitAction::Restart), // a package may have started it meanwhile
        (true, false, false) => Some(UnitAction::Start),
        (true, true, true) => Some(match on_change {
            Some(Handler::Reload) => UnitAction::Reload,
            _ => UnitAction::Restart,
        }),
    }
}

fn file_change(f: &RenderedFile, fact: Option<&PathFact>) -> Option<Change> {
    let fact = match fact {
        None => return Some(Change::Create),
        Some(fact) => fact,
    };
    if fact.sha256.as_deref() != Some(sha256_hex(&f.content).as_str()) {
        Some(Change::Content)
    } else if !attributes_match(Some(fact), f.mode, &f.owner, &f.group) {
        Some(Change::Attributes)
    } else {
        None
    }
}

fn attributes_match(fact: Option<&PathFact>, mode: u32, owner: &str, group: &str) -> bool {
    fact.is_some_and(|p| p.mode == mode && p.owner == owner && p.group == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_actions() {
        let reload = Some(Handler::Reload);
        assert_eq!(unit_action(true, true, false, false, reload), None);
        assert_eq!(unit_action(true, true, false, true, reload), Some(UnitAction::Reload));
        assert_eq!(unit_action(true, true, false, true, None), Some(UnitAction::Restart));
        assert_eq!(unit_action(true, false, false, false, reload), Some(UnitAction::Start));
        // Skipped by its condition: left alone until its files change, then started (a
        // reload of an inactive unit would fail and leave it down).
        assert_eq!(unit_action(true, false, true, false, reload), None);
        assert_eq!(unit_action(true, false, true, true, reload), Some(UnitAction::Restart));
        assert_eq!(unit_action(false, false, false, true, reload), None);
    }
}
