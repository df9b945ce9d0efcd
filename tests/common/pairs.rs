//! The mailbox-pair drill (docs/pairs.md), shared by the field test of the SMKNH report and
//! `tests/pairs.rs`: a sender every 100 ms and an IMAP session through the cluster's front,
//! a host powered off, its partner serving its accounts, `mailctl failback`, and every
//! acknowledged message exactly once on both hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Guarded, LabCluster, python};
use mailctl::lab;

/// Sends a message to RCPT through HOST:25 every 100 ms (Message-IDs `<TAG-n@pairs.test>`)
/// until STOPFILE exists; prints JSON: the Message-IDs acknowledged (250 to DATA) with the
/// time and the number of tries, and any 5xx refusal (a bounce to the sender). A 4xx or a
/// dropped connection is retried with the same message, as an MTA does: when the connection
/// dropped after the server had taken the message, it then arrives twice, as SMTP allows.
pub const SENDER: &str = r#"
import json, os, smtplib, sys, time
host, rcpt, tag, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
acked, refused, retries, n, tries = [], [], 0, 0, 1
while not os.path.exists(stop):
    mid = f"<{tag}-{n}@pairs.test>"
    msg = f"From: s@example.org\r\nTo: {rcpt}\r\nSubject: pair {n}\r\nMessage-ID: {mid}\r\n\r\nmessage {n}\r\n"
    try:
        s = smtplib.SMTP(host, 25, timeout=10)
        s.sendmail("s@example.org", [rcpt], msg)
        s.quit()
        acked.append([mid, time.time(), tries]); n += 1; tries = 1
    except smtplib.SMTPResponseException as e:
        if 500 <= e.smtp_code < 600:
            refused.append(f"{mid} {e.smtp_code} {e.smtp_error!r}"); n += 1
        else:
            retries += 1; tries += 1
    except smtplib.SMTPRecipientsRefused as e:
        code = list(e.recipients.values())[0][0]
        if code >= 500:
            refused.append(f"{mid} {e.recipients!r}"); n += 1
        else:
            retries += 1; tries += 1
    except Exception:
        retries += 1; tries += 1
    time.sleep(0.1)
print(json.dumps({"acked": acked, "refused": refused, "retries": retries}))
"#;

/// Keeps an IMAP session as USER through HOST: NOOP every 200 ms; when it breaks, logs in
/// again every 200 ms until LOGIN and SELECT INBOX work. Prints JSON: each outage's start and
/// end, and whether one is still going on when STOPFILE appears.
pub const SESSION: &str = r#"
import imaplib, json, os, ssl, sys, time
host, user, pw, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def connect():
    m = imaplib.IMAP4(host, 143, timeout=5); m.starttls(ssl_context=ctx); m.login(user, pw)
    typ, _ = m.select("INBOX")
    if typ != "OK": raise Exception("select")
    return m
outages, down, m = [], None, None
while not os.path.exists(stop):
    try:
        if m is None:
            m = connect()
            if down is not None:
                outages.append([down, time.time()]); down = None
        else:
            typ, _ = m.noop()
            if typ != "OK": raise Exception("noop")
    except Exception:
        m = None
        if down is None: down = time.time()
    time.sleep(0.2)
print(json.dumps({"outages": outages, "still_down": down}))
"#;

/// A client process writing its JSON to a file, stopped by a stop file.
pub struct Client {
    child: Guarded,
    stop: std::path::PathBuf,
    out: std::path::PathBuf,
}

impl Client {
    pub fn start(f: &LabCluster, name: &str, script: &str, args: &[&str]) -> Client {
        let stop = f.dir.path().join(format!("{name}.stop"));
        let out = f.dir.path().join(format!("{name}.json"));
        let _ = std::fs::remove_file(&stop);
        let child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .args(args)
            .arg(&stop)
            .stdout(std::fs::File::create(&out).unwrap())
            .spawn()
            .unwrap();
        Client { child: Guarded(child), stop, out }
    }

