//! systemd's view of units, read one way for deploy and status: one `systemctl show` for
//! many units, its blocks parsed into `UnitState`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::remote::quote;

const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,Result,ConditionResult,StateChangeTimestamp,UnitFileState";

/// One unit as systemd sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitState {
    /// active, inactive, failed, activating, ... (systemd's ActiveState).
    pub active: String,
    /// running, exited, dead, ... (SubState).
    pub sub: String,
    /// loaded, not-found, masked (LoadState).
    pub load: String,
    /// success, exit-code, signal, ... (Result).
    pub result: String,
    /// False when systemd skipped the unit because a Condition*= did not hold.
    pub condition_met: bool,
    pub since: String,
    /// enabled, disabled, static, masked, ... (UnitFileState; empty when not installed).
    /// Deploy's concern; not in status's JSON.
    #[serde(skip)]
    pub enabled: String,
    /// The unit's last journal lines when it is not active.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

impl UnitState {
    pub fn is_active(&self) -> bool {
        self.active == "active" || self.active == "reloading"
    }

    /// Enabled to start at boot (or started by another unit).
    pub fn is_enabled(&self) -> bool {
        !matches!(self.enabled.as_str(), "" | "disabled" | "masked" | "not-found")
    }

    /// Not running because its condition does not hold here (chrony without CAP_SYS_TIME in
    /// a container): by design, not a fault.
    pub fn is_skipped(&self) -> bool {
        !self.is_active() && !self.condition_met && self.result == "success"
    }

    /// "inactive (dead) since <time>, result exit-code": what zmcontrol prints as a reason.
    pub fn describe(&self) -> String {
        if self.load == "not-found" {
            return "not installed (unit not found)".to_string();
        }
        let mut s = format!("{} ({})", self.active, self.sub);
        if !self.since.is_empty() {
            s += &format!(" since {}", self.since);
        }
        if self.result != "success" && !self.result.is_empty() {
            s += &format!(", result {}", self.result);
        }
        s
    }
}

/// `systemctl show` of `units` (names without `.service`): one block per unit.
pub fn show_command(units: &[&str]) -> String {
    let list: Vec<String> = units.iter().map(|u| quote(&format!("{u}.service"))).collect();
    format!("systemctl show --property={PROPERTIES} -- {}", list.join(" "))
}

/// The blocks of `systemctl show` (lines up to the first that starts with `@@`), by unit
/// name without `.service`; the lines after are returned for the caller.
pub fn parse_show<'a>(lines: &mut impl Iterator<Item = &'a str>) -> (BTreeMap<String, UnitState>, Option<&'a str>) {
    let mut units = BTreeMap::new();
    let mut props: BTreeMap<&str, &str> = BTreeMap::new();
    let flush = |props: &mut BTreeMap<&str, &str>, units: &mut BTreeMap<String, UnitState>| {
        if let Some(id) = props.get("Id") {
            let get = |k: &str| props.get(k).copied().unwrap_or_default().to_string();
            let state = UnitState {
                active: get("ActiveState"),
                sub: get("SubState"),
                load: get("LoadState"),
                result: get("Result"),
                condition_met: get("ConditionResult") != "no",
                since: get("StateChangeTimestamp"),
                enabled: get("UnitFileState"),
                log: Vec::new(),
            };
            units.insert(id.trim_end_matches(".service").to_string(), state);
        }
        props.clear();
    };
    let mut stop = None;
    for line in lines.by_ref() {
        if line.starts_with("@@") {
            stop = Some(line);
            break;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                props.insert(k, v);
            }
            None if line.is_empty() => flush(&mut props, &mut units),
            None => {}
        }
    }
    flush(&mut props, &mut units);
    (units, stop)
}
