//! The SSH sessions an account operation needs, opened once and in parallel, one per host
//! whatever roles it plays, and the cluster-wide steps a move takes on them: Postfix routing
//! reloads and queue watching on the MTAs, auth-cache flushes and kicks on the proxies.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::future::join_all;

use crate::inventory::model::{Cluster, Host, Role};
use crate::remote::connector::connect_all;
use crate::remote::{Connector, HostConn, Output, RemoteHost, quote};

pub struct Fleet {
    sessions: BTreeMap<String, HostConn>,
    /// Hosts running Postfix, which route the account's mail.
    pub mtas: Vec<String>,
    /// Hosts whose Dovecot forwards logins (proxy or proxy-and-backend).
    pub proxies: Vec<String>,
}

impl Fleet {
    /// Connects to `hosts` plus every MTA and proxy of the cluster, all at once.
    pub async fn connect(connector: &dyn Connector, cluster: &Cluster, hosts: &[&Host]) -> anyhow::Result<Fleet> {
        let mtas: Vec<&Host> = cluster.hosts_with(Role::Mta).collect();
        let proxies: Vec<&Host> = cluster.hosts_with(Role::Proxy).collect();
        let mut wanted: BTreeMap<&str, &Host> = BTreeMap::new();
        for h in hosts.iter().chain(&mtas).chain(&proxies) {
            wanted.insert(h.name.as_str(), h);
        }
        let wanted: Vec<&Host> = wanted.into_values().collect();
        Ok(Fleet {
            sessions: connect_all(connector, &wanted).await?,
            mtas: mtas.iter().map(|h| h.name.clone()).collect(),
            proxies: proxies.iter().map(|h| h.name.clone()).collect(),
        })
    }

    pub fn get(&self, host: &str) -> &dyn RemoteHost {
        self.sessions[host].as_ref()
    }

    pub async fn close(self) {
        join_all(self.sessions.into_values().map(|s| s.close())).await;
    }

    /// Runs one script on each of `hosts` at once; the first failure is the error.
    pub async fn on_each(&self, hosts: &[String], step: &str, script: &str) -> anyhow::Result<Vec<Output>> {
        let results = join_all(hosts.iter().map(|h| self.get(h).run_ok(step, script))).await;
        results.into_iter().map(|r| r.map_err(anyhow::Error::from)).collect()
    }

    /// `postfix reload` on every MTA: the queue manager and trivial-rewrite cache routes, so
    /// a changed state or mailHost only counts for mail after a reload. The reload is
    /// asynchronous: this returns once the old queue manager (and with it its trivial-rewrite
    /// connection and cache) has exited, so no stale route is used after it.
    pub async fn reload_mtas(&self) -> anyhow::Result<()> {
        self.on_each(&self.mtas, "postfix reload", RELOAD_AND_WAIT).await.map(drop)
    }

    /// Deferred mail goes out now (mail for a moved account to its new host).
    pub async fn flush_mta_queues(&self) -> anyhow::Result<()> {
        self.on_each(&self.mtas, "postqueue -f", "postqueue -f").await.map(drop)
    }

    /// Forgets the proxies' cached lookup of `user` (its backend host and login hold), and
    /// that of the given mailbox hosts.
    pub async fn flush_auth_caches(&self, user: &str, mailbox_hosts: &[&str]) -> anyhow::Result<()> {
        self.flush_auth_caches_of(&[user], mailbox_hosts).await
    }

    /// `flush_auth_caches` for several users, in one command per host.
    pub async fn flush_auth_caches_of(&self, users: &[&str], mailbox_hosts: &[&str]) -> anyhow::Result<()> {
        let mut hosts = self.proxies.clone();
        hosts.extend(mailbox_hosts.iter().map(|h| h.to_string()));
        hosts.sort();
        hosts.dedup();
        let users: Vec<String> = users.iter().map(|u| quote(u)).collect();
        let script = format!("doveadm auth cache flush {}", users.join(" "));
        self.on_each(&hosts, "doveadm auth cache flush", &script).await.map(drop)
    }

    /// Closes `user`'s IMAP/POP3 sessions: proxied ones on the proxies, direct ones on the
    /// given mailbox hosts. Having nobody to kick is fine.
    pub async fn kick(&self, user: &str, mailbox_hosts: &[&str]) -> anyhow::Result<()> {
        let proxy = format!("doveadm proxy kick {} >/dev/null 2>&1 || true", quote(user));
        let direct = format!("doveadm kick {} >/dev/null 2>&1 || true", quote(user));
        let mut jobs: Vec<(&str, &str)> = self.proxies.iter().map(|h| (h.as_str(), proxy.as_str())).collect();
        jobs.extend(mailbox_hosts.iter().map(|h| (*h, direct.as_str())));
        let results = join_all(jobs.iter().map(|(h, s)| self.get(h).run_ok("kick sessions", s))).await;
        results.into_iter().try_for_each(|r| r.map(drop).map_err(anyhow::Error::from))
    }

