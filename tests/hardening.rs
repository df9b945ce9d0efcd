//! The cluster as an attacker outside it sees it, on a deployed lab with HAProxy in front of
//! two MTAs (the LV Logistics topology) and a VIP over the MTAs:
//! - no public entry relays to a foreign domain without a login (HAProxy 25/587/465, each
//!   MTA's 25, 587 and 465, the VIP, and an MTA's PROXY listener fed a forged header);
//! - the MTA logs the real client of a message that came through HAProxy, and a login on
//!   submission through HAProxy still works;
//! - an unprivileged local user on a mailbox host reads no secret; doveadm listens on the
//!   host's loopback only (moves reach it through mailctl's SSH sessions), and a local user
//!   without the password is refused.
//!
//! The test machine's address on the lab bridge (the subnet's first) is outside the cluster.

mod common;

use mailctl::lab;
use mailctl::state::LocalState;

use common::{LabCluster, python};

type Fixture = LabCluster;

const NET: &str = "10.93.0.";
const VIP: &str = "10.93.0.100";

fn fixture() -> LabCluster {
    LabCluster::new("hardentest", NET, "mailctl-h0", |text| {
        let transport = text.lines().find(|l| l.contains("name: transport")).unwrap().to_string();
        let tier = format!(
            "  - {{ name: mta-1, address: {NET}4, fqdn: mta-1.tgg.net.id, roles: [mta] }}\n\
             \x20 - {{ name: mta-2, address: {NET}6, fqdn: mta-2.tgg.net.id, roles: [mta] }}\n\
             \x20 - {{ name: hap, address: {NET}7, fqdn: hap.tgg.net.id, roles: [proxy], proxy: {{ haproxy: true }} }}"
        );
        format!(
            "{}\nvips:\n  - {{ address: {VIP}/24, hosts: [mta-1, mta-2], router_id: 93 }}\n",
            text.replace(&transport, &tier)
        )
    })
}

/// One SMTP session per entry: greets, then MAIL FROM a foreign sender and RCPT TO a foreign
/// recipient; prints `refused <code>` or `RELAYED`, and a local recipient's code as control.
/// The mode names what the client does first, joined by `+`: `proxy_v2` sends a forged PROXY
/// v2 header claiming the client is 127.0.0.1, `wrapped` speaks TLS from the start (465),
/// `starttls` asks for TLS after the greeting (587).
const RELAY_TRY: &str = r#"
import smtplib, socket, ssl, struct, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3].split("+")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class Client(smtplib.SMTP):
    def _get_socket(self, h, p, timeout):
        s = socket.create_connection((h, p), timeout)
        if "proxy_v2" in mode:
            addr = socket.inet_aton("127.0.0.1") + socket.inet_aton(h) + struct.pack("!HH", 40000, p)
            s.sendall(b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addr)) + addr)
        return ctx.wrap_socket(s) if "wrapped" in mode else s
s = Client(host, port, timeout=20)
s.ehlo("attacker.example")
if "starttls" in mode:
    s.starttls(context=ctx); s.ehlo("attacker.example")
code, _ = s.mail("s@evil.example")
if code >= 400:
    print("refused", code)
else:
    code, _ = s.rcpt("victim@gmail.com")
    print("RELAYED" if code < 400 else f"refused {code}")
    s.rset(); s.mail("s@evil.example")
    print("local", s.rcpt("siti@tgg.net.id")[0])
s.quit()
"#;

const SEND: &str = r#"
import smtplib, ssl, sys
host, port, user, password, rcpt, subject = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if port == 465:
    s = smtplib.SMTP_SSL(host, port, timeout=20, context=ctx)
    s.ehlo("client.example.org")
else:
    s = smtplib.SMTP(host, port, timeout=20)
    s.ehlo("client.example.org")
    if user:
        s.starttls(context=ctx); s.ehlo("client.example.org")
if user:
    s.login(user, password)
sender = user or "tester@example.org"
s.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody\r\n")
s.quit()
print("accepted")
"#;

fn deployed() -> LabCluster {
    let f = fixture();
    f.up_and_deployed();
    f
}

