//! Accounts against a deployed lab with real clients: `account add|list|show|remove|import`,
//! `move-account` under load (a sender every 100 ms, an IMAP session through the proxy),
//! killed during the online copy and during the cutover then resumed or aborted, and
//! `rebalance` of a lab whose accounts all live on one host, `passwd` and each account status
//! checked with SMTP, IMAP and POP3, aliases, forwarding and distribution lists checked by
//! delivery. The lab mixes releases (mbox-1 on Debian 12, the rest on Debian 13), so every
//! move crosses Dovecot 2.3 and 2.4, in both directions.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailctl::lab;
use serde_json::Value;

type Fixture = common::LabCluster;

const MTA: &str = "transport";

fn load_script() -> PathBuf {
    common::repo().join("tests/accounts/mailload.py")
}

fn py(args: &[&str]) -> (bool, String) {
    let out = Command::new("/usr/bin/python3").arg(load_script()).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn mailctl(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = common::mailctl().arg("-i").arg(f.inventory()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn password(f: &Fixture, user: &str) -> String {
    f.password(user.split('@').next().unwrap())
}

/// Folders → Message-ID → flags, as an IMAP client sees them through the proxy.
fn mailbox(f: &Fixture, user: &str) -> serde_json::Map<String, Value> {
    let (ok, out) = py(&["check", &f.address(MTA), user, &password(f, user)]);
    assert!(ok, "IMAP check of {user}: {out}");
    serde_json::from_str::<Value>(&out).unwrap()["folders"].as_object().unwrap().clone()
}

fn inbox_ids(f: &Fixture, user: &str) -> BTreeSet<String> {
    mailbox(f, user)["INBOX"].as_object().unwrap().keys().cloned().collect()
}

/// The account's mailbox host as the directory says.
fn lives_on(f: &Fixture, user: &str) -> (String, String) {
    let (code, out, err) = mailctl(f, &["account", "show", user, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    (v["account"]["mailbox"].as_str().unwrap().to_string(), v["account"]["state"].as_str().unwrap().to_string())
}

fn fill(f: &Fixture, user: &str, count: usize, prefix: &str) {
    let (ok, out) = py(&["fill", &f.address(MTA), user, &count.to_string(), prefix]);
    assert!(ok, "fill {user}: {out}");
}

/// Waits until every message in `ids` is in the user's INBOX (deliveries are asynchronous).
fn wait_for_all(f: &Fixture, user: &str, ids: &BTreeSet<String>) -> BTreeSet<String> {
    let mut missing = ids.clone();
    lab::wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        let have = inbox_ids(f, user);
        missing = ids.difference(&have).cloned().collect();
        missing.is_empty()
    });
    missing
}

/// A sender (one message every 100 ms) and an IMAP session through the proxy, both real
/// clients, running until `stop`.
struct Load {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Drop for Load {
    fn drop(&mut self) {
        self.children.iter_mut().for_each(common::kill_if_running);
    }
}

impl Load {
    fn start(f: &Fixture, user: &str) -> Load {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
        let spawn = |args: &[&str]| {
            Command::new("/usr/bin/python3").arg(load_script()).args(args).stdout(Stdio::null()).spawn().unwrap()
        };
        let sender = spawn(&["send", &f.address(MTA), user, &p("sent"), &p("stop")]);
        let imap = spawn(&["imap", &f.address(MTA), user, &password(f, user), &p("imap"), &p("stop")]);
        std::thread::sleep(Duration::from_secs(1));
        Load { dir, children: vec![sender, imap] }
    }

    /// Stops both clients: (Message-IDs accepted, SMTP errors, IMAP session events).
    fn stop(mut self) -> (BTreeSet<String>, Vec<String>, Vec<String>) {
        std::fs::write(self.dir.path().join("stop"), "").unwrap();
        for c in &mut self.children {
            c.wait().unwrap();
        }
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        let sent = read("sent");
        let ids = sent.lines().filter(|l| !l.starts_with("ERROR")).map(String::from).collect();
        let errors = sent.lines().filter(|l| l.starts_with("ERROR")).map(String::from).collect();
        (ids, errors, read("imap").lines().map(String::from).collect())
    }
}

fn journal_phase(f: &Fixture, user: &str) -> Option<String> {
    let path = f.inventory().with_file_name(format!("lab.yaml.moves/{user}.json"));
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["phase"].as_str().map(String::from)
}

/// Starts a move and SIGKILLs it `after` the journal reaches `phase`.
fn kill_move_at(f: &Fixture, user: &str, target: &str, phase: &str, after: Duration) {
    let mut child = common::mailctl()
        .arg("-i")
        .arg(f.inventory())
        .args(["move-account", user, target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal_phase(f, user).as_deref() != Some(phase) {
        assert!(child.try_wait().unwrap().is_none(), "the move ended before reaching {phase}");
        assert!(started.elapsed() < Duration::from_secs(60), "never reached {phase}");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(after);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn bounces(f: &Fixture) -> usize {
    f.ssh(MTA, "journalctl --no-pager -q | grep -c 'status=bounced' || true").trim().parse().unwrap()
}

fn queue_for(f: &Fixture, user: &str) -> usize {
    f.ssh(MTA, &format!("postqueue -j | grep -c '{user}' || true")).trim().parse().unwrap()
}

/// A mixed lab, as in an upgrade rehearsed host by host: mbox-1 still on Debian 12 (Dovecot
/// 2.3), everything else on Debian 13 (Dovecot 2.4, Postfix 3.10, OpenLDAP 2.6), so every
/// account operation runs across both releases and each move crosses them.
fn new_fixture() -> Fixture {
    let f = common::LabCluster::new("acctest", "10.94.0.", "mailctl-a0", |text| {
        let mixed = common::with_cluster_os(&text, "debian-13").replace(
            "fqdn: mbox-1.tgg.net.id, roles: [mailbox]",
            "fqdn: mbox-1.tgg.net.id, os: debian-12, roles: [mailbox]",
        );
        assert_ne!(mixed, text, "the lab inventory's layout changed");
        mixed
    });
    f.up_and_deployed();
    f
}

fn no_message_was_bounced(f: &Fixture) {
    assert_eq!(bounces(f), 0, "a message was bounced");
}

static LAB: common::Shared<Fixture> = common::Shared::new(new_fixture, common::lab_down);

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s01_add_show_remove_import() {
    LAB.run(add_show_remove_import);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s02_move_under_load() {
    LAB.run(move_under_load);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s02b_move_back_from_debian_13_to_12_under_load() {
    LAB.run(move_back_under_load);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s03_killed_during_copy_then_resumed() {
    LAB.run(killed_during_copy_then_resumed);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s04_killed_during_cutover_then_resumed_and_aborted() {
    LAB.run(killed_during_cutover_then_resumed_and_aborted);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s05_rebalance_evens_out_one_full_host() {
    LAB.run(rebalance_evens_out_one_full_host);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s06_two_admins_cannot_both_start_a_move() {
    LAB.run(two_admins_cannot_both_start_a_move);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s07_no_message_was_bounced() {
    LAB.run(no_message_was_bounced);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s08_a_new_password_works_at_once_and_the_old_one_stops() {
    LAB.run(a_new_password_works_at_once_and_the_old_one_stops);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s09_each_status_does_what_it_says() {
    LAB.run(each_status_does_what_it_says);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s10_aliases_and_forwarding_route_mail() {
    LAB.run(aliases_and_forwarding_route_mail);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s11_a_list_reaches_every_member_once() {
    LAB.run(a_list_reaches_every_member_once);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s12_a_rename_under_load_loses_nothing() {
    LAB.run(a_rename_under_load_loses_nothing);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s13_a_full_mailbox_defers_mail_until_its_quota_grows() {
    LAB.run(a_full_mailbox_defers_mail_until_its_quota_grows);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s14_an_export_imports_back_with_hashes_status_class_and_aliases() {
    LAB.run(an_export_imports_back_with_hashes_status_class_and_aliases);
}

/// Two admins, each with a copy of the inventory and state (so separate journals and
/// locks), start a move of the same account at the same moment: the directory's
/// compare-and-swap lets exactly one through; the account ends active on the target.
fn two_admins_cannot_both_start_a_move(f: &Fixture) {
    let user = "budi@tgg.net.id";
    let list = |f: &Fixture| -> Value {
        let (code, out, err) = mailctl(f, &["account", "list", "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let row = |v: &Value| v.as_array().unwrap().iter().find(|r| r["address"] == user).unwrap().clone();
    let from = row(&list(f))["mailbox"].as_str().unwrap().to_string();
    let to = if from == "mbox-1" { "mbox-2" } else { "mbox-1" };
    // The rebalance above may have left a closed copy on the target.
    let (code, _, err) = mailctl(f, &["account", "purge-moved", user]);
    assert_eq!(code, 0, "{err}");
    let other = tempfile::tempdir().unwrap();
    for name in ["lab.yaml", "lab.state.yaml"] {
        std::fs::copy(f.dir.path().join(name), other.path().join(name)).unwrap();
    }
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(f.dir.path().join("lab-credentials"))
        .arg(other.path())
        .status()
        .unwrap();
    assert!(status.success());
    let admins: Vec<std::process::Child> = [f.inventory(), other.path().join("lab.yaml")]
        .iter()
        .map(|inv| {
            common::mailctl()
                .arg("-i")
                .arg(inv)
                .args(["move-account", user, to])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<std::process::Output> = admins.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let won: Vec<&std::process::Output> = results.iter().filter(|o| o.status.success()).collect();
    let text: Vec<String> = results.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
    assert_eq!(won.len(), 1, "exactly one admin's move may run:\n{}", text.join("\n---\n"));
    let loser = results.iter().find(|o| !o.status.success()).unwrap();
    let why = String::from_utf8_lossy(&loser.stderr);
    // Which check stops the second depends on how far the first got: the claim itself, the
    // mark it left, or the copy it began on the target. Each refuses before touching anything.
    assert!(
        ["claimed by another move", "unfinished move", "already has a mail home"].iter().any(|r| why.contains(r)),
        "{why}"
    );
    let after = row(&list(f));
    assert_eq!((after["mailbox"].as_str(), after["state"].as_str()), (Some(to), Some("active")), "{after}");
}

fn add_show_remove_import(f: &Fixture) {
    let pw = f.dir.path().join("ani.pw");
    std::fs::write(&pw, "ani-secret-1\n").unwrap();
    let pw = pw.to_str().unwrap();
    // Bad input is refused before anything is written, each with its reason.
    for (args, says) in [
        (vec!["account", "add", "ani;reboot@tgg.net.id", "--password-file", pw], "`;` is not allowed"),
        (vec!["account", "add", "ani@example.com", "--password-file", pw], "does not serve example.com"),
        (
            vec!["account", "add", "ani@tgg.net.id", "--mailbox", "mbox-9", "--password-file", pw],
            "no mailbox host mbox-9",
        ),
        (
            vec!["account", "add", "ani@tgg.net.id", "--mailbox", "transport", "--password-file", pw],
            "not a mailbox host",
        ),
        (vec!["move-account", "siti@tgg.net.id", "ldap"], "not a mailbox host"),
    ] {
        let (code, _, err) = mailctl(f, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Placement: mbox-1 holds 2 accounts, mbox-2 holds 3, equal capacity → mbox-1.
    let (code, out, err) = mailctl(f, &["account", "add", "ani@tgg.net.id", "--password-file", pw, "--name", "Ani"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ani@tgg.net.id on mbox-1"), "{out}");
    assert!(!out.contains("ani-secret-1") && !err.contains("ani-secret-1"));
    let (code, _, err) = mailctl(f, &["account", "add", "ani@tgg.net.id", "--password-file", pw]);
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(lives_on(f, "ani@tgg.net.id").0, "mbox-1");
    // It works: mail in, IMAP login through the proxy with its password.
    let (ok, out) = py(&["fill", &f.address(MTA), "ani@tgg.net.id", "2", "ani"]);
    assert!(ok, "{out}");
    let (ok, out) = py(&["check", &f.address(MTA), "ani@tgg.net.id", "ani-secret-1"]);
    assert!(ok, "ani's login: {out}");
    // Remove: refused while it holds mail, done with --purge (entry and mail both gone).
    lab::wait_until(Duration::from_secs(20), Duration::from_millis(300), || {
        f.ssh("mbox-1", "ls /var/vmail/tgg.net.id/ani/Maildir/new 2>/dev/null | wc -l").trim() == "2"
    });
    let (code, _, err) = mailctl(f, &["account", "remove", "ani@tgg.net.id"]);
    assert_eq!(code, 1);
    assert!(err.contains("2 message(s)") && err.contains("--purge"), "{err}");
    let (code, out, err) = mailctl(f, &["account", "remove", "ani@tgg.net.id", "--purge"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mail deleted on mbox-1"), "{out}");
    assert_eq!(f.ssh("mbox-1", "ls /var/vmail/tgg.net.id/ | grep -c '^ani$' || true").trim(), "0");
    let (code, _, _) = mailctl(f, &["account", "show", "ani@tgg.net.id"]);
    assert_eq!(code, 1);

    // Import: one bad row refuses the whole file, naming its line; a good file is idempotent.
    let csv = f.dir.path().join("staff.csv");
    std::fs::write(f.dir.path().join("p.pw"), "imp-secret\n").unwrap();
    std::fs::write(&csv, "address,name,mailbox,password_file\nimp1@tgg.net.id,Imp 1,,p.pw\nbad(@tgg.net.id,,,\n")
        .unwrap();
    let (code, _, err) = mailctl(f, &["account", "import", csv.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("staff.csv:3:") && err.contains("nothing was written"), "{err}");
    std::fs::write(
        &csv,
        "address,name,mailbox,password_file\nimp1@tgg.net.id,Imp 1,,p.pw\nimp2@gec-course.com,Imp 2,mbox-2,p.pw\n",
    )
    .unwrap();
    let (code, out, err) = mailctl(f, &["account", "import", csv.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["result"], "added");
    assert_eq!(rows[0]["mailbox"], "mbox-1");
    assert_eq!(rows[1]["mailbox"], "mbox-2");
    let (code, out, _) = mailctl(f, &["account", "import", csv.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("0 account(s) added, 2 already there"), "{out}");
    let (ok, out) = py(&["check", &f.address(MTA), "imp2@gec-course.com", "imp-secret"]);
    assert!(ok, "imported account's login: {out}");
    for user in ["imp1@tgg.net.id", "imp2@gec-course.com"] {
        let (code, _, err) = mailctl(f, &["account", "remove", user]);
        assert_eq!(code, 0, "{err}");
    }
}

/// Siti has folders and flags, a sender writes to her every 100 ms, an IMAP client is
/// logged in through the proxy; she moves to mbox-2.
fn move_under_load(f: &Fixture) {
    let user = "siti@tgg.net.id";
    fill(f, user, 300, "before");
    let mut before = BTreeSet::new();
    for i in 0..300 {
        before.insert(format!("before-{i}@test"));
    }
    assert!(wait_for_all(f, user, &before).is_empty());
    let (ok, out) = common::python(
        r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=ctx); m.login(sys.argv[2], sys.argv[3])
m.create("Projects/2026"); m.select("INBOX"); m.copy("1:5", "Projects/2026")
m.store("1:10", "+FLAGS", "(\\Flagged \\Seen)"); m.store("11:12", "+FLAGS", "(\\Answered)"); m.logout()
"#,
        &[&f.address(MTA), user, &password(f, user)],
    );
    assert!(ok, "{out}");
    let snapshot = mailbox(f, user);
    // Her filters (a Sieve script, as Roundcube writes them) go with her.
    f.ssh(
        "mbox-1",
        &format!(
            "printf 'require \"fileinto\";\nif header :contains \"subject\" \"[projects]\" {{ fileinto \"Projects/2026\"; }}\n' \
             | doveadm sieve put -u {user} -a filters"
        ),
    );

    let load = Load::start(f, user);
    let (code, out, err) = mailctl(f, &["move-account", user, "mbox-2", "--format", "json"]);
    std::thread::sleep(Duration::from_secs(2));
    let (sent, errors, imap) = load.stop();
    assert_eq!(code, 0, "move: {out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["from"], "mbox-1");
    assert_eq!(report["to"], "mbox-2");
    let cutover = report["cutover_secs"].as_f64().unwrap();
    assert!(cutover > 0.0, "cutover window reported: {report}");
    assert!(report["online_copy_secs"].as_f64().unwrap() > 0.0);
    assert!(report["messages"].as_u64().unwrap() >= 300);
    eprintln!("move under load: {report}");

    assert!(errors.is_empty(), "SMTP refused mail during the move: {errors:?}");
    assert!(sent.len() >= 20, "the sender ran: {}", sent.len());
    let missing = wait_for_all(f, user, &sent);
    assert!(missing.is_empty(), "{} message(s) lost: {missing:?}", missing.len());
    // Every message once: count equals distinct IDs (300 before + the sent ones).
    let after = mailbox(f, user);
    assert_eq!(after["INBOX"].as_object().unwrap().len(), 300 + sent.len());
    // Flags and folders survived.
    for folder in ["INBOX", "Projects/2026"] {
        for (id, flags) in snapshot[folder].as_object().unwrap() {
            let now = &after[folder][id];
            let keep = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .filter(|f| f != "\\Recent")
                    .collect()
            };
            assert_eq!(keep(now), keep(flags), "{folder} {id}");
        }
    }
    let sieve = f.ssh("mbox-2", &format!("doveadm sieve list -u {user}"));
    assert!(sieve.contains("filters") && sieve.contains("ACTIVE"), "her Sieve filters stayed behind: {sieve}");
    // The IMAP session was kicked and came back; no login ever failed.
    assert!(imap.iter().filter(|e| *e == "login").count() >= 2, "{imap:?}");
    assert!(!imap.iter().any(|e| e.starts_with("error")), "{imap:?}");
    // The directory and the mail agree: it lives on mbox-2, new mail lands there only,
    // and the old copy on mbox-1 is closed to logins.
    assert_eq!(lives_on(f, user), ("mbox-2".to_string(), "active".to_string()));
    assert_eq!(queue_for(f, user), 0, "mail for {user} left in the queue");
    let count = |host: &str| -> usize {
        f.ssh(
            host,
            "ls /var/vmail/tgg.net.id/siti/Maildir/new /var/vmail/tgg.net.id/siti/Maildir/cur | grep -c , || true",
        )
        .trim()
        .parse()
        .unwrap()
    };
    let (on_1, on_2) = (count("mbox-1"), count("mbox-2"));
    fill(f, user, 1, "after");
    let mut after_id = BTreeSet::new();
    after_id.insert("after-0@test".to_string());
    assert!(wait_for_all(f, user, &after_id).is_empty());
    assert_eq!(count("mbox-1"), on_1, "new mail went to the old host");
    assert!(count("mbox-2") > on_2);
    let (ok, out) = common::python(
        r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=ctx); m.login(sys.argv[2], sys.argv[3])
"#,
        &[&f.address("mbox-1"), user, &password(f, user)],
    );
    assert!(!ok && out.contains("AUTHENTICATIONFAILED"), "the old copy must refuse logins: {out}");
    // purge-moved deletes the old copy only.
    let (code, out, err) = mailctl(f, &["account", "purge-moved", user]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted on mbox-1"), "{out}");
    assert_eq!(inbox_ids(f, user).len(), 300 + sent.len() + 1);
}

/// Siti, moved onto mbox-2 (Debian 13, Dovecot 2.4) by s02, goes back to mbox-1 (Debian 12,
/// Dovecot 2.3) under the same load: dsync from 2.4 to 2.3 loses nothing either.
fn move_back_under_load(f: &Fixture) {
    let user = "siti@tgg.net.id";
    assert_eq!(lives_on(f, user).0, "mbox-2", "s02 moved her to mbox-2");
    let before = inbox_ids(f, user);
    let load = Load::start(f, user);
    let (code, out, err) = mailctl(f, &["move-account", user, "mbox-1", "--format", "json"]);
    std::thread::sleep(Duration::from_secs(2));
    let (sent, errors, imap) = load.stop();
    assert_eq!(code, 0, "move back: {out}\n{err}");
    eprintln!("move back under load: {out}");
    assert!(errors.is_empty(), "SMTP refused mail during the move: {errors:?}");
    assert!(sent.len() >= 20, "the sender ran: {}", sent.len());
    let missing = wait_for_all(f, user, &sent);
    assert!(missing.is_empty(), "{} message(s) lost: {missing:?}", missing.len());
    let after = inbox_ids(f, user);
    assert!(before.is_subset(&after), "mail from before the move is gone");
    assert_eq!(after.len(), before.len() + sent.len(), "every message exactly once");
    assert!(!imap.iter().any(|e| e.starts_with("error")), "{imap:?}");
    assert_eq!(lives_on(f, user), ("mbox-1".to_string(), "active".to_string()));
    let sieve = f.ssh("mbox-1", &format!("doveadm sieve list -u {user}"));
    assert!(sieve.contains("filters") && sieve.contains("ACTIVE"), "her Sieve filters stayed behind: {sieve}");
    let (code, _, err) = mailctl(f, &["account", "purge-moved", user]);
    assert_eq!(code, 0, "{err}");
}

/// Gesang moves with a mailbox big enough that the online copy takes a while; the move is
/// killed in the middle of it.
fn killed_during_copy_then_resumed(f: &Fixture) {
    let user = "gesang@gec-course.com";
    fill(f, user, 3000, "bulk");
    let mut ids: BTreeSet<String> = (0..3000).map(|i| format!("bulk-{i}@test")).collect();
    assert!(wait_for_all(f, user, &ids).is_empty());

    let load = Load::start(f, user);
    kill_move_at(f, user, "mbox-2", "copy", Duration::from_millis(300));
    // Killed during the copy: still on mbox-1, active, mail flowing and logins working.
    assert_eq!(lives_on(f, user), ("mbox-1".to_string(), "active".to_string()));
    std::thread::sleep(Duration::from_secs(1));
    // A fresh move is refused while the journal holds an unfinished one.
    let (code, _, err) = mailctl(f, &["move-account", user, "mbox-2"]);
    assert_eq!(code, 1);
    assert!(err.contains("--resume"), "{err}");
    let (code, out, err) = mailctl(f, &["move-account", "--resume", user, "--format", "json"]);
    std::thread::sleep(Duration::from_secs(2));
    let (sent, errors, imap) = load.stop();
    assert_eq!(code, 0, "resume: {out}\n{err}");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!imap.iter().any(|e| e.starts_with("error")), "{imap:?}");
    assert_eq!(lives_on(f, user), ("mbox-2".to_string(), "active".to_string()));
    ids.extend(sent);
    let missing = wait_for_all(f, user, &ids);
    assert!(missing.is_empty(), "{} lost: {missing:?}", missing.len());
    assert_eq!(inbox_ids(f, user).len(), ids.len());
    let (code, _, err) = mailctl(f, &["account", "purge-moved", user]);
    assert_eq!(code, 0, "{err}");
}

/// Gesang moves back to mbox-1 and is killed during the cutover (mail deferred, logins held):
/// the account stays usable, nothing is lost, `--resume` finishes; then once more, and
/// `--abort` returns it.
fn killed_during_cutover_then_resumed_and_aborted(f: &Fixture) {
    let user = "gesang@gec-course.com";
    let mut ids = inbox_ids(f, user);

    for finish in ["--resume", "--abort"] {
        let load = Load::start(f, user);
        kill_move_at(f, user, "mbox-1", "cutover", Duration::from_millis(60));
        let (host, state) = lives_on(f, user);
        eprintln!("killed during cutover: on {host}, {state}");
        // Usable: a login through the proxy gets in (once the hold, at most 5 s, is over).
        let usable = lab::wait_until(Duration::from_secs(20), Duration::from_millis(500), || {
            py(&["check", &f.address(MTA), user, &password(f, user)]).0
        });
        assert!(usable, "{user} cannot log in after the killed cutover");
        std::thread::sleep(Duration::from_secs(1));
        let (code, out, err) = mailctl(f, &["move-account", finish, user]);
        std::thread::sleep(Duration::from_secs(2));
        let (sent, errors, imap) = load.stop();
        assert_eq!(code, 0, "{finish}: {out}\n{err}");
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!imap.iter().any(|e| e.starts_with("error")), "{imap:?}");
        let home = if finish == "--resume" { "mbox-1" } else { "mbox-2" };
        assert_eq!(lives_on(f, user), (home.to_string(), "active".to_string()), "after {finish}");
        ids.extend(sent);
        let missing = wait_for_all(f, user, &ids);
        assert!(missing.is_empty(), "after {finish}: {} lost: {missing:?}", missing.len());
        assert_eq!(inbox_ids(f, user).len(), ids.len(), "after {finish}: duplicates");
        assert_eq!(queue_for(f, user), 0);
        if finish == "--resume" {
            let (code, _, err) = mailctl(f, &["account", "purge-moved", user]);
            assert_eq!(code, 0, "{err}");
            // Back to mbox-2 for the abort round.
            let (code, out, err) = mailctl(f, &["move-account", user, "mbox-2", "--purge"]);
            assert_eq!(code, 0, "{out}{err}");
        } else {
            // The aborted target's partial copy is gone.
            assert_eq!(f.ssh("mbox-1", "ls /var/vmail/gec-course.com | grep -c '^gesang$' || true").trim(), "0");
        }
    }
}

/// Every account on mbox-2, then `rebalance` plans the moves that even the hosts out and
/// `--apply` carries them out.
fn rebalance_evens_out_one_full_host(f: &Fixture) {
    let on = |host: &str| -> Vec<String> {
        let (code, out, err) = mailctl(f, &["account", "list", "--mailbox", host, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v.as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap().to_string()).collect()
    };
    for user in on("mbox-1") {
        let (code, out, err) = mailctl(f, &["move-account", &user, "mbox-2", "--purge"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let all = on("mbox-2");
    assert_eq!(all.len(), 5);
    assert!(on("mbox-1").is_empty());

    let (code, out, err) = mailctl(f, &["rebalance", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let moves = plan["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 2, "{plan:#}");
    assert!(moves.iter().all(|m| m["from"] == "mbox-2" && m["to"] == "mbox-1"));
    assert!(plan["applied"].as_array().unwrap().is_empty(), "a plan alone moves nothing");
    assert_eq!(on("mbox-1").len(), 0);

    let (code, out, err) = mailctl(f, &["rebalance", "--apply"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("moved"), "{out}");
    assert_eq!((on("mbox-1").len(), on("mbox-2").len()), (2, 3));
    let (code, out, _) = mailctl(f, &["rebalance"]);
    assert_eq!(code, 0);
    assert!(out.contains("balanced"), "{out}");
    // Everyone still receives mail and logs in where the directory says.
    for user in &all {
        let (ok, out) = py(&["check", &f.address(MTA), user, &password(f, user)]);
        assert!(ok, "{user}: {out}");
    }
}

/// Logs in through the proxy over IMAP (993), POP3 (995) and SMTP AUTH (587): "ok" or why not,
/// one word per protocol.
const LOGINS: &str = r#"
import imaplib, poplib, smtplib, ssl, sys
host, user, pw = sys.argv[1:4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
out = []
try:
    m = imaplib.IMAP4_SSL(host, 993, ssl_context=ctx); m.login(user, pw); m.logout(); out.append("imap:ok")
except Exception as e:
    out.append("imap:refused")
try:
    p = poplib.POP3_SSL(host, 995, context=ctx); p.user(user); p.pass_(pw); p.quit(); out.append("pop3:ok")
except Exception as e:
    out.append("pop3:refused")
try:
    s = smtplib.SMTP(host, 587, timeout=10); s.starttls(context=ctx); s.login(user, pw); s.quit(); out.append("smtp:ok")
except smtplib.SMTPAuthenticationError:
    out.append("smtp:refused")
print(" ".join(out))
"#;

/// Sends one message to `rcpt` on port 25: the server's answer to RCPT, or "accepted".
const SEND_ONE: &str = r#"
import smtplib, sys
host, rcpt, subject = sys.argv[1:4]
s = smtplib.SMTP(host, 25, timeout=10)
try:
    s.sendmail("tester@example.org", [rcpt], f"From: tester@example.org\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody\r\n")
    print("accepted")
except smtplib.SMTPRecipientsRefused as e:
    print("refused", list(e.recipients.values())[0][0])
s.quit()
"#;

fn logins(f: &Fixture, user: &str, pw: &str) -> String {
    let (ok, out) = common::python(LOGINS, &[&f.address(MTA), user, pw]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

fn send_one(f: &Fixture, rcpt: &str, subject: &str) -> String {
    let (ok, out) = common::python(SEND_ONE, &[&f.address(MTA), rcpt, subject]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// A new account on mbox-1 with `pw`, for a scenario of its own.
fn fresh_account(f: &Fixture, user: &str, pw: &str) {
    let file = f.dir.path().join(format!("{user}.pw"));
    std::fs::write(&file, format!("{pw}\n")).unwrap();
    let (code, _, err) =
        mailctl(f, &["account", "add", user, "--mailbox", "mbox-1", "--password-file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// Messages in `user`'s INBOX on mbox-1 whose subject is `subject`.
fn delivered(f: &Fixture, user: &str, subject: &str) -> usize {
    let out = f.ssh("mbox-1", &format!("doveadm search -u {user} mailbox INBOX header subject '{subject}' | wc -l"));
    out.trim().parse().unwrap_or(0)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn a_new_password_works_at_once_and_the_old_one_stops(f: &Fixture) {
    let user = "pwtest@tgg.net.id";
    fresh_account(f, user, "first-Secret-1");
    // Logged in once, so every cache on the way holds the old password.
    assert_eq!(logins(f, user, "first-Secret-1"), "imap:ok pop3:ok smtp:ok");
    let file = f.dir.path().join("new.pw");
    std::fs::write(&file, "second-Secret-2\n").unwrap();
    let (code, out, err) = mailctl(f, &["account", "passwd", user, "--password-file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password set") && !out.contains("second-Secret-2") && !err.contains("second-Secret-2"));
    // Right away, no waiting for a cache to expire: the new one works, the old one does not.
    assert_eq!(logins(f, user, "second-Secret-2"), "imap:ok pop3:ok smtp:ok");
    assert_eq!(logins(f, user, "first-Secret-1"), "imap:refused pop3:refused smtp:refused");
    // An unknown account is said so, and nothing is asked.
    let (code, _, err) =
        mailctl(f, &["account", "passwd", "nobody-here@tgg.net.id", "--password-file", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no account nobody-here@tgg.net.id"), "{err}");
}

fn each_status_does_what_it_says(f: &Fixture) {
    let user = "sttest@tgg.net.id";
    let pw = "status-Secret-3";
    fresh_account(f, user, pw);
    assert_eq!(logins(f, user, pw), "imap:ok pop3:ok smtp:ok");
    let set = |state: &str| {
        let (code, out, err) = mailctl(f, &["account", "set-status", user, state]);
        assert_eq!(code, 0, "{state}: {err}");
        out
    };
    let state_of = || lives_on(f, user).1;

    // locked: no login anywhere, mail still delivered.
    set("locked");
    assert_eq!(state_of(), "locked");
    assert_eq!(logins(f, user, pw), "imap:refused pop3:refused smtp:refused");
    assert_eq!(send_one(f, user, "while-locked"), "accepted");
    wait_until("mail to a locked account is delivered", || delivered(f, user, "while-locked") == 1);

    // maintenance: no login, mail held in the MTA's queue, delivered once active again.
    set("maintenance");
    assert_eq!(logins(f, user, pw), "imap:refused pop3:refused smtp:refused");
    assert_eq!(send_one(f, user, "during-maintenance"), "accepted");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(delivered(f, user, "during-maintenance"), 0, "held, not delivered");
    assert!(f.ssh(MTA, "postqueue -j").contains(user), "held in the queue");
    let out = set("active");
    assert!(out.contains("maintenance → active"), "{out}");
    wait_until("held mail is delivered after maintenance", || delivered(f, user, "during-maintenance") == 1);
    assert_eq!(logins(f, user, pw), "imap:ok pop3:ok smtp:ok");

    // closed: no login, mail refused with a permanent error.
    set("closed");
    assert_eq!(logins(f, user, pw), "imap:refused pop3:refused smtp:refused");
    let answer = send_one(f, user, "after-close");
    assert!(answer.starts_with("refused 55"), "{answer}");
    assert_eq!(set("closed").trim(), format!("{user} is closed already"));

    // Not a status one may set; nothing connects.
    let (code, _, err) = mailctl(f, &["account", "set-status", user, "moving"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a status to set"), "{err}");
    set("active");
    assert_eq!(logins(f, user, pw), "imap:ok pop3:ok smtp:ok");
}

fn aliases_and_forwarding_route_mail(f: &Fixture) {
    let (owner, other) = ("altest@tgg.net.id", "fwtarget@gec-course.com");
    fresh_account(f, owner, "alias-Secret-4");
    fresh_account(f, other, "fwd-Secret-5");
    let run = |args: &[&str]| {
        let (code, out, err) = mailctl(f, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    // An alias leads to its account, once.
    run(&["account", "alias", "add", owner, "info@tgg.net.id"]);
    assert!(run(&["account", "alias", "list", owner]).contains("info@tgg.net.id"));
    assert_eq!(send_one(f, "info@tgg.net.id", "to-the-alias"), "accepted");
    wait_until("mail to an alias reaches its account", || delivered(f, owner, "to-the-alias") == 1);
    // One address, one use: an alias of another, an account, or an existing address is refused.
    let (code, _, err) = mailctl(f, &["account", "alias", "add", other, "info@tgg.net.id"]);
    assert_eq!(code, 1);
    assert!(err.contains("is an alias of altest@tgg.net.id"), "{err}");
    let (code, _, err) = mailctl(f, &["account", "alias", "add", owner, other]);
    assert_eq!(code, 1);
    assert!(err.contains("is an account"), "{err}");
    let pw = f.dir.path().join("x.pw");
    std::fs::write(&pw, "x-Secret-6\n").unwrap();
    let (code, _, err) = mailctl(f, &["account", "add", "info@tgg.net.id", "--password-file", pw.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is an alias of"), "{err}");
    let (code, _, err) = mailctl(f, &["account", "alias", "add", owner, "info@example.org"]);
    assert_eq!(code, 2, "an alias must be in a domain the cluster serves: {err}");
    // Removed, the alias is an unknown address again.
    run(&["account", "alias", "remove", owner, "info@tgg.net.id"]);
    assert!(send_one(f, "info@tgg.net.id", "after-removal").starts_with("refused 55"));

    // Forwarding inside the cluster, without then with a copy kept.
    run(&["account", "forward", owner, "--to", other]);
    assert_eq!(send_one(f, owner, "forwarded-no-copy"), "accepted");
    wait_until("forwarded mail arrives at the target", || delivered_anywhere(f, other, "forwarded-no-copy") == 1);
    assert_eq!(delivered(f, owner, "forwarded-no-copy"), 0, "no copy kept");
    let out = run(&["account", "forward", owner, "--to", other, "--keep-copy"]);
    assert!(out.contains("keeping a copy"), "{out}");
    assert_eq!(send_one(f, owner, "forwarded-with-copy"), "accepted");
    wait_until("forwarded mail arrives at the target", || delivered_anywhere(f, other, "forwarded-with-copy") == 1);
    wait_until("and a copy stays", || delivered(f, owner, "forwarded-with-copy") == 1);
    // Forwarding out of the cluster: the MTA takes it and queues it for the outside (the lab
    // has no route out, so it waits there).
    run(&["account", "forward", owner, "--to", "someone@example.org"]);
    assert_eq!(send_one(f, owner, "forwarded-out"), "accepted");
    wait_until("mail forwarded outside is queued for it", || {
        f.ssh(MTA, "postqueue -j").contains("someone@example.org")
    });
    // Only that message is dropped from the queue: anything else there stays for the checks after.
    f.ssh(
        MTA,
        "postqueue -j | grep someone@example.org | sed -n 's/.*\"queue_id\": *\"\\([0-9A-F]*\\)\".*/\\1/p' | postsuper -d - >/dev/null 2>&1; true",
    );
    let (code, _, err) = mailctl(f, &["account", "forward", owner, "--to", owner]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot forward to itself"), "{err}");
    run(&["account", "forward", owner, "--off"]);
    assert_eq!(send_one(f, owner, "after-off"), "accepted");
    wait_until("mail stays after forwarding stops", || delivered(f, owner, "after-off") == 1);
}

/// Like `delivered`, on whichever mailbox host holds `user`.
fn delivered_anywhere(f: &Fixture, user: &str, subject: &str) -> usize {
    let host = lives_on(f, user).0;
    let out = f.ssh(&host, &format!("doveadm search -u {user} mailbox INBOX header subject '{subject}' | wc -l"));
    out.trim().parse().unwrap_or(0)
}

fn a_list_reaches_every_member_once(f: &Fixture) {
    let run = |args: &[&str]| {
        let (code, out, err) = mailctl(f, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let inv = f.inventory();
    let inv = inv.to_str().unwrap();
    // Members on both mailbox hosts, one of them twice (as itself and through an alias), and
    // one outside the cluster.
    let (a, b) = ("lista@tgg.net.id", "listb@gec-course.com");
    fresh_account(f, a, "list-Secret-7");
    let pw = f.dir.path().join("listb.pw");
    std::fs::write(&pw, "list-Secret-8\n").unwrap();
    run(&["account", "add", b, "--mailbox", "mbox-2", "--password-file", pw.to_str().unwrap()]);
    run(&["account", "alias", "add", a, "lista.alias@tgg.net.id"]);
    run(&["list", "create", inv, "staff@tgg.net.id"]);
    let out = run(&["list", "add", inv, "staff@tgg.net.id", a, b, "lista.alias@tgg.net.id", "partner@example.org"]);
    assert!(out.contains("4 member(s)"), "{out}");
    assert_eq!(send_one(f, "staff@tgg.net.id", "to-the-list"), "accepted");
    wait_until("a member on mbox-1 gets it", || delivered(f, a, "to-the-list") >= 1);
    wait_until("a member on mbox-2 gets it", || delivered_anywhere(f, b, "to-the-list") == 1);
    wait_until("the outside member's copy is queued", || f.ssh(MTA, "postqueue -j").contains("partner@example.org"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(delivered(f, a, "to-the-list"), 1, "once, though listed twice");
    f.ssh(
        MTA,
        "postqueue -j | grep partner@example.org | sed -n 's/.*\"queue_id\": *\"\\([0-9A-F]*\\)\".*/\\1/p' | postsuper -d - >/dev/null 2>&1; true",
    );
    // One address, one use; no lists in lists; members of our domains must exist.
    for (args, why) in [
        (vec!["list", "create", inv, a], "is an account"),
        (vec!["list", "create", inv, "lista.alias@tgg.net.id"], "is an alias of"),
        (vec!["list", "create", inv, "staff@tgg.net.id"], "exists already"),
        (vec!["account", "alias", "add", b, "staff@tgg.net.id"], "is a distribution list"),
        (vec!["list", "add", inv, "staff@tgg.net.id", "nobody@tgg.net.id"], "no account or alias"),
    ] {
        let (code, _, err) = mailctl(f, &args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    run(&["list", "create", inv, "inner@tgg.net.id"]);
    let (code, _, err) = mailctl(f, &["list", "add", inv, "staff@tgg.net.id", "inner@tgg.net.id"]);
    assert_eq!(code, 1);
    assert!(err.contains("lists inside lists are refused"), "{err}");
    // Removing a member and deleting the list.
    run(&["list", "remove", inv, "staff@tgg.net.id", b]);
    let shown: Value =
        serde_json::from_str(&run(&["list", "show", inv, "staff@tgg.net.id", "--format", "json"])).unwrap();
    assert!(!shown["members"].as_array().unwrap().iter().any(|m| m == b), "{shown}");
    run(&["list", "delete", inv, "staff@tgg.net.id"]);
    run(&["list", "delete", inv, "inner@tgg.net.id"]);
    assert!(send_one(f, "staff@tgg.net.id", "after-delete").starts_with("refused 55"));
}

/// A sender that writes to `rcpt` every 100 ms until stopped: (accepted IDs, refusals).
struct Sender {
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Sender {
    fn drop(&mut self) {
        common::kill_if_running(&mut self.child);
    }
}

impl Sender {
    fn start(f: &Fixture, rcpt: &str) -> Sender {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
        let child = Command::new("/usr/bin/python3")
            .arg(load_script())
            .args(["send", &f.address(MTA), rcpt, &p("sent"), &p("stop")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Sender { dir, child }
    }

    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        std::fs::write(self.dir.path().join("stop"), "").unwrap();
        self.child.wait().unwrap();
        let sent = std::fs::read_to_string(self.dir.path().join("sent")).unwrap_or_default();
        let (errors, ids): (Vec<String>, Vec<String>) =
            sent.lines().map(String::from).partition(|l| l.starts_with("ERROR"));
        (ids, errors)
    }
}

/// Messages in `user`'s INBOX as its mailbox host counts them (duplicates included).
fn inbox_count(f: &Fixture, user: &str) -> usize {
    let host = lives_on(f, user).0;
    let out = f.ssh(&host, &format!("doveadm -f tab mailbox status -u {user} messages INBOX | tail -1 | cut -f2"));
    out.trim().parse().unwrap_or(0)
}

/// An account with folders, flags, an alias and a list membership is renamed while one
/// sender writes to the old address and another to the new one every 100 ms, and an IMAP
/// client is logged in: every accepted message is in the renamed mailbox exactly once, the
/// folders and flags followed, nothing bounced, the old address keeps working as an alias.
fn a_rename_under_load_loses_nothing(f: &Fixture) {
    let (old, new) = ("rntest@tgg.net.id", "rn.renamed@gec-course.com");
    let pw = "rename-Secret-9";
    fresh_account(f, old, pw);
    let run = |args: &[&str]| {
        let (code, out, err) = mailctl(f, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    run(&["account", "alias", "add", old, "rn.alias@tgg.net.id"]);
    run(&["list", "create", "rnlist@tgg.net.id"]);
    run(&["list", "add", "rnlist@tgg.net.id", old]);
    fill(f, old, 20, "before");
    wait_until("the first 20 arrive", || inbox_count(f, old) == 20);
    f.ssh("mbox-1", &format!("doveadm mailbox create -u {old} Projects && doveadm move -u {old} Projects mailbox INBOX header subject 'before 1' && doveadm flags add -u {old} '\\Flagged' mailbox INBOX header subject 'before 2'"));
    let before = {
        let (ok, out) = py(&["check", &f.address(MTA), old, pw]);
        assert!(ok, "{out}");
        serde_json::from_str::<Value>(&out).unwrap()["folders"].clone()
    };
    let bounces_before = bounces(f);
    let to_old = Sender::start(f, old);
    let imap = {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("/usr/bin/python3")
            .arg(load_script())
            .args([
                "imap",
                &f.address(MTA),
                old,
                pw,
                dir.path().join("imap").to_str().unwrap(),
                dir.path().join("stop").to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        (dir, common::Guarded(child))
    };
    std::thread::sleep(Duration::from_secs(1));
    // Mail to the new name starts as the rename does: refused (5xx, the sender knows) until
    // the rename holds it, never accepted and lost.
    let to_new = Sender::start(f, new);
    let out = run(&["account", "rename", old, new, "--format", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["lists"], serde_json::json!(["rnlist@tgg.net.id"]), "{report}");
    std::thread::sleep(Duration::from_secs(2));
    let (ids_new, errors_new) = to_new.stop();
    let (ids_old, errors_old) = to_old.stop();
    std::fs::write(imap.0.path().join("stop"), "").unwrap();
    let mut imap_child = imap.1;
    imap_child.0.wait().unwrap();
    assert!(errors_old.is_empty(), "mail to the old address was refused: {errors_old:?}");
    assert!(errors_new.iter().all(|e| e.contains("550")), "{errors_new:?}");
    assert!(!ids_new.is_empty(), "nothing to the new address was accepted");
    // Sent after the rename returned, to either address: accepted.
    assert_eq!(send_one(f, new, "after-rename-new"), "accepted");
    assert_eq!(send_one(f, old, "after-rename-old"), "accepted");
    assert_eq!(send_one(f, "rnlist@tgg.net.id", "after-rename-list"), "accepted");
    let expected: BTreeSet<String> = ids_old.iter().chain(&ids_new).cloned().collect();
    let total = before["INBOX"].as_object().unwrap().len() + expected.len() + 3;
    wait_until("every accepted message is in the renamed mailbox", || inbox_count(f, new) == total);
    std::thread::sleep(Duration::from_secs(2));
    let after = {
        let (ok, out) = py(&["check", &f.address(MTA), new, pw]);
        assert!(ok, "{out}");
        serde_json::from_str::<Value>(&out).unwrap()["folders"].clone()
    };
    let inbox: BTreeSet<String> = after["INBOX"].as_object().unwrap().keys().cloned().collect();
    let missing: Vec<&String> = expected.difference(&inbox).collect();
    assert!(missing.is_empty(), "lost in the rename: {missing:?}");
    assert_eq!(inbox_count(f, new), total, "a message arrived twice");
    assert_eq!(after["Projects"].as_object().unwrap().len(), 11, "the folder followed");
    for folder in ["INBOX", "Projects"] {
        for (id, flags) in before[folder].as_object().unwrap() {
            let now: Vec<&Value> = after[folder][id].as_array().unwrap().iter().filter(|f| *f != "\\Recent").collect();
            let was: Vec<&Value> = flags.as_array().unwrap().iter().filter(|f| *f != "\\Recent").collect();
            assert_eq!(now, was, "{folder} {id}");
        }
    }
    assert_eq!(bounces(f), bounces_before, "a message bounced during the rename");
    // The directory: the new name, the old one and the alias lead to it, the list names it.
    let shown: Value = serde_json::from_str(&run(&["account", "show", new, "--format", "json"])).unwrap();
    let aliases = shown["account"]["aliases"].as_array().unwrap();
    assert!(aliases.contains(&Value::from(old)) && aliases.contains(&Value::from("rn.alias@tgg.net.id")), "{shown}");
    let list: Value = serde_json::from_str(&run(&["list", "show", "rnlist@tgg.net.id", "--format", "json"])).unwrap();
    assert_eq!(list["members"], serde_json::json!([new]));
    assert_eq!(logins(f, new, pw), "imap:ok pop3:ok smtp:ok");
    assert!(f.ssh("mbox-1", "[ -e /var/vmail/tgg.net.id/rntest ] && echo old-home-left || echo gone").contains("gone"));
}

/// A 1M quota: once the mailbox is full, more mail waits in the MTA's queue (never bounced)
/// and `account list` shows the use; a bigger quota through a class of service lets it in.
fn a_full_mailbox_defers_mail_until_its_quota_grows(f: &Fixture) {
    let user = "qtest@tgg.net.id";
    fresh_account(f, user, "quota-Secret-4");
    let run = |args: &[&str]| {
        let (code, out, err) = mailctl(f, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    assert!(run(&["account", "quota", user, "1M"]).contains("quota 1M (from account)"));
    let bounces_before = bounces(f);
    let (ok, out) = py(&["fill", &f.address(MTA), user, "6", "full", "300000"]);
    assert!(ok, "{out}");
    wait_until("the mailbox fills and the rest waits", || inbox_count(f, user) >= 3 && queue_for(f, user) >= 1);
    std::thread::sleep(Duration::from_secs(2));
    let held = queue_for(f, user);
    assert_eq!(inbox_count(f, user) + held, 6, "every message delivered or waiting");
    assert!(f.ssh(MTA, "journalctl --no-pager -q | grep qtest | grep -c 'dsn=4.2.2' || true").trim() != "0");
    assert_eq!(bounces(f), bounces_before, "an over-quota message bounced");
    // The listing shows the use against the quota.
    let listed: Value = serde_json::from_str(&run(&["account", "list", "--format", "json"])).unwrap();
    let row = listed.as_array().unwrap().iter().find(|a| a["address"] == user).unwrap().clone();
    assert_eq!(row["usage"]["storage_limit"], 1 << 20, "{row}");
    assert!(row["usage"]["bytes"].as_u64().unwrap() > 800_000, "{row}");
    let table = run(&["account", "list"]);
    assert!(table.lines().any(|l| l.contains(user) && l.contains("1M (")), "{table}");
    // IMAP APPEND is refused over quota too (the client is told, nothing half-saved).
    let appended =
        f.ssh("mbox-1", &format!("head -c 400000 /dev/zero | tr '\\0' x | doveadm save -u {user} 2>&1 || true"));
    assert!(appended.to_lowercase().contains("quota"), "{appended}");
    // Its class's 5G instead of its own 1M: the held mail comes in.
    run(&["account", "quota", user, "default"]);
    assert!(run(&["account", "class", user, "staff"]).contains("quota 5G (from class staff)"));
    wait_until("the held mail is delivered", || inbox_count(f, user) == 6);
    assert_eq!(queue_for(f, user), 0);
    let shown: Value = serde_json::from_str(&run(&["account", "show", user, "--format", "json"])).unwrap();
    assert_eq!(shown["account"]["limits"]["from"], "class staff");
    assert_eq!(shown["account"]["usage"]["messages"], 6);
    // An unknown class is refused before anything changes.
    let (code, _, err) = mailctl(f, &["account", "class", user, "teachers"]);
    assert_eq!(code, 2);
    assert!(err.contains("no class of service `teachers`"), "{err}");
}

/// `account export` writes what `import` reads: after an account is removed, importing the
/// export brings it back with its password (as a hash), status, class, quota, aliases and
/// forwarding; the file is private and holds no plaintext.
fn an_export_imports_back_with_hashes_status_class_and_aliases(f: &Fixture) {
    let user = "extest@tgg.net.id";
    let pw = "export-Secret-5";
    fresh_account(f, user, pw);
    let run = |args: &[&str]| {
        let (code, out, err) = mailctl(f, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    run(&["account", "class", user, "students"]);
    run(&["account", "quota", user, "300M"]);
    run(&["account", "alias", "add", user, "ex.alias@tgg.net.id"]);
    run(&["account", "forward", user, "--to", "ex@example.org", "--keep-copy"]);
    let file = f.dir.path().join("accounts.csv");
    run(&["account", "export", "--out", file.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(!csv.contains(pw), "a plaintext password in the export");
    let line = csv.lines().find(|l| l.starts_with(user)).unwrap();
    assert!(
        line.contains("{SSHA}") && line.contains(",students,300M,active,ex.alias@tgg.net.id,ex@example.org,true"),
        "{line}"
    );
    run(&["account", "remove", user, "--purge"]);
    let out = run(&["account", "import", file.to_str().unwrap()]);
    assert!(out.contains(&format!("added      {user}")), "{out}");
    assert!(out.lines().last().unwrap().starts_with("1 account(s) added"), "{out}");
    let shown: Value = serde_json::from_str(&run(&["account", "show", user, "--format", "json"])).unwrap();
    let a = &shown["account"];
    assert_eq!((a["class"].as_str(), a["quota"].as_u64()), (Some("students"), Some(300 << 20)), "{a}");
    assert_eq!(a["aliases"], serde_json::json!(["ex.alias@tgg.net.id"]));
    assert_eq!(
        (a["forward"].clone(), a["keep_copy"].clone()),
        (serde_json::json!(["ex@example.org"]), Value::from(true))
    );
    // The old password works: the hash came back as it was.
    assert_eq!(logins(f, user, pw), "imap:ok pop3:ok smtp:ok");
    run(&["account", "forward", user, "--off"]);
}
