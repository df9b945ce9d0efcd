//! One account's mail on one mailbox host, through doveadm over that host's SSH session:
//! per-folder status, dsync passes pulled from another host's doveadm server, the mail home.

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::conventions::MAIL_ROOT;
use crate::inventory::model::Host;
use crate::remote::{RemoteHost, quote};

/// doveadm's own TCP port on mailbox hosts (the templates listen on it).
pub use crate::render::context::DOVEADM_PORT;

/// One folder as `doveadm mailbox status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub name: String,
    pub messages: u64,
    pub uidnext: u64,
    pub uidvalidity: u64,
    pub guid: String,
    pub highestmodseq: u64,
    pub vsize: u64,
}

const STATUS_FIELDS: &str = "messages uidnext uidvalidity guid highestmodseq vsize";

/// Every folder of `user` on this host, sorted by name; empty when the user has no mail here.
pub async fn folders(session: &dyn RemoteHost, user: &str) -> anyhow::Result<Vec<Folder>> {
    let home = home_dir(user)?;
    // Without a mail home there is nothing to report (and doveadm would create one).
    let script = format!(
        "[ -d {home} ] || exit 0; doveadm -f tab mailbox status -u {} {} '*'",
        quote(user),
        quote(STATUS_FIELDS),
        home = quote(&home)
    );
    let out = session.run_ok("doveadm mailbox status", &script).await?;
    parse_status(&out.stdout_text())
}

fn parse_status(text: &str) -> anyhow::Result<Vec<Folder>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Ok(Vec::new()) };
    let names: Vec<&str> = header.split('\t').collect();
    let col = |row: &[&str], name: &str| -> anyhow::Result<String> {
        let i = names.iter().position(|n| *n == name);
        match i.and_then(|i| row.get(i)) {
            Some(v) => Ok(v.to_string()),
            None => bail!("doveadm mailbox status: no `{name}` column in {header:?}"),
        }
    };
    let num = |row: &[&str], name: &str| -> anyhow::Result<u64> {
        let v = col(row, name)?;
        v.parse().map_err(|_| anyhow::anyhow!("doveadm mailbox status: {name} = {v:?} is not a number"))
    };
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let row: Vec<&str> = line.split('\t').collect();
        out.push(Folder {
            name: col(&row, "mailbox")?,
            messages: num(&row, "messages")?,
            uidnext: num(&row, "uidnext")?,
            uidvalidity: num(&row, "uidvalidity")?,
            guid: col(&row, "guid")?,
            highestmodseq: num(&row, "highestmodseq")?,
            vsize: num(&row, "vsize")?,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Where `user`'s mail lives on every mailbox host (the templates' `home`).
pub fn home_dir(user: &str) -> anyhow::Result<String> {
    match user.split_once('@') {
        Some((local, domain)) => Ok(crate::conventions::mail_home(local, domain)),
        None => bail!("{user}: not an address"),
    }
}

/// Another mailbox host a dsync pass talks to: its inventory entry and mailctl's session.
#[derive(Clone, Copy)]
pub struct Peer<'a> {
    pub host: &'a Host,
    pub conn: &'a dyn RemoteHost,
}

/// Runs the doveadm command `command(endpoint)` on `here` against `other`'s doveadm server.
/// That server listens on its host's loopback only; `here` reaches it through mailctl's two
/// SSH sessions: `here` gets a forwarded loopback port, and each connection to it is joined
/// to `other`'s doveadm port. The doveadm password and the mail travel inside SSH, never in
/// the clear on the network, and no TLS of Dovecot's is involved (its TLS stalled dsync).
async fn doveadm_with(
    here: &dyn RemoteHost,
    other: Peer<'_>,
    step: &str,
    command: impl Fn(&str) -> String,
) -> anyhow::Result<crate::remote::Output> {
    let (port, incoming) = here.forward_loopback_port().await?;
    // The peer's name leads the script, so logs (and the test fakes) know who is pulled from.
    let script = format!("# from {}\n{}", other.host.fqdn, command(&format!("tcp:127.0.0.1:{port}")));
    let result = {
        let run = here.run_ok(step, &script);
        let relay = relay(incoming, other.conn);
        tokio::pin!(run, relay);
        let mut relay_done = false;
        loop {
            tokio::select! {
                out = &mut run => break out,
                () = &mut relay, if !relay_done => relay_done = true,
            }
        }
    };
    here.stop_forward(port).await;
    Ok(result?)
}

