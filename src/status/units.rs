//! What a host says about itself over SSH, in one command: the systemd state of every unit
//! its services use, the last log lines of those that are down, its IP addresses (to find
//! who holds each VIP), and where HAProxy runs, the state of each of its backend servers.

use std::collections::BTreeMap;

use super::services::OnHostCheck;
use crate::remote::{RemoteError, RemoteHost};
pub use crate::systemd::UnitState;

const LOG_LINES: usize = 3;

/// HAProxy's stats as CSV from its local stats listener (templates/haproxy/haproxy.cfg), with
/// bash's /dev/tcp: nothing to install. Silent where HAProxy does not run.
const HAPROXY_STATS: &str = "if [ -e /etc/haproxy/haproxy.cfg ] && command -v bash >/dev/null; then\n\
  echo @@haproxy\n\
  bash -c 'exec 3<>/dev/tcp/127.0.0.1/8404 && printf \"GET /;csv HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout 2 cat <&3' 2>/dev/null | tr -d '\\r'\n\
fi\n";

/// Each prints `@@check NAME ok|fail DETAIL`, and `@@checkwarn NAME TEXT` for a running daemon
/// that needs attention. Only bash, perl-base and the daemon's own client: nothing to install.
fn on_host_script(check: OnHostCheck) -> &'static str {
    match check {
        OnHostCheck::Rspamd => {
            r#"r=$(bash -c 'exec 3<>/dev/tcp/127.0.0.1/11334 && printf "GET /ping HTTP/1.0\r\n\r\n" >&3 && timeout 2 cat <&3' 2>/dev/null | tr -d '\r' | tail -n 1)
case "$r" in pong*) echo '@@check rspamd ok controller answers /ping with pong';; *) echo '@@check rspamd fail controller on 127.0.0.1:11334 does not answer /ping';; esac
"#
        }
        OnHostCheck::Redis => {
            r#"r=$(timeout 2 redis-cli -h 127.0.0.1 ping 2>&1 | head -n 1)
case "$r" in PONG) echo '@@check redis ok PING answered PONG';; *) echo "@@check redis fail PING on 127.0.0.1:6379: $r";; esac
"#
        }
        // The age is that of the newest signature file: freshclam replaces one at each update.
        OnHostCheck::Clamd => {
            r#"r=$(timeout 3 perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => "/run/clamav/clamd.ctl") or exit 1; print $s "zPING\0"; $s->recv($a, 16); print $a' 2>/dev/null | tr -d '\0')
newest=$(find /var/lib/clamav -maxdepth 1 -type f \( -name '*.c[vl]d' -o -name '*.[hnm]db' -o -name '*.hsb' -o -name '*.ldb' \) -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1)
age=''; [ -n "$newest" ] && age=$(( ($(date +%s) - ${newest%.*}) / 3600 ))
if [ "$r" = PONG ]; then echo "@@check clamd ok PING answered PONG; signatures ${age:-?} h old"; else echo '@@check clamd fail no PONG on /run/clamav/clamd.ctl'; fi
[ -z "$newest" ] && echo '@@checkwarn clamd no virus signatures in /var/lib/clamav (freshclam has not run yet)'
[ -n "$age" ] && [ "$age" -gt 48 ] && echo "@@checkwarn clamd virus signatures are $age hours old: is freshclam reaching its mirror?"
true
"#
        }
        // Read by src/status/replication.rs: the queue summary, then one line per account.
        OnHostCheck::Replication => {
            r#"if [ -S /run/dovecot/replicator-doveadm ]; then
  { doveadm replicator status && echo @@users && doveadm replicator status '*'; } 2>&1 | sed 's/^/@@repl /'
elif [ -e /run/mailctl-replicator/status ] && [ "$(systemctl is-active mailctl-replicator)" = active ]; then
  sed 's/^/@@repl /' /run/mailctl-replicator/status
else
  echo '@@repl neither Dovecot'"'"'s replicator nor mailctl-replicator answers'
fi
"#
        }
    }
}

/// What one host said.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub units: BTreeMap<String, UnitState>,
    pub addresses: Vec<String>,
    /// HAProxy's backend servers, from its stats (empty where HAProxy does not run).
    pub backend_servers: Vec<BackendServer>,
    /// What the host's own checks found, by check name.
    pub checks: BTreeMap<String, OnHostResult>,
    /// Dovecot's replicator on a paired mailbox host, as it answered (`@@repl` lines).
    pub replication: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnHostResult {
    pub ok: bool,
    pub detail: String,
    pub warning: Option<String>,
}

/// One server of an HAProxy backend, as `show stat` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendServer {
    pub backend: String,
    pub server: String,
    /// UP, DOWN, MAINT, `UP 1/2` (going down), `no check`...
    pub status: String,
    /// The last health check's verdict (L4OK, L7STS, L4CON...).
    pub check: String,
}

impl BackendServer {
    /// Out of rotation: new connections do not go to it.
    pub fn is_down(&self) -> bool {
        self.status.starts_with("DOWN") || self.status.starts_with("MAINT")
    }

    pub fn describe(&self) -> String {
        let check = if self.check.is_empty() { String::new() } else { format!(", last check {}", self.check) };
        format!("backend {}: server {} is {}{check}", self.backend, self.server, self.status)
    }
}

/// Asks the host about `units` (names without `.service`), and runs its own `checks`.
pub async fn query(session: &dyn RemoteHost, units: &[&str], checks: &[OnHostCheck]) -> Result<HostState, RemoteError> {
    let out = session.run_ok("status", &script(units, checks)).await?;
    Ok(parse(&out.stdout_text()))
}

