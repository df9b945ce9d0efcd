//! Mailbox pairs on real lab hosts (docs/pairs.md). The SMKNH pair (two hosts with every role,
//! the one that dies the LDAP provider) is the field test of its report (tests/field.rs); here,
//! four hosts, each a mailbox host, in two pairs: ldap + mbox-1 (automatic) and transport +
//! mbox-2 (manual). Clients come through transport (proxy and MTA).
//! - s1: mbox-1 powered off under a sender every 100 ms and an IMAP session (the drill of
//!   tests/common/pairs.rs): ldap, the LDAP provider, serves its accounts within seconds,
//!   nothing acknowledged is lost or bounced, and after `mailctl failback` every message is on
//!   both hosts exactly once.
//! - s2: the manual pair: mbox-2 powered off, nobody takes its address until
//!   `mailctl failover mbox-2`; then its mail lands on transport, and after it is back and
//!   failed back, every message is on both hosts once.
//! - s3: a planned failover of a live host (mbox-1) and its failback lose nothing.
//! - s4: the replica port refuses a stranger; s5: move-account across pairs and within one.
//!
//! The measured times are printed (`--nocapture`), asserted only against generous bounds.

mod common;

use std::time::Duration;

use common::pairs::{self, Client};
use common::{LabCluster, Shared};
use mailctl::render::context::{pair_gate_path, pair_instance};

/// Every host a mailbox host, in two pairs.
fn four_hosts(text: String) -> String {
    let text = text
        .replace("roles: [ldap, dns] }", "roles: [ldap, dns, mailbox], capacity: 3000 }")
        .replace("roles: [mta, proxy] }", "roles: [mta, proxy, mailbox], capacity: 3000 }");
    format!(
        "{text}\npairs:\n  - {{ hosts: [mbox-1, ldap], addresses: [10.75.0.21, 10.75.0.22], failover: automatic }}\n  \
         - {{ hosts: [mbox-2, transport], addresses: [10.75.0.23, 10.75.0.24] }}\n"
    )
}

static LAB: Shared<LabCluster> = Shared::new(
    || {
        let f = LabCluster::new("pairlab", "10.75.0.", "mcpairs", four_hosts);
        f.up_and_deployed();
        pairs::wait_armed(&f, "ldap");
        pairs::wait_armed(&f, "mbox-1");
        f
    },
    common::lab_down,
);

fn password(f: &LabCluster, user: &str) -> String {
    f.password(user)
}

#[test]
#[ignore = "lab: needs root; run by scripts/test.sh"]
fn s1_a_mailbox_host_dies_and_its_partner_the_ldap_provider_serves_it() {
    LAB.run(|f| {
        let front = f.address("transport");
        let address = f.cluster.pairs[0].addresses[0].to_string();
        assert_eq!(pairs::holder(f, &address, &["mbox-1", "ldap"]).as_deref(), Some("mbox-1"));
        let user = "siti@tgg.net.id";
        let d = pairs::drill(f, &front, user, &password(f, user), "mbox-1", "ldap", &address, &["transport"]);
        pairs::report("four hosts, two pairs", &d);
        assert!(d.back_after < 60.0, "logins came back after {:.1} s", d.back_after);
        assert!(
            d.missing_before.iter().all(|(_, ago)| *ago < 5.0),
            "older mail was not replicated: {:?}",
            d.missing_before
        );
    });
}