/// Joins each connection to the forwarded port with a fresh one to `other`'s doveadm port.
async fn relay(mut incoming: crate::remote::host::Incoming, other: &dyn RemoteHost) {
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut pipes = FuturesUnordered::new();
    loop {
        tokio::select! {
            conn = incoming.recv() => match conn {
                Some(mut near) => pipes.push(async move {
                    match other.open_loopback_tcp(DOVEADM_PORT).await {
                        Ok(mut far) => {
                            let _ = tokio::io::copy_bidirectional(&mut near, &mut far).await;
                        }
                        Err(e) => tracing::warn!("doveadm relay: {e}"),
                    }
                }),
                None => break,
            },
            Some(()) = pipes.next(), if !pipes.is_empty() => {}
        }
    }
    while pipes.next().await.is_some() {}
}

/// One dsync pass run on `target`, making its copy of `user` identical to `source`'s
/// (`doveadm backup -R`). With `state` the pass is incremental from that state and the new
/// state is returned; without, every folder and message is compared (the final pass: an
/// incremental one can miss mail that arrived during the pass before).
pub async fn backup_from(
    target: &dyn RemoteHost,
    user: &str,
    source: Peer<'_>,
    state: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let state_arg = state.map(|s| format!("-s {}", quote(s))).unwrap_or_default();
    let out = doveadm_with(target, source, "doveadm backup", |endpoint| {
        format!("doveadm backup -R -u {} {state_arg} {endpoint}", quote(user))
    })
    .await?;
    Ok(state.map(|_| out.stdout_text().trim().to_string()))
}

/// Two-way sync without state, run on `here` against `other`: nothing on either side is
/// deleted (a message removed on one side may come back), for when both may have changed.
pub async fn merge_with(here: &dyn RemoteHost, user: &str, other: Peer<'_>) -> anyhow::Result<()> {
    doveadm_with(here, other, "doveadm sync (merge)", |endpoint| {
        format!("doveadm sync -R -u {} {endpoint}", quote(user))
    })
    .await?;
    Ok(())
}

/// Copies what `source` got after the final pass into `target` (one-way, nothing deleted),
/// then drops the duplicates that copying may make in the INBOX.
pub async fn catch_up(target: &dyn RemoteHost, user: &str, source: Peer<'_>) -> anyhow::Result<()> {
    doveadm_with(target, source, "doveadm sync -1 (catch-up)", |endpoint| {
        format!("doveadm sync -1 -R -u {u} {endpoint} && doveadm deduplicate -u {u} mailbox INBOX all", u = quote(user))
    })
    .await?;
    Ok(())
}

/// Whether `user` has a mail home on this host.
pub async fn has_home(session: &dyn RemoteHost, user: &str) -> anyhow::Result<bool> {
    let script = format!("[ -e {} ] && echo yes || echo no", quote(&home_dir(user)?));
    Ok(session.run_ok("look for the mail home", &script).await?.stdout_text().trim() == "yes")
}

/// Deletes `user`'s mail home on this host (after a purge was asked for, or the partial
/// copy of an aborted move).
pub async fn remove_home(session: &dyn RemoteHost, user: &str) -> anyhow::Result<()> {
    let script = format!("rm -rf -- {}", quote(&home_dir(user)?));
    session.run_ok("remove the mail home", &script).await?;
    Ok(())
}

/// Bytes free for mail on this host (the file system holding /var/vmail).
pub async fn free_bytes(session: &dyn RemoteHost) -> anyhow::Result<u64> {
    let out = session
        .run_ok("df /var/vmail", &format!("d={MAIL_ROOT}; [ -d $d ] || d=/var; df -B1 --output=avail $d | tail -1"))
        .await?;
    let text = out.stdout_text();
    text.trim().parse().map_err(|_| anyhow::anyhow!("df gave {text:?}"))
}

/// Bytes `user`'s mail home takes on this host (0 when it has none).
pub async fn home_bytes(session: &dyn RemoteHost, user: &str) -> anyhow::Result<u64> {
    let script = format!("du -sb -- {} 2>/dev/null | cut -f1", quote(&home_dir(user)?));
    let text = session.run_ok("du the mail home", &script).await?.stdout_text();
    Ok(text.trim().parse().unwrap_or(0))
}