static LAB: common::Shared<Fixture> = common::Shared::new(deployed, common::lab_down);

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s1_no_entry_relays() {
    LAB.run(no_entry_relays);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s2_the_mta_logs_the_real_client() {
    LAB.run(the_mta_logs_the_real_client);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s3_no_secret_is_readable_by_an_unprivileged_user() {
    LAB.run(no_secret_is_readable_by_an_unprivileged_user);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s4_doveadm_listens_on_loopback_only() {
    LAB.run(doveadm_listens_on_loopback_only);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s5_doveadm_refuses_a_stranger() {
    LAB.run(doveadm_refuses_a_stranger);
}

fn no_entry_relays(f: &LabCluster) {
    let hap = f.address("hap");
    // The VIP comes up once keepalived has elected a holder.
    assert!(
        lab::wait_until(std::time::Duration::from_secs(20), std::time::Duration::from_millis(250), || {
            python(RELAY_TRY, &[VIP, "25", "plain"]).0
        }),
        "the VIP never answered on port 25"
    );
    let mut entries: Vec<(String, &str, &str)> = vec![
        (hap.clone(), "25", "plain"),
        (hap.clone(), "587", "starttls"),
        (hap.clone(), "465", "wrapped"),
        (VIP.to_string(), "25", "plain"),
    ];
    for mta in ["mta-1", "mta-2"] {
        let a = f.address(mta);
        entries.push((a.clone(), "25", "plain"));
        entries.push((a.clone(), "587", "starttls"));
        entries.push((a.clone(), "465", "wrapped"));
        // An attacker who reaches the PROXY listeners and claims to be the MTA itself.
        entries.push((a.clone(), "10025", "proxy_v2"));
        entries.push((a.clone(), "10587", "proxy_v2+starttls"));
        entries.push((a, "10465", "proxy_v2+wrapped"));
    }
    let mut failures = Vec::new();
    for (host, port, mode) in &entries {
        let (ok, out) = python(RELAY_TRY, &[host, port, mode]);
        let first = out.lines().next().unwrap_or("");
        if !ok || !first.starts_with("refused") {
            failures.push(format!("{host}:{port} ({mode}): {out}"));
        }
        // Port 25 refuses relaying, not everything: a local recipient is taken.
        if *port == "25" && !out.contains("local 250") {
            failures.push(format!("{host}:{port}: a local recipient was not accepted: {out}"));
        }
    }
    assert!(failures.is_empty(), "relay attempts not refused:\n{}", failures.join("\n"));
}

fn the_mta_logs_the_real_client(f: &LabCluster) {
    let hap = f.address("hap");
    let outside = format!("{NET}1");
    let (ok, out) = python(SEND, &[&hap, "25", "", "", "siti@tgg.net.id", "through-haproxy"]);
    assert!(ok, "{out}");
    // Submission through HAProxy: the login reaches the MTA's own SASL over the PROXY listener.
    let pw = f.password("budi");
    let (ok, out) = python(SEND, &[&hap, "587", "budi@tgg.net.id", &pw, "siti@tgg.net.id", "submitted-via-haproxy"]);
    assert!(ok, "submission with a login through HAProxy: {out}");
    // And 465 (TLS from the start), several times: a listener its health checks knock over
    // (throttled by Postfix's master) fails some of these.
    for i in 0..5 {
        let (ok, out) =
            python(SEND, &[&hap, "465", "budi@tgg.net.id", &pw, "siti@tgg.net.id", &format!("submissions-{i}")]);
        assert!(ok, "submissions with a login through HAProxy, try {i}: {out}");
    }
    let seen = lab::wait_until(std::time::Duration::from_secs(15), std::time::Duration::from_millis(300), || {
        ["mta-1", "mta-2"].iter().any(|m| {
            f.ssh(m, "journalctl -q --no-pager -t postfix/proxied/smtpd -t postfix/proxied-submission/smtpd")
                .lines()
                .any(|l| l.contains("client=") && l.contains(&format!("[{outside}]")))
        })
    });
    let logs: String = ["mta-1", "mta-2"]
        .iter()
        .map(|m| f.ssh(m, "journalctl -q --no-pager -u postfix | grep -E 'client=|connect from' | tail -20"))
        .collect();
    assert!(seen, "no MTA logged the real client {outside}:\n{logs}");
    assert!(!logs.contains(&format!("client=unknown[{hap}]")), "an MTA saw HAProxy as the client:\n{logs}");
    // HAProxy's health checks have been knocking since the deploy: none may kill an smtpd.
    for m in ["mta-1", "mta-2"] {
        let fatal = f.ssh(m, "journalctl -q --no-pager -u postfix | grep -E 'fatal:|throttling' | tail -3; true");
        assert!(fatal.trim().is_empty(), "{m}: Postfix processes die under HAProxy's checks:\n{fatal}");
    }
}

fn no_secret_is_readable_by_an_unprivileged_user(f: &LabCluster) {
    let state = LocalState::open(&f.dir.path().join("lab.state.yaml")).unwrap();
    let mut patterns: Vec<String> = state.data.secrets.values().cloned().collect();
    let pki = state.data.pki.as_ref().unwrap();
    // A line from the middle of each private key stands for the key.
    for key in pki.hosts.values().map(|c| &c.key).chain([&pki.ca_key]) {
        let lines: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
        patterns.push(lines[lines.len() / 2].to_string());
    }
    let list = patterns.join("\n");
    for host in ["mbox-1", "mta-1", "hap", "ldap"] {
        f.ssh(host, &format!("printf '%s\\n' '{list}' > /tmp/secret-patterns && chmod 644 /tmp/secret-patterns"));
        let search = "grep -rlsF -f /tmp/secret-patterns /etc /var/lib /var/spool /var/vmail /run /srv /opt /home";
        let as_root = f.ssh(host, &format!("{search}; true"));
        assert!(!as_root.trim().is_empty(), "{host}: root finds no secret, so the search proves nothing");
        let as_nobody = f.ssh(host, &format!("runuser -u nobody -- sh -c '{search}; true'"));
        f.ssh(host, "rm -f /tmp/secret-patterns");
        assert!(as_nobody.trim().is_empty(), "{host}: user nobody can read secrets in:\n{as_nobody}");
    }
}

fn doveadm_listens_on_loopback_only(f: &LabCluster) {
    let listening = f.ssh("mbox-1", "ss -Htln 'sport = :2425'");
    assert!(listening.contains("127.0.0.1:2425") && listening.lines().count() == 1, "{listening}");
    // From outside the host nothing answers on doveadm's port.
    let (_, out) = python(
        "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 2425), 5); print('open')\nexcept OSError as e:\n    print('closed', e)",
        &[&f.address("mbox-1")],
    );
    assert!(out.starts_with("closed"), "doveadm answers from outside the host: {out}");
}

/// doveadm's TCP protocol on the host's loopback, as an unprivileged local user: `VERSION`,
/// then a `PLAIN` login as `doveadm`; the server answers `+` only to the right password.
const DOVEADM_LOGIN: &str = r#"
import base64, socket, sys
password = sys.argv[1]
s = socket.create_connection(("127.0.0.1", 2425), 10)
s.settimeout(5)
f = s.makefile("rb")
s.sendall(b"VERSION\tdoveadm-server\t1\t0\n")
f.readline()
s.sendall(b"PLAIN\t" + base64.b64encode(b"\0doveadm\0" + password.encode()) + b"\n")
print(f.readline().decode().strip() or "closed")
"#;

/// Runs DOVEADM_LOGIN on mbox-1 as user nobody with `password`: what the server answered.
fn local_doveadm_login(f: &LabCluster, password: &str) -> String {
    use base64::Engine;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let cmd = format!(
        "echo {} | base64 -d > /tmp/doveadm-login.py && runuser -u nobody -- python3 /tmp/doveadm-login.py \"$(echo {} | base64 -d)\"; rm -f /tmp/doveadm-login.py",
        b64(DOVEADM_LOGIN),
        b64(password)
    );
    f.ssh("mbox-1", &cmd)
}

fn doveadm_refuses_a_stranger(f: &LabCluster) {
    let state = LocalState::open(&f.dir.path().join("lab.state.yaml")).unwrap();
    let real = &state.data.secrets["doveadm"];
    for guess in ["", "doveadm", "password", "not-the-secret"] {
        let out = local_doveadm_login(f, guess);
        assert!(!out.lines().any(|l| l == "+"), "doveadm took the password {guess:?}: {out}");
    }
    // The real password does get in, so the refusals above are the password's doing.
    let out = local_doveadm_login(f, real);
    assert_eq!(out.trim(), "+", "doveadm refused its own password: {out}");
}