    /// Waits until no MTA holds mail for `user` in its active queue: deliveries already
    /// handed to the old mailbox host have then finished, and every later one is deferred.
    /// Looking at the queue replaces a fixed wait. Gives up after `limit` (false).
    pub async fn wait_for_in_flight(&self, user: &str, limit: Duration) -> anyhow::Result<bool> {
        let started = Instant::now();
        loop {
            let outputs = self.on_each(&self.mtas, "postqueue -j", "postqueue -j").await?;
            let busy = outputs.iter().any(|o| active_for(&o.stdout_text(), user));
            if !busy {
                return Ok(true);
            }
            if started.elapsed() > limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Mail for `user` waiting in the MTAs' queues (any queue), summed over the MTAs.
    pub async fn queued_for(&self, user: &str) -> anyhow::Result<usize> {
        let outputs = self.on_each(&self.mtas, "postqueue -j", "postqueue -j").await?;
        Ok(outputs.iter().map(|o| queue_entries(&o.stdout_text(), user, None)).sum())
    }
}

/// `postfix reload`, then up to 10 s for the queue manager running before it to exit.
const RELOAD_AND_WAIT: &str = r#"old=$(pgrep -d ' ' -x qmgr)
postfix reload 2>&1 || exit 1
for i in $(seq 400); do
  alive=
  for p in $old; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.025
done
echo "the queue manager running before the reload ($old) is still running after 10 s" >&2
exit 1"#;

impl Fleet {
    /// Sends the queued mail for `user` back through cleanup (`postsuper -r`), so its
    /// recipient is rewritten by today's aliases (a renamed account's old address becomes
    /// its new one), then tries it at once. Returns how many messages were requeued.
    pub async fn requeue_for(&self, user: &str) -> anyhow::Result<usize> {
        let outputs = self.on_each(&self.mtas, "postqueue -j", "postqueue -j").await?;
        let mut jobs = Vec::new();
        for (mta, out) in self.mtas.iter().zip(&outputs) {
            let ids = queue_ids(&out.stdout_text(), user);
            if !ids.is_empty() {
                // One queue ID per -r; `-r -` takes them from stdin (more args are queue names).
                let script = format!("printf '%s\\n' {} | postsuper -r - 2>&1 && postqueue -f", ids.join(" "));
                jobs.push((mta.as_str(), ids.len(), script));
            }
        }
        let results = join_all(jobs.iter().map(|(h, _, script)| self.get(h).run_ok("postsuper -r", script))).await;
        results.into_iter().try_for_each(|r| r.map(drop))?;
        Ok(jobs.iter().map(|(_, n, _)| n).sum())
    }
}

/// Queue IDs of the messages in `postqueue -j` output with a recipient `user`; only IDs made of
/// letters and digits (Postfix's own), since they reach a shell.
fn queue_ids(json_lines: &str, user: &str) -> Vec<String> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["recipients"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["address"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(user))))
        })
        .filter_map(|m| m["queue_id"].as_str().map(String::from))
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

/// True when `postqueue -j` output has a message for `user` in the active queue.
fn active_for(json_lines: &str, user: &str) -> bool {
    queue_entries(json_lines, user, Some("active")) > 0
}

/// Messages in `postqueue -j` output (one JSON object per line) with a recipient `user`,
/// in `queue` when given.
fn queue_entries(json_lines: &str, user: &str, queue: Option<&str>) -> usize {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| queue.is_none_or(|q| m["queue_name"] == q))
        .filter(|m| {
            m["recipients"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["address"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(user))))
        })
        .count()
}

/// Refuses a host name that is not a mailbox host of the cluster.
pub fn mailbox_host<'a>(cluster: &'a Cluster, name: &str) -> anyhow::Result<&'a Host> {
    match cluster.host(name) {
        Some(h) if h.has(Role::Mailbox) => Ok(h),
        Some(_) => bail!("{name} is not a mailbox host (its roles do not include mailbox)"),
        None => {
            let known: Vec<&str> = cluster.hosts_with(Role::Mailbox).map(|h| h.name.as_str()).collect();
            bail!("no host {name} in the inventory; mailbox hosts: {}", known.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = r#"{"queue_name": "deferred", "queue_id": "A1", "recipients": [{"address": "siti@tgg.net.id", "delay_reason": "deferred transport"}]}
{"queue_name": "active", "queue_id": "B2", "recipients": [{"address": "budi@tgg.net.id"}, {"address": "Siti@tgg.net.id"}]}
"#;

    #[test]
    fn queue_json_is_read_per_queue_and_recipient() {
        assert!(active_for(QUEUE, "siti@tgg.net.id"));
        assert!(!active_for(QUEUE, "gesang@gec-course.com"));
        assert_eq!(queue_entries(QUEUE, "siti@tgg.net.id", None), 2);
        assert_eq!(queue_entries(QUEUE, "budi@tgg.net.id", Some("deferred")), 0);
        assert!(!active_for("Mail queue is empty\n", "siti@tgg.net.id"));
        assert_eq!(queue_ids(QUEUE, "siti@tgg.net.id"), ["A1", "B2"]);
        assert!(queue_ids(r#"{"queue_id": "A1;rm", "recipients": [{"address": "x@y"}]}"#, "x@y").is_empty());
    }
}