/// Bytes of mail per account on this host (`du` over the mail homes), by address.
pub async fn usage(session: &dyn RemoteHost) -> anyhow::Result<Vec<(String, u64)>> {
    let script = format!("cd {MAIL_ROOT} 2>/dev/null && du -sb -- */* 2>/dev/null; true");
    let out = session.run_ok("du mail homes", &script).await?;
    Ok(out
        .stdout_text()
        .lines()
        .filter_map(|l| {
            let (bytes, path) = l.split_once('\t')?;
            let (domain, local) = path.split_once('/')?;
            Some((format!("{local}@{domain}"), bytes.trim().parse().ok()?))
        })
        .collect())
}

/// What renaming a mail home found on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeRename {
    /// The old home is now the new one.
    Moved,
    /// No old home here (none ever, or moved by an earlier run).
    Nothing,
}

/// Renames `old`'s mail home to `new`'s on this host, in one `mv` on one filesystem (atomic,
/// nothing copied). Idempotent: a run that finds the work done does nothing. Refused when
/// both exist: which one holds the mail is for a person to decide.
pub async fn rename_home(session: &dyn RemoteHost, old: &str, new: &str) -> anyhow::Result<HomeRename> {
    let (from, to) = (quote(&home_dir(old)?), quote(&home_dir(new)?));
    let script = format!(
        "if [ -e {from} ] && [ -e {to} ]; then echo both; exit 0; fi
         [ -e {from} ] || {{ echo nothing; exit 0; }}
         install -d -o {uid} -g {uid} -m 0700 {parent} && mv -T {from} {to} && echo moved",
        uid = crate::conventions::VMAIL_UID,
        parent = quote(&format!("{MAIL_ROOT}/{}", new.split_once('@').map(|(_, d)| d).unwrap_or_default())),
    );
    let out = session.run_ok("rename the mail home", &script).await?;
    match out.stdout_text().trim() {
        "moved" => Ok(HomeRename::Moved),
        "nothing" => Ok(HomeRename::Nothing),
        "both" => bail!(
            "both {} and {} exist on this host: move or merge one by hand (`doveadm sync`), then run the rename again",
            home_dir(old)?,
            home_dir(new)?
        ),
        other => bail!("renaming the mail home said {other:?}"),
    }
}

/// Totals over folders: (messages, bytes).
pub fn totals(folders: &[Folder]) -> (u64, u64) {
    folders.iter().fold((0, 0), |(m, b), f| (m + f.messages, b + f.vsize))
}

/// Where two hosts' copies differ in what a move must preserve (count, UIDVALIDITY, UIDNEXT,
/// GUID), one line per folder; empty when they agree.
pub fn differences(source: &[Folder], target: &[Folder]) -> Vec<String> {
    let mut out = Vec::new();
    for s in source {
        match target.iter().find(|t| t.name == s.name) {
            None => out.push(format!("{}: missing on the target", s.name)),
            Some(t) => {
                let fields = [
                    ("messages", s.messages, t.messages),
                    ("uidnext", s.uidnext, t.uidnext),
                    ("uidvalidity", s.uidvalidity, t.uidvalidity),
                ];
                for (name, a, b) in fields {
                    if a != b {
                        out.push(format!("{}: {name} {a} on the source, {b} on the target", s.name));
                    }
                }
                if s.guid != t.guid {
                    out.push(format!("{}: mailbox GUID differs", s.name));
                }
            }
        }
    }
    for t in target.iter().filter(|t| !source.iter().any(|s| s.name == t.name)) {
        out.push(format!("{}: only on the target", t.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "mailbox\tmessages\tuidnext\tuidvalidity\thighestmodseq\tvsize\tguid\n\
INBOX\t3\t4\t1795374540\t5\t1302\tb0f56602cc3d036b490000006f48ec66\n\
Archive/2025\t1\t2\t1795374541\t2\t434\tc0f56602cc3d036b490000006f48ec66\n";

    #[test]
    fn status_is_read_by_column_name() {
        let f = parse_status(STATUS).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "Archive/2025");
        assert_eq!(f[1].messages, 3);
        assert_eq!(f[1].vsize, 1302);
        assert_eq!(totals(&f), (4, 1736));
        assert!(parse_status("").unwrap().is_empty());
    }

    #[test]
    fn differences_name_the_folder_and_field() {
        let a = parse_status(STATUS).unwrap();
        assert!(differences(&a, &a).is_empty());
        let mut b = a.clone();
        b[1].messages = 2;
        b.remove(0);
        let d = differences(&a, &b);
        assert_eq!(d, vec!["Archive/2025: missing on the target", "INBOX: messages 3 on the source, 2 on the target"]);
    }
}