#[test]
#[ignore = "lab: needs root; run by scripts/test.sh"]
fn s2_a_manual_pair_waits_for_failover_and_merges_on_failback() {
    LAB.run(|f| {
        let inventory = f.inventory();
        let inventory = inventory.to_str().unwrap();
        let address = f.cluster.pairs[1].addresses[0].to_string();
        let members = ["mbox-2", "transport"];
        let user = "budi@tgg.net.id";
        let front = f.address("transport");
        assert_eq!(pairs::holder(f, &address, &members).as_deref(), Some("mbox-2"));
        let before = Client::start(f, "before", pairs::SENDER, &[&front, user, "manual-before"]);
        std::thread::sleep(Duration::from_secs(3));
        let cut_at = pairs::now();
        pairs::mailctl_ok(f, &["lab", "power-cut", inventory, "mbox-2"]);
        let dead_at = pairs::now();
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(pairs::holder(f, &address, &members), None, "a manual pair's partner took over by itself");
        let failover_at = pairs::now();
        let out = pairs::mailctl_ok(f, &["failover", "mbox-2"]);
        let failed_over_at = pairs::now();
        assert!(out.contains("served by transport now"), "{out}");
        assert_eq!(pairs::holder(f, &address, &members).as_deref(), Some("transport"));
        std::thread::sleep(Duration::from_secs(3));
        let sent = before.finish();
        assert!(sent["refused"].as_array().unwrap().is_empty(), "mail refused with 5xx: {sent}");
        let acked = pairs::acked(&sent);

        pairs::mailctl_ok(f, &["lab", "up", inventory]);
        pairs::wait("mbox-2 answers SSH", 90, || {
            mailctl::lab::container::ssh(
                &mailctl::lab::LabPaths::for_cluster(&f.cluster),
                f.cluster.host("mbox-2").unwrap(),
                "true",
            )
            .is_ok()
        });
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(pairs::holder(f, &address, &members).as_deref(), Some("transport"), "mbox-2 took its address back");
        let out = pairs::mailctl_ok(f, &["failback", "mbox-2"]);
        assert!(out.contains("served by mbox-2 now"), "{out}");
        f.ssh_quietly("transport", "postqueue -f");
        let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
        let repeatable = pairs::may_repeat(&sent, &[(cut_at, dead_at + 5.0), (failover_at, failed_over_at)]);
        pairs::wait_exactly_once(f, &members, &["transport"], user, &ids, &repeatable);
        assert_eq!(pairs::bounces(f, &["transport"]), 0, "mail bounced");
        // The manual partner's gate is closed again: it waits for the next `failover`.
        let gate = pair_gate_path(&pair_instance(&f.cluster.pairs[1], "mbox-2"));
        assert_eq!(f.ssh("transport", &format!("cat {gate}")).trim(), "1");
    });
}

#[test]
#[ignore = "lab: needs root; run by scripts/test.sh"]
fn s3_a_planned_failover_and_failback_of_a_live_host_lose_nothing() {
    LAB.run(|f| {
        let address = f.cluster.pairs[0].addresses[0].to_string();
        let members = ["mbox-1", "ldap"];
        let user = "gesang@gec-course.com";
        let front = f.address("transport");
        let sender = Client::start(f, "planned", pairs::SENDER, &[&front, user, "planned"]);
        std::thread::sleep(Duration::from_secs(2));
        let failover_at = pairs::now();
        let out = pairs::mailctl_ok(f, &["failover", "mbox-1"]);
        let failed_over_at = pairs::now();
        assert!(out.contains("served by ldap now") && out.contains("copies merged"), "{out}");
        assert_eq!(pairs::holder(f, &address, &members).as_deref(), Some("ldap"));
        std::thread::sleep(Duration::from_secs(3));
        // While mbox-1 is up but failed over, it does not take its address back.
        assert_eq!(pairs::holder(f, &address, &members).as_deref(), Some("ldap"));
        let failback_at = pairs::now();
        let out = pairs::mailctl_ok(f, &["failback", "mbox-1"]);
        let failed_back_at = pairs::now();
        assert!(out.contains("served by mbox-1 now"), "{out}");
        std::thread::sleep(Duration::from_secs(2));
        let sent = sender.finish();
        assert!(sent["refused"].as_array().unwrap().is_empty(), "mail refused with 5xx: {sent}");
        let acked = pairs::acked(&sent);
        assert!(acked.len() > 40, "{sent}");
        f.ssh_quietly("transport", "postqueue -f");
        let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
        // An LMTP session the switch cut may have delivered before it was cut.
        let repeatable = pairs::may_repeat(&sent, &[(failover_at, failed_over_at), (failback_at, failed_back_at)]);
        pairs::wait_exactly_once(f, &members, &["transport"], user, &ids, &repeatable);
    });
}

/// Answers `refused: …` unless a TLS session without a client certificate gets doveadm's
/// greeting out of HOST:PORT.
const STRANGER: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5))
    s.sendall(b"VERSION\tdoveadm-server\t1\t0\n")
    data = s.recv(100)
    print("answered" if data else "refused: closed", data)
except Exception as e:
    print("refused:", type(e).__name__, e)
"#;

/// From outside the cluster, the replica port takes no one without the partner's certificate,
/// and doveadm itself stays on loopback.
#[test]
#[ignore = "lab: needs root; run by scripts/test.sh"]
fn s4_the_replica_port_refuses_a_stranger() {
    LAB.run(|f| {
        for host in ["mbox-1", "ldap"] {
            let address = f.address(host);
            let (_, out) = common::python(STRANGER, &[&address, &mailctl::render::context::REPLICA_PORT.to_string()]);
            assert!(out.starts_with("refused:"), "{host}:12425 let a stranger in: {out}");
            let (_, out) = common::python(STRANGER, &[&address, &mailctl::render::context::DOVEADM_PORT.to_string()]);
            assert!(out.starts_with("refused:"), "{host}'s doveadm answered from outside: {out}");
        }
    });
}

