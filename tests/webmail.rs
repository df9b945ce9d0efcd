//! Webmail through the proxy in a real browser (Debian's chromium, headless, driven by
//! Playwright: `tests/webmail/browser.py`), on a deployed lab of the TGG topology:
//! - a wrong password shows Roundcube's own "Login failed", not a server error;
//! - siti (mbox-1) logs in at `https://<proxy>/`, sends to budi (mbox-2, same domain) and to
//!   sarbini (the other domain); both messages arrive, checked over IMAP through the proxy;
//!   budi logs in with the same browser and sees the message in his list;
//! - siti switches on an out-of-office reply and makes a filter in the browser: mail from
//!   outside gets the reply (through the MTA), mail from reports@example.org lands in Reports.
//!
//! - with two webmail hosts (the lab plus a second proxy), they share one database: a contact
//!   saved through one is seen through the other; with the database's host down, `status`
//!   says webmail is stopped on both.
//!
//! Screenshots of the login page and both inboxes are kept in target/test-artifacts/webmail/.

mod common;

use std::time::Duration;

use common::{LabCluster, python};
use mailctl::lab;

/// The virtualenv `scripts/install-deps.sh` makes, with Playwright in it.
const BROWSER_PYTHON: &str = "/opt/mailctl-test-venv/bin/python";

/// How many messages with SUBJECT are in FOLDER, over IMAP through the proxy (993).
const IMAP_COUNT: &str = r#"
import imaplib, ssl, sys
host, user, pw, folder, subject = sys.argv[1:6]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, 993, ssl_context=ctx); m.login(user, pw)
m.select(folder, readonly=True)
typ, data = m.search(None, "SUBJECT", f'"{subject}"')
print(len(data[0].split())); m.logout()
"#;

/// One message from outside the cluster into port 25.
const SEND_FROM_OUTSIDE: &str = r#"
import smtplib, sys
host, sender, rcpt, subject = sys.argv[1:5]
s = smtplib.SMTP(host, 25, timeout=20)
s.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nfrom outside\r\n")
s.quit()
"#;

fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts/webmail");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Lab(LabCluster);

impl Drop for Lab {
    fn drop(&mut self) {
        common::lab_down(&self.0);
    }
}

fn imap_count(f: &LabCluster, user: &str, folder: &str, subject: &str) -> usize {
    let (ok, out) = python(IMAP_COUNT, &[&f.address("transport"), user, &f.password(user), folder, subject]);
    assert!(ok, "{out}");
    out.trim().parse().unwrap()
}

fn wait(what: &str, mut ready: impl FnMut() -> bool) {
    assert!(lab::wait_until(Duration::from_secs(60), Duration::from_millis(500), &mut ready), "never: {what}");
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn webmail_in_a_real_browser_with_filters_and_out_of_office() {
    let f = Lab(LabCluster::new("webtest", "10.92.0.", "mailctl-w0", |text| text));
    let f = &f.0;
    f.up_and_deployed();
    let artifacts = artifacts();
    for shot in ["login.png", "inbox-siti@tgg.net.id.png", "inbox-budi@tgg.net.id.png"] {
        let _ = std::fs::remove_file(artifacts.join(shot));
    }
    // The folder siti's filter files into, subscribed so Roundcube offers it.
    f.ssh("mbox-1", "doveadm mailbox create -s -u siti@tgg.net.id Reports");

    let (siti, budi, sarbini) = ("siti@tgg.net.id", "budi@tgg.net.id", "sarbini@gec-course.com");
    let subject = format!("webmail {}", std::process::id());
    let url = format!("https://{}/", f.address("transport"));
    let out = std::process::Command::new(BROWSER_PYTHON)
        .arg(common::repo().join("tests/webmail/browser.py"))
        .args([&url, artifacts.to_str().unwrap(), &subject, siti, &f.password(siti), budi, &f.password(budi)])
        .args([budi, sarbini])
        .output()
        .unwrap_or_else(|e| panic!("{BROWSER_PYTHON}: {e}; run `sudo scripts/install-deps.sh`"));
    let steps = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("browser:\n{steps}");
    assert!(out.status.success(), "a browser step failed:\n{steps}");
    for step in ["wrong-password", "login", "send", "vacation", "filter", "reader"] {
        assert!(steps.contains(&format!("{step} ok")), "{step} did not run:\n{steps}");
    }
    for shot in ["login.png", "inbox-siti@tgg.net.id.png", "inbox-budi@tgg.net.id.png"] {
        let png = std::fs::read(artifacts.join(shot)).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot} is no real screenshot");
    }

    // Both recipients got it once, over IMAP through the proxy.
    wait("budi's copy", || imap_count(f, budi, "INBOX", &subject) == 1);
    wait("sarbini's copy", || imap_count(f, sarbini, "INBOX", &subject) == 1);

    // Out of office: mail from outside is answered through the MTA (the reply waits in its
    // queue for a domain the lab cannot reach), and siti keeps the mail.
    let transport = f.address("transport");
    let (ok, out) = python(SEND_FROM_OUTSIDE, &[&transport, "friend@example.org", siti, "hello siti"]);
    assert!(ok, "{out}");
    wait("siti has the mail from outside", || imap_count(f, siti, "INBOX", "hello siti") == 1);
    wait("the out-of-office reply is on its way", || {
        f.ssh("transport", "postqueue -j").lines().any(|l| l.contains("\"friend@example.org\""))
    });
    let log = f.ssh("mbox-1", "journalctl -u dovecot -o cat | grep 'vacation action' || true");
    assert!(log.contains("sent vacation response to <friend@example.org>"), "{log}");

    // The filter: mail from reports@example.org is filed into Reports, not the INBOX.
    let (ok, out) = python(SEND_FROM_OUTSIDE, &[&transport, "reports@example.org", siti, "weekly report"]);
    assert!(ok, "{out}");
    wait("the report filed into Reports", || imap_count(f, siti, "Reports", "weekly report") == 1);
    assert_eq!(imap_count(f, siti, "INBOX", "weekly report"), 0);
    f.ssh("transport", "postsuper -d ALL deferred >/dev/null 2>&1; true");
}

