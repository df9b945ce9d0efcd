//! What a host says about itself over SSH, in one command: the systemd state of every unit
//! its services use, the last log lines of those that are down, and its IP addresses (to
//! find who holds each VIP).

use std::collections::BTreeMap;

use crate::remote::{RemoteError, RemoteHost};
pub use crate::systemd::UnitState;

const LOG_LINES: usize = 3;

/// What one host said.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub units: BTreeMap<String, UnitState>,
    pub addresses: Vec<String>,
}

/// Asks the host about `units` (names without `.service`).
pub async fn query(session: &dyn RemoteHost, units: &[&str]) -> Result<HostState, RemoteError> {
    let out = session.run_ok("status", &script(units)).await?;
    Ok(parse(&out.stdout_text()))
}

/// One `systemctl show` for all units; journalctl only for those not active. Few processes:
/// on a busy host (or a lab of many hosts on one machine) each spawn counts.
pub fn script(units: &[&str]) -> String {
    format!(
        "LC_ALL=C; export LC_ALL\n\
         show=$({show})\n\
         printf '%s\\n\\n' \"$show\"\n\
         down=$(printf '%s\\n\\n' \"$show\" | awk -F= '/^Id=/ {{ id = $2 }} /^ActiveState=/ {{ st = $2 }} \
         /^$/ {{ if (id != \"\" && st != \"active\" && st != \"reloading\") print id; id = \"\"; st = \"\" }}')\n\
         for u in $down; do\n\
         \x20 echo \"@@log $u\"\n\
         \x20 journalctl -u \"$u\" -n {LOG_LINES} --no-pager -o cat 2>/dev/null | while IFS= read -r l; do echo \"| $l\"; done\n\
         done\n\
         echo @@addresses\n\
         ip -o addr show 2>/dev/null | awk '{{print $4}}'\n",
        show = crate::systemd::show_command(units)
    )
}

pub fn parse(text: &str) -> HostState {
    let mut lines = text.lines();
    let (units, first) = crate::systemd::parse_show(&mut lines);
    let mut facts = HostState { units, addresses: Vec::new() };
    let mut current: Option<String> = None;
    let mut in_addresses = false;
    for line in first.into_iter().chain(lines) {
        if let Some(unit) = line.strip_prefix("@@log ") {
            current = Some(unit.trim_end_matches(".service").to_string());
        } else if line == "@@addresses" {
            current = None;
            in_addresses = true;
        } else if let (Some(u), Some(text)) = (&current, line.strip_prefix("| ")) {
            if let Some(state) = facts.units.get_mut(u) {
                state.log.push(crate::escape::line(text));
            }
        } else if in_addresses && !line.trim().is_empty() {
            // "10.99.0.5/24" → "10.99.0.5"
            let addr = line.trim().split('/').next().unwrap_or_default();
            facts.addresses.push(addr.to_string());
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Id=slapd.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n\
ConditionResult=yes\nStateChangeTimestamp=Sun 2026-11-22 10:00:00 UTC\n\n\
Id=dovecot.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\nConditionResult=yes\n\
StateChangeTimestamp=Sun 2026-11-22 10:05:00 UTC\n\n\
Id=chrony.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\nConditionResult=no\n\
StateChangeTimestamp=\n\n\
Id=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\nConditionResult=no\n\
StateChangeTimestamp=\n\
@@log dovecot.service\n| Stopping Dovecot IMAP/POP3 email server...\n| master: Warning: Killed with signal 15\n\
@@log chrony.service\n@@log nope.service\n@@addresses\n127.0.0.1/8\n10.99.0.5/24\n10.99.0.100/24\n::1/128\n";

    #[test]
    fn reads_units_logs_and_addresses() {
        let f = parse(SAMPLE);
        assert!(f.units["slapd"].is_active());
        let dovecot = &f.units["dovecot"];
        assert!(!dovecot.is_active() && !dovecot.is_skipped());
        assert_eq!(dovecot.describe(), "inactive (dead) since Sun 2026-11-22 10:05:00 UTC");
        assert_eq!(
            dovecot.log,
            ["Stopping Dovecot IMAP/POP3 email server...", "master: Warning: Killed with signal 15"]
        );
        assert!(f.units["chrony"].is_skipped());
        assert_eq!(f.units["nope"].describe(), "not installed (unit not found)");
        assert_eq!(f.addresses, ["127.0.0.1", "10.99.0.5", "10.99.0.100", "::1"]);
    }

    #[test]
    fn script_quotes_units() {
        let s = script(&["postfix@-", "ssh"]);
        assert!(
            s.contains("-- postfix@-.service ssh.service") || s.contains("-- 'postfix@-.service' ssh.service"),
            "{s}"
        );
        assert!(script(&["a;b"]).contains("'a;b.service'"));
    }
}