/// One `systemctl show` for all units; journalctl only for those not active. Few processes:
/// on a busy host (or a lab of many hosts on one machine) each spawn counts.
pub fn script(units: &[&str], checks: &[OnHostCheck]) -> String {
    let checks: String = checks.iter().map(|c| on_host_script(*c)).collect();
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
         ip -o addr show 2>/dev/null | awk '{{print $4}}'\n\
         {HAPROXY_STATS}\
         {checks}",
        show = crate::systemd::show_command(units)
    )
}

pub fn parse(text: &str) -> HostState {
    let mut lines = text.lines();
    let (units, first) = crate::systemd::parse_show(&mut lines);
    let mut facts = HostState { units, ..HostState::default() };
    let mut current: Option<String> = None;
    let mut in_addresses = false;
    let mut haproxy: Option<String> = None;
    for line in first.into_iter().chain(lines) {
        if let Some(rest) = line.strip_prefix("@@check ") {
            let mut parts = rest.splitn(3, ' ');
            let (name, verdict, detail) = (parts.next().unwrap_or_default(), parts.next(), parts.next());
            let entry = facts.checks.entry(name.to_string()).or_default();
            entry.ok = verdict == Some("ok");
            entry.detail = crate::escape::line(detail.unwrap_or_default());
        } else if let Some((name, text)) = line.strip_prefix("@@checkwarn ").and_then(|r| r.split_once(' ')) {
            facts.checks.entry(name.to_string()).or_default().warning = Some(crate::escape::line(text));
        } else if let Some(text) = line.strip_prefix("@@repl ") {
            facts.replication.push(text.to_string());
        } else if let Some(csv) = haproxy.as_mut() {
            csv.push_str(line);
            csv.push('\n');
        } else if let Some(unit) = line.strip_prefix("@@log ") {
            current = Some(unit.trim_end_matches(".service").to_string());
        } else if line == "@@addresses" {
            current = None;
            in_addresses = true;
        } else if line == "@@haproxy" {
            haproxy = Some(String::new());
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
    facts.backend_servers = haproxy.map(|csv| backend_servers(&csv)).unwrap_or_default();
    facts
}

/// The servers of every backend in HAProxy's CSV stats (after the HTTP headers, a header
/// line `# pxname,svname,...`, then a line per frontend, server and backend).
fn backend_servers(text: &str) -> Vec<BackendServer> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("# pxname"));
    let Some(header) = lines.next() else { return Vec::new() };
    let names: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| names.iter().position(|n| *n == name);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else { return Vec::new() };
    let chk = col("check_status");
    lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f.len() > st && !matches!(f[sv], "FRONTEND" | "BACKEND") && f[px] != "stats")
        .map(|f| BackendServer {
            backend: crate::escape::line(f[px]),
            server: crate::escape::line(f[sv]),
            status: crate::escape::line(f[st]),
            check: chk.and_then(|c| f.get(c)).map(|c| crate::escape::line(c)).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_own_checks_are_read_after_the_haproxy_stats() {
        let text = "Id=rspamd.service\nActiveState=active\nSubState=running\n\n@@addresses\n10.0.0.4/24\n\
            @@haproxy\nHTTP/1.0 200 OK\n# pxname,svname,status\n\
            @@check rspamd ok controller answers /ping with pong\n@@check clamd fail no PONG on /run/clamav/clamd.ctl\n\
            @@checkwarn clamd virus signatures are 72 hours old: is freshclam reaching its mirror?\n";
        let facts = parse(text);
        assert_eq!(facts.addresses, ["10.0.0.4"]);
        let rspamd = &facts.checks["rspamd"];
        assert!(rspamd.ok && rspamd.detail == "controller answers /ping with pong" && rspamd.warning.is_none());
        let clamd = &facts.checks["clamd"];
        assert!(!clamd.ok && clamd.warning.as_deref().unwrap().contains("72 hours"), "{clamd:?}");
        // Only the checks asked for are run.
        let s = script(&["rspamd"], &[OnHostCheck::Redis]);
        assert!(s.contains("redis-cli") && !s.contains("11334") && !s.contains("clamd.ctl"));
    }

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
    fn haproxy_backend_servers_are_read_from_its_csv_stats() {
        let text = format!(
            "{SAMPLE}@@haproxy\nHTTP/1.1 200 OK\ncontent-type: text/plain\n\n\
             # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,\n\
             smtp,FRONTEND,,,0,1,2000,3,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,\n\
             smtp_mtas,mta-1,0,0,0,1,,3,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,60,0,,1,3,1,,3,,2,0,,1,L7OK,\n\
             smtp_mtas,mta-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,2,1,5,5,,1,3,2,,0,,2,0,,0,L4CON,\n\
             smtp_mtas,BACKEND,0,0,0,1,200,3,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,60,0,,1,3,0,,3,,1,0,,1,,\n\
             stats,FRONTEND,,,1,1,2000,2,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,4,0,,,,0,1,0,1,,\n"
        );
        let f = parse(&text);
        assert_eq!(f.addresses.len(), 4, "the sections before it are read as before");
        assert_eq!(f.backend_servers.len(), 2);
        let down: Vec<String> = f.backend_servers.iter().filter(|s| s.is_down()).map(|s| s.describe()).collect();
        assert_eq!(down, ["backend smtp_mtas: server mta-2 is DOWN, last check L4CON"]);
        assert!(parse(SAMPLE).backend_servers.is_empty());
    }

    #[test]
    fn script_quotes_units() {
        let s = script(&["postfix@-", "ssh"], &[]);
        assert!(
            s.contains("-- postfix@-.service ssh.service") || s.contains("-- 'postfix@-.service' ssh.service"),
            "{s}"
        );
        assert!(script(&["a;b"], &[]).contains("'a;b.service'"));
    }
}