    pub fn finish(mut self) -> serde_json::Value {
        std::fs::write(&self.stop, "").unwrap();
        self.child.0.wait().unwrap();
        let text = std::fs::read_to_string(&self.out).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("client output {text:?}: {e}"))
    }
}

pub fn mailctl_ok(f: &LabCluster, args: &[&str]) -> String {
    let out = super::mailctl().args(args).arg("-i").arg(f.inventory()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mailctl {args:?}: {text}");
    text
}

pub fn wait(what: &str, timeout_s: u64, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(timeout_s);
    while std::time::Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out after {timeout_s} s waiting for: {what}");
}

pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Which of `members` holds `address`, asked of each member's network namespace.
pub fn holder(f: &LabCluster, address: &str, members: &[&str]) -> Option<String> {
    members
        .iter()
        .find(|h| {
            let ns = lab::net::netns(&f.cluster.name, h);
            std::process::Command::new("ip")
                .args(["-n", &ns, "-o", "addr", "show"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {address}/")))
        })
        .map(|h| h.to_string())
}

/// How many times each Message-ID is in USER's INBOX on HOST.
pub fn message_ids(f: &LabCluster, host: &str, user: &str) -> BTreeMap<String, usize> {
    let out =
        f.ssh(host, &format!("doveadm fetch -u {user} hdr.message-id mailbox INBOX | sed -n 's/^hdr.message-id: //p'"));
    let mut ids = BTreeMap::new();
    for id in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *ids.entry(id.to_string()).or_insert(0) += 1;
    }
    ids
}

pub fn acked(sent: &serde_json::Value) -> Vec<(String, f64)> {
    sent["acked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_str().unwrap().to_string(), a[1].as_f64().unwrap()))
        .collect()
}

/// The messages that may rightly arrive more than once: those the sender tried again (the
/// server may have taken the first try before the connection dropped), and those
/// acknowledged from a second before a switch began until it ended (a host that died, or an
/// address that moved, may have cut an LMTP session after the mailbox saved the message and
/// before the MTA heard so; the MTA delivers it again: SMTP and LMTP are at-least-once).
pub fn may_repeat(sent: &serde_json::Value, switches: &[(f64, f64)]) -> BTreeSet<String> {
    sent["acked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            let (t, tries) = (a[1].as_f64().unwrap(), a[2].as_u64().unwrap());
            tries > 1 || switches.iter().any(|(start, end)| t > start - 1.0 && t <= *end)
        })
        .map(|a| a[0].as_str().unwrap().to_string())
        .collect()
}

/// Messages the MTAs of HOSTS bounced (a DSN to the sender) since the lab came up.
pub fn bounces(f: &LabCluster, hosts: &[&str]) -> usize {
    hosts
        .iter()
        .map(|h| {
            f.ssh(h, "journalctl -u 'postfix*' -o cat | grep -c 'status=bounced' || true")
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
        })
        .sum()
}

/// Waits until HOST may take over its partner's accounts (the deploy's background arming).
pub fn wait_armed(f: &LabCluster, host: &str) {
    wait(&format!("{host} armed for automatic failover"), 120, || {
        f.ssh(host, "ls /var/lib/mailctl-pair/").contains(".armed")
    });
}

/// Waits until every one of `ids` is in USER's INBOX on each of `hosts` exactly once and
/// nothing is there twice, but for `repeatable` (at least once); on timeout, says what is
/// missing or doubled where.
pub fn wait_exactly_once(
    f: &LabCluster,
    hosts: &[&str],
    mtas: &[&str],
    user: &str,
    ids: &[String],
    repeatable: &BTreeSet<String>,
) {
    let problems = || -> Vec<String> {
        hosts
            .iter()
            .flat_map(|h| {
                let found = message_ids(f, h, user);
                let missing = ids.iter().filter(|id| !found.contains_key(*id)).count();
                let doubled: Vec<String> = found
                    .iter()
                    .filter(|(id, n)| **n > 1 && !repeatable.contains(*id))
                    .map(|(id, n)| format!("{id} x{n}"))
                    .collect();
                let mut p = Vec::new();
                if missing > 0 {
                    let first: Vec<&String> = ids.iter().filter(|id| !found.contains_key(*id)).take(5).collect();
                    p.push(format!("{h}: {missing} of {} missing (first {first:?})", ids.len()));
                }
                if !doubled.is_empty() {
                    p.push(format!("{h}: doubled {doubled:?}"));
                }
                p
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let p = problems();
        if p.is_empty() {
            return;
        }
        if std::time::Instant::now() > deadline {
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| hosts.iter().any(|h| !message_ids(f, h, user).contains_key(*id)))
                .take(3)
                .collect();
            let trail: Vec<String> = missing
                .iter()
                .flat_map(|id| mtas.iter().map(move |m| (id, m)))
                .map(|(id, m)| format!("{m} for {id}:\n{}", f.ssh(m, &postfix_trail(id))))
                .collect();
            panic!("not every message exactly once on {hosts:?} after 120 s:\n{}\n{}", p.join("\n"), trail.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What the MTA's log says of the message with this Message-ID (its queue ID's lines).
fn postfix_trail(message_id: &str) -> String {
    format!(
        "q=$(journalctl -o cat -u 'postfix*' | grep -F 'message-id={message_id}' | sed -n 's/.*]: \\([0-9A-F]*\\): message-id.*/\\1/p' | head -n 1); \
         [ -n \"$q\" ] && journalctl -o short-precise -u 'postfix*' | grep -F \"$q\"; postqueue -p | grep -A2 -F \"$q\" || true"
    )
}

/// What a pair drill measured.
pub struct Drill {
    /// Seconds from the power cut until the IMAP session was back.
    pub back_after: f64,
    /// Acknowledged before the cut and missing from the survivor until the host returned,
    /// with how long before the cut each was acknowledged.
    pub missing_before: Vec<(String, f64)>,
    /// Messages in flight at the crash that arrived twice (SMTP's at-least-once).
    pub repeated: usize,
}

/// The drill: sender and IMAP session running, `dying` powered off, the partner takes its
/// address; then every acknowledged message is checked on the survivor, `dying` comes back,
/// `mailctl failback` merges, and every message is on both hosts exactly once.
#[allow(clippy::too_many_arguments)]
pub fn drill(
    f: &LabCluster,
    front: &str,
    user: &str,
    pw: &str,
    dying: &str,
    partner: &str,
    pair_address: &str,
    mtas: &[&str],
) -> Drill {
    let sender = Client::start(f, "sender", SENDER, &[front, user, dying]);
    let session = Client::start(f, "session", SESSION, &[front, user, pw]);
    std::thread::sleep(Duration::from_secs(5));
    let cut_at = now();
    mailctl_ok(f, &["lab", "power-cut", f.inventory().to_str().unwrap(), dying]);
    // Mail acknowledged while the power-cut command ran may have reached the host before it
    // died: it counts as before the cut.
    let dead_at = now();
    wait(&format!("{partner} takes {pair_address}"), 30, || {
        holder(f, pair_address, &[dying, partner]).as_deref() == Some(partner)
    });
    // Mail and logins go on for a while with the host dead.
    std::thread::sleep(Duration::from_secs(8));
    let sent = sender.finish();
    let session = session.finish();
    assert!(session["still_down"].is_null(), "the IMAP session never came back: {session}");
    let outages = session["outages"].as_array().unwrap();
    let back_after = outages.iter().map(|o| o[1].as_f64().unwrap() - cut_at).fold(0.0, f64::max);
    assert!(sent["refused"].as_array().unwrap().is_empty(), "mail refused with 5xx: {sent}");
    let acked = acked(&sent);
    assert!(acked.iter().filter(|(_, t)| *t > dead_at).count() > 20, "too little mail after the cut: {sent}");

    // Status names the failover on the survivor.
    let out =
        super::mailctl().args(["status", "--format", "json", "--host", partner]).arg(f.inventory()).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = report.to_string();
    assert!(
        warnings.contains(&format!("serves {dying}'s accounts")),
        "status does not say {partner} serves {dying}'s accounts: {report:#}"
    );
    let (valid, errors) = python(
        super::VALIDATE_JSON,
        &[super::repo().join("schemas/status.schema.json").to_str().unwrap(), &report.to_string()],
    );
    assert!(valid, "status JSON does not follow the schema:\n{errors}");

    // On the survivor: everything acknowledged after the cut, and all but the last moments'
    // mail from before it (still in the dead host's queue or not yet replicated).
    let on_partner = message_ids(f, partner, user);
    let after_missing: Vec<&String> =
        acked.iter().filter(|(id, t)| *t > cut_at && !on_partner.contains_key(id)).map(|(id, _)| id).collect();
    let wait_for_late = || {
        let ids = message_ids(f, partner, user);
        acked.iter().filter(|(id, t)| *t > dead_at && !ids.contains_key(id)).count() == 0
    };
    if !after_missing.is_empty() {
        // Deferred while the MTA found the address moving: Postfix retries within seconds.
        for m in mtas.iter().filter(|m| **m != dying) {
            f.ssh_quietly(m, "postqueue -f");
        }
        // Postfix retries them within a minute (templates/postfix/main.cf).
        wait("mail acknowledged after the cut on the survivor", 120, wait_for_late);
    }
    let missing_before: Vec<(String, f64)> = acked
        .iter()
        .filter(|(id, t)| *t <= dead_at && !on_partner.contains_key(id))
        .map(|(id, t)| (id.clone(), cut_at - t))
        .collect();
    assert_eq!(bounces(f, &mtas.iter().copied().filter(|m| *m != dying).collect::<Vec<_>>()), 0, "mail bounced");

    // The host returns; it does not take its address back by itself.
    mailctl_ok(f, &["lab", "up", f.inventory().to_str().unwrap()]);
    wait(&format!("{dying} answers SSH"), 90, || {
        lab::container::ssh(&lab::LabPaths::for_cluster(&f.cluster), f.cluster.host(dying).unwrap(), "true").is_ok()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        holder(f, pair_address, &[dying, partner]).as_deref(),
        Some(partner),
        "{dying} took its address back before failback"
    );
    let out = mailctl_ok(f, &["failback", dying]);
    assert!(out.contains(&format!("served by {dying} now")), "{out}");
    assert_eq!(holder(f, pair_address, &[dying, partner]).as_deref(), Some(dying));

    // Every acknowledged message on both hosts exactly once (the dead host's queue included).
    for m in mtas {
        f.ssh_quietly(m, "postqueue -f");
    }
    let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    // The address moved when the host died, and back at the failback.
    let repeatable = may_repeat(&sent, &[(cut_at, dead_at + 5.0)]);
    wait_exactly_once(f, &[dying, partner], mtas, user, &ids, &repeatable);
    assert_eq!(bounces(f, mtas), 0, "mail bounced");
    let repeated = message_ids(f, dying, user).values().filter(|n| **n > 1).count();
    Drill { back_after, missing_before, repeated }
}

pub fn report(name: &str, d: &Drill) {
    let oldest = d.missing_before.iter().map(|(_, ago)| *ago).fold(0.0, f64::max);
    eprintln!(
        "{name}: IMAP back {:.2} s after the power cut; {} message(s) acknowledged before the cut (the last {:.2} s) waited for the host's return; {} in flight at the crash arrived twice",
        d.back_after,
        d.missing_before.len(),
        oldest,
        d.repeated
    );
}