/// The message count of USER's INBOX through the proxy on HOST, by a real IMAP login.
const INBOX_COUNT: &str = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(sys.argv[1], 143, timeout=10); m.starttls(ssl_context=ctx); m.login(sys.argv[2], sys.argv[3])
typ, data = m.select("INBOX", readonly=True)
print(data[0].decode())
"#;

/// Sends a burst of mail to USER through the front MTA; returns the acknowledged Message-IDs.
fn burst(f: &LabCluster, user: &str, tag: &str) -> Vec<String> {
    let sender = Client::start(f, tag, pairs::SENDER, &[&f.address("transport"), user, tag]);
    std::thread::sleep(Duration::from_secs(2));
    let sent = sender.finish();
    assert!(sent["refused"].as_array().unwrap().is_empty(), "mail refused with 5xx: {sent}");
    pairs::acked(&sent).into_iter().map(|(id, _)| id).collect()
}

fn move_json(f: &LabCluster, user: &str, to: &str) -> serde_json::Value {
    let out = pairs::mailctl_ok(f, &["move-account", user, to, "--format", "json"]);
    let json = &out[out.find('{').unwrap_or_else(|| panic!("no JSON report: {out}"))..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn has_home(f: &LabCluster, host: &str, user: &str) -> bool {
    let (local, domain) = user.split_once('@').unwrap();
    let home = mailctl::conventions::mail_home(local, domain);
    f.ssh(host, &format!("test -e {home} && echo yes || echo no")).trim() == "yes"
}

/// move-account across pairs and within one (docs/pairs.md, "Moves"): the target's partner has
/// the mail when the command returns, purge-moved deletes the old pair's copies and spares the
/// replica, a move to the partner keeps the old copy as the replica, and no account moves
/// while a failover is in effect.
#[test]
#[ignore = "lab: needs root; run by scripts/test.sh"]
fn s5_moves_know_the_pairs() {
    LAB.run(|f| {
        let user = "satrio@gec-course.com";
        let mut ids = burst(f, user, "move-before");
        assert!(ids.len() > 5, "{ids:?}");
        pairs::wait_exactly_once(f, &["mbox-2", "transport"], &["transport"], user, &ids, &Default::default());

        // To the other pair: ldap (mbox-1's partner) has every message as the command ends.
        let r = move_json(f, user, "mbox-1");
        assert_eq!(r["replica_on"], "ldap", "{r:#}");
        assert_eq!(r["old_copies"], serde_json::json!(["mbox-2", "transport"]), "{r:#}");
        for host in ["mbox-1", "ldap"] {
            let on = pairs::message_ids(f, host, user);
            let missing: Vec<&String> = ids.iter().filter(|id| on.get(*id) != Some(&1)).collect();
            assert!(missing.is_empty(), "{host} lacks (or repeats) {missing:?} right after the move");
        }
        let out = pairs::mailctl_ok(f, &["account", "purge-moved", user]);
        assert!(out.contains("mbox-2") && out.contains("transport") && out.contains("replica on ldap"), "{out}");
        std::thread::sleep(Duration::from_secs(5));
        for (host, kept) in [("mbox-2", false), ("transport", false), ("mbox-1", true), ("ldap", true)] {
            assert_eq!(has_home(f, host, user), kept, "{user}'s mail home on {host}");
        }

        // Within the pair: the copy on ldap is the replica already; mbox-1 keeps its copy as
        // the replica, and new mail lands on ldap and reaches mbox-1.
        let r = move_json(f, user, "ldap");
        assert_eq!(r["replica_on"], "mbox-1", "{r:#}");
        assert_eq!(r["old_copies"], serde_json::json!([]), "{r:#}");
        ids.extend(burst(f, user, "move-after"));
        pairs::wait_exactly_once(f, &["ldap", "mbox-1"], &["transport"], user, &ids, &Default::default());
        let (ok, out) = common::python(INBOX_COUNT, &[&f.address("transport"), user, &password(f, user)]);
        assert!(ok && out.trim() == ids.len().to_string(), "IMAP through the proxy: {out}, sent {}", ids.len());

        // While mbox-2's accounts are served by transport, nothing moves onto or off mbox-2.
        pairs::mailctl_ok(f, &["failover", "mbox-2"]);
        let out = common::mailctl().args(["move-account", user, "mbox-2", "-i"]).arg(f.inventory()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && text.contains("mailctl failback mbox-2"), "{text}");
        pairs::mailctl_ok(f, &["failback", "mbox-2"]);
    });
}
