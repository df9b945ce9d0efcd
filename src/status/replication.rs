//! A paired mailbox host's replication, from what Dovecot's replicator says on the host
//! (`doveadm replicator status`, then the same for every account): how many accounts wait,
//! how many fail, how far behind the partner's copy may be, and when the last full sync was.

use serde::Serialize;

use super::units::OnHostResult;

/// Behind by more than this is a warning: the replicator normally catches up in a second.
const LAG_WARNING_SECS: u64 = 300;
/// A full sync runs daily (templates/dovecot/2.3/dovecot.conf); two days without one is late.
const FULL_SYNC_WARNING_SECS: u64 = 2 * 86_400;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplicationState {
    /// Accounts the replicator knows (both members' accounts).
    pub users: u64,
    /// Sync requests queued now (all priorities), and failed ones waiting for a retry.
    pub waiting: u64,
    /// Accounts whose last sync failed (the partner down or refusing).
    pub failing: u64,
    /// How far behind the partner's copy may be: the oldest last successful sync among the
    /// accounts with a change waiting or a failed sync; 0 when everything is in sync.
    pub lag_seconds: u64,
    /// Since the oldest account's last full sync; None when one never had one.
    pub full_sync_age_seconds: Option<u64>,
}

/// Reads the `@@repl` lines; None when the replicator did not answer (they hold its error).
pub fn parse(lines: &[String]) -> Option<ReplicationState> {
    let split = lines.iter().position(|l| l == "@@users")?;
    let (summary, users) = (&lines[..split], &lines[split + 1..]);
    let mut state = ReplicationState::default();
    for line in summary {
        let (label, n) = line.trim_end().rsplit_once(char::is_whitespace)?;
        let n: u64 = n.parse().ok()?;
        if label.starts_with("Queued") || label.starts_with("Waiting") {
            state.waiting += n;
        }
    }
    let mut oldest_full = Some(0u64);
    for line in users.iter().skip(1) {
        // username priority "fast sync" "full sync" "success sync" failed
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, priority, _, full, success, failed] = f[..] else { continue };
        state.users += 1;
        let failed = failed == "y";
        state.failing += u64::from(failed);
        oldest_full = match (oldest_full, age(full)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        if failed || priority != "none" {
            // Never synced successfully: as far behind as its last full sync attempt says.
            let behind = age(success).or(age(full)).unwrap_or(0);
            state.lag_seconds = state.lag_seconds.max(behind);
        }
    }
    state.full_sync_age_seconds = if state.users == 0 { None } else { oldest_full };
    Some(state)
}

/// `HH:MM:SS` ago (hours may pass 99), or `-` for never.
fn age(text: &str) -> Option<u64> {
    let mut parts = text.split(':').map(|p| p.parse::<u64>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s)), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(h * 3600 + m * 60 + s)
}

/// The status line of the host's `replication` service.
pub fn result(lines: &[String], partner: &str) -> OnHostResult {
    let Some(s) = parse(lines) else {
        let said = lines.iter().map(|l| crate::escape::line(l)).collect::<Vec<_>>().join("; ");
        return OnHostResult { ok: false, detail: format!("the replicator does not answer: {said}"), warning: None };
    };
    let full = match s.full_sync_age_seconds {
        Some(a) => format!("last full sync {} ago", human(a)),
        None => "no full sync yet".to_string(),
    };
    let detail = format!(
        "{} account(s) with {partner}: {} waiting, {} failing, lag {} s, {full}",
        s.users, s.waiting, s.failing, s.lag_seconds
    );
    let mut warnings = Vec::new();
    if s.failing > 0 {
        warnings.push(format!(
            "replication with {partner} fails for {} of {} account(s), behind by {} s: is {partner} up? (journalctl -u dovecot)",
            s.failing, s.users, s.lag_seconds
        ));
    } else if s.lag_seconds > LAG_WARNING_SECS {
        warnings.push(format!("replication with {partner} is {} s behind", s.lag_seconds));
    }
    if s.full_sync_age_seconds.is_some_and(|a| a > FULL_SYNC_WARNING_SECS) {
        warnings.push(format!("no full sync with {partner} for {}", human(s.full_sync_age_seconds.unwrap_or(0))));
    }
    OnHostResult { ok: true, detail, warning: (!warnings.is_empty()).then(|| warnings.join("; ")) }
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    const HEALTHY: &str = "Queued 'sync' requests        0\nQueued 'high' requests        0\n\
Queued 'low' requests         0\nQueued 'failed' requests      0\nQueued 'full resync' requests 0\n\
Waiting 'failed' requests     0\nTotal number of known users   2\n@@users\n\
username                 priority fast sync full sync success sync failed\n\
admin@smknh.sch.id       none     00:00:04  00:00:27  00:00:04     -     \n\
pupil@smknh.sch.id       none     00:00:09  03:10:00  00:00:09     -     \n";

    #[test]
    fn a_pair_in_sync_has_no_lag_and_reports_its_oldest_full_sync() {
        let s = parse(&lines(HEALTHY)).unwrap();
        assert_eq!(
            s,
            ReplicationState { users: 2, waiting: 0, failing: 0, lag_seconds: 0, full_sync_age_seconds: Some(11_400) }
        );
        let r = result(&lines(HEALTHY), "srv2");
        assert!(r.ok && r.warning.is_none(), "{r:?}");
        assert_eq!(r.detail, "2 account(s) with srv2: 0 waiting, 0 failing, lag 0 s, last full sync 3 h ago");
    }

    #[test]
    fn a_failing_partner_is_a_warning_with_the_lag() {
        let text = HEALTHY
            .replace("Waiting 'failed' requests     0", "Waiting 'failed' requests     1")
            .replace("00:00:09  03:10:00  00:00:09     -", "00:00:01  03:10:00  00:02:05     y")
            .replace("admin@smknh.sch.id       none", "admin@smknh.sch.id       high");
        let s = parse(&lines(&text)).unwrap();
        assert_eq!((s.waiting, s.failing, s.lag_seconds), (1, 1, 125));
        let r = result(&lines(&text), "srv2");
        assert!(r.ok);
        assert!(r.warning.unwrap().starts_with("replication with srv2 fails for 1 of 2 account(s), behind by 125 s"));
    }

    #[test]
    fn an_account_never_fully_synced_and_a_silent_replicator() {
        let text = HEALTHY.replace("00:00:09  03:10:00  00:00:09", "-         -         -       ");
        assert_eq!(parse(&lines(&text)).unwrap().full_sync_age_seconds, None);
        assert_eq!(age("123:00:01"), Some(442_801));
        let down = lines("doveadm: Error: net_connect_unix(/run/dovecot/replicator-doveadm) failed: No such file");
        let r = result(&down, "srv2");
        assert!(!r.ok && r.detail.contains("does not answer") && r.detail.contains("replicator-doveadm"), "{r:?}");
    }
}