/// Two webmail hosts (the transport host and a second proxy) share one database on the LDAP
/// provider: a contact saved through one is seen through the other. With that database down,
/// status reports webmail stopped on both (Roundcube serves an error page, not its form).
#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn two_webmail_hosts_share_one_database() {
    let f = Lab(LabCluster::new("webdbtest", "10.91.0.", "mailctl-w1", |text| {
        let mbox2 = text.lines().find(|l| l.contains("name: mbox-2")).unwrap().to_string();
        let proxy2 = "  - { name: proxy-2, address: 10.91.0.8, fqdn: proxy-2.tgg.net.id, roles: [proxy] }";
        text.replace(&mbox2, &format!("{mbox2}\n{proxy2}"))
    }));
    let f = &f.0;
    f.up_and_deployed();
    let (a, b) = (format!("https://{}/", f.address("transport")), format!("https://{}/", f.address("proxy-2")));
    let siti = "siti@tgg.net.id";
    let out = std::process::Command::new(BROWSER_PYTHON)
        .arg(common::repo().join("tests/webmail/contacts.py"))
        .args([&a, &b, artifacts().to_str().unwrap(), siti, &f.password(siti), "Ani Shared", "ani@example.org"])
        .output()
        .unwrap_or_else(|e| panic!("{BROWSER_PYTHON}: {e}; run `sudo scripts/install-deps.sh`"));
    let steps = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("browser:\n{steps}");
    assert!(out.status.success() && steps.contains("see-contact ok"), "{steps}");

    // The database is the LDAP provider's PostgreSQL, open to the webmail hosts only: from
    // this machine, even with Roundcube's password, it refuses.
    let pg = f.cluster.host("ldap").unwrap().os.release().postgresql;
    let hba = f.ssh("ldap", &format!("cat /etc/postgresql/{pg}/main/pg_hba.conf"));
    assert!(hba.contains("10.91.0.4/32") && hba.contains("10.91.0.8/32") && !hba.contains("10.91.0.3/32"), "{hba}");
    let state = mailctl::state::LocalState::open(&f.dir.path().join("lab.state.yaml")).unwrap();
    let password = state.data.secrets.get("webmail_db").cloned().expect("the webmail database's password");
    let outside = std::process::Command::new("psql")
        .arg(format!("host={} dbname=roundcube user=roundcube sslmode=require connect_timeout=5", f.address("ldap")))
        .args(["-X", "-c", "select 1"])
        .env("PGPASSWORD", &password)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&outside.stderr);
    assert!(!outside.status.success() && said.contains("no pg_hba.conf entry"), "from outside: {said}");
    let status = |host: &str| {
        let out = common::mailctl()
            .args(["status", "--format", "json", "--host", host, "--service", "webmail"])
            .arg(f.inventory())
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["hosts"][0]["services"][0]["state"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(status("proxy-2"), "running");
    let unit = format!("postgresql@{pg}-main");
    let _restore = common::Restore(|| f.ssh_quietly("ldap", &format!("systemctl start {unit}")));
    f.ssh("ldap", &format!("systemctl stop {unit}"));
    assert_eq!(status("proxy-2"), "stopped", "webmail without its database is down");
    assert_eq!(status("transport"), "stopped");
    f.ssh("ldap", &format!("systemctl start {unit}"));
    wait("webmail back with its database", || status("proxy-2") == "running");
}
