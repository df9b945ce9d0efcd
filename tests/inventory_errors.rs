//! Each kind of inventory mistake is reported with its file:line:column and a hint, and
//! `mailctl validate` exits 2 for it.

mod common;

use std::path::Path;

use mailctl::inventory::{self, Diagnostic, Severity};

const BASE: &str = "\
cluster:
  name: t
  domains: [a.example, b.example]
hosts:
  - name: ldap
    address: 10.0.0.2
    fqdn: ldap.a.example
    roles: [ldap]
  - name: mta
    address: 10.0.0.3
    fqdn: mta.a.example
    roles: [mta, proxy]
  - name: mbox
    address: 10.0.0.4
    fqdn: mbox.a.example
    roles: [mailbox]
accounts:
  - address: u@a.example
    mailbox: mbox
    password: env:U_PW
";

/// BASE with one exact text replaced (which must be present).
fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    match inventory::parse(text, Path::new("t.yaml")) {
        Ok(l) => l.warnings,
        Err(e) => e.diagnostics().to_vec(),
    }
}

/// Asserts there is an error at exactly `line:column` whose message contains `needle`.
fn assert_error(text: &str, line: u64, column: u64, needle: &str) -> Diagnostic {
    let diags = diagnostics(text);
    let found = diags.iter().find(|d| d.severity == Severity::Error && d.message.contains(needle));
    let d = found.unwrap_or_else(|| panic!("no error containing {needle:?}; got:\n{}", render(&diags)));
    assert_eq!((d.line, d.column), (line, column), "wrong position for {needle:?}:\n{d}");
    assert!(d.to_string().starts_with(&format!("t.yaml:{line}:{column}: error: ")), "{d}");
    d.clone()
}

fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_base_inventory_is_valid() {
    let diags = diagnostics(BASE);
    assert!(diags.iter().all(|d| !d.is_error()), "{}", render(&diags));
}

#[test]
fn unknown_role() {
    let d = assert_error(&with("roles: [mailbox]", "roles: [mailstore]"), 16, 13, "unknown variant `mailstore`");
    assert!(d.message.contains("ldap, mta, mailbox, proxy, dns"), "{d}");
}

#[test]
fn duplicate_host_name() {
    let d = assert_error(&with("- name: mbox", "- name: mta"), 13, 11, "duplicate host name `mta`");
    assert_eq!(d.help.as_deref(), Some("it is first defined at line 9"));
}

#[test]
fn duplicate_address() {
    assert_error(
        &with("address: 10.0.0.4", "address: 10.0.0.3"),
        14,
        14,
        "address 10.0.0.3 of host `mbox` is already used by host `mta`",
    );
}

#[test]
fn invalid_address() {
    let d =
        assert_error(&with("address: 10.0.0.4", "address: 10.0.0.400"), 14, 14, "invalid host address `10.0.0.400`");
    assert!(d.help.unwrap().contains("IPv4 or IPv6"));
}

#[test]
fn no_host_for_a_required_role() {
    let text = with("roles: [ldap]", "roles: [dns]");
    let d = assert_error(&text, 5, 3, "no host has the `ldap` role");
    assert!(d.help.unwrap().contains("add `ldap` to some host's roles"));
}

#[test]
fn account_in_an_undeclared_domain() {
    let d = assert_error(
        &with("address: u@a.example", "address: u@c.example"),
        18,
        14,
        "domain `c.example`, which the cluster does not serve",
    );
    assert!(d.help.unwrap().contains("a.example, b.example"));
}

#[test]
fn account_pinned_to_a_host_that_is_not_a_mailbox() {
    let d =
        assert_error(&with("mailbox: mbox", "mailbox: mta"), 19, 14, "pinned to `mta`, which is not a mailbox host");
    assert_eq!(d.help.as_deref(), Some("mailbox hosts: mbox"));
    assert_error(&with("mailbox: mbox", "mailbox: mbox-9"), 19, 14, "pinned to unknown host `mbox-9`");
}

#[test]
fn classes_of_service_and_quotas_are_checked_where_written() {
    let classes =
        "classes_of_service:\n  - { name: staff, quota: 5G }\n  - { name: Staff!, quota: 5X }\n  - { name: staff }\n";
    let text = format!(
        "{}{classes}",
        with("    mailbox: mbox\n", "    mailbox: mbox\n    class: teachers\n    quota: lots\n")
    );
    assert_error(&text, 20, 12, "class `teachers`");
    assert_error(&text, 21, 12, "invalid quota `lots`");
    assert_error(&text, 25, 13, "invalid class of service name `Staff!`");
    assert_error(&text, 25, 28, "unknown unit");
    assert_error(&text, 26, 13, "defined twice");
    let ok = format!("{}{}", with("    mailbox: mbox\n", "    mailbox: mbox\n    class: staff\n"), &classes[..51]);
    let cluster = inventory::parse(&ok, Path::new("t.yaml")).unwrap().cluster;
    assert_eq!(cluster.class("staff").unwrap().quota, Some(5 << 30));
    assert_eq!(cluster.accounts[0].class.as_deref(), Some("staff"));
}

#[test]
fn vip_host_that_does_not_exist() {
    let text = format!("{BASE}vips:\n  - address: 10.0.0.50\n    hosts: [mta, proxy-2]\n");
    assert_error(&text, 23, 18, "VIP host `proxy-2` does not exist");
}

#[test]
fn secret_given_in_plaintext_is_refused_and_never_echoed() {
    let text = with("password: env:U_PW", "password: hunter2");
    let d = assert_error(&text, 20, 15, "password of u@a.example is given in plaintext");
    let shown = d.to_string();
    assert!(!shown.contains("hunter2"), "the secret was printed:\n{shown}");
    assert!(shown.contains("env:NAME") && shown.contains("file:PATH"), "{shown}");
    let output = common::mailctl().arg("validate").arg("/dev/stdin").stdin_text(&text);
    assert_eq!(output.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[test]
fn unknown_keys_are_errors_not_ignored() {
    let d = assert_error(&with("    roles: [mailbox]", "    rols: [mailbox]"), 16, 5, "unknown field `rols`");
    assert!(d.message.contains("expected one of"), "{d}");
    assert_error(&with("  name: t", "  name: t\n  timezon: UTC"), 3, 3, "unknown field `timezon`");
}

#[test]
fn broken_yaml_is_reported_where_it_breaks() {
    let d = diagnostics(&with("roles: [mta, proxy]", "roles: [mta, proxy"));
    assert_eq!(d.len(), 1, "{}", render(&d));
    assert!(d[0].is_error() && d[0].line >= 12, "{}", d[0]);
}

#[test]
fn every_error_is_reported_in_one_run() {
    let text = with("address: 10.0.0.4", "address: nope").replace("u@a.example", "u@zz.example");
    let errors: Vec<Diagnostic> = diagnostics(&text).into_iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 2, "{}", render(&errors));
}

#[test]
fn more_semantic_mistakes_have_positions() {
    assert_error(
        &with("fqdn: mbox.a.example", "fqdn: mta.a.example"),
        15,
        11,
        "FQDN `mta.a.example` of host `mbox` is already used",
    );
    assert_error(
        &with("domains: [a.example, b.example]", "domains: [a.example, a.example]"),
        3,
        24,
        "domain `a.example` is listed twice",
    );
    let text = format!("{BASE}rate_limit:\n  senders:\n    - {{ sender: u@a.example, messages: 5, period: soon }}\n");
    assert_error(&text, 23, 51, "invalid period `soon`");
    let text = format!("{BASE}nat:\n  public_address: 203.0.113.1\n  forwards:\n    - {{ host: gw, ports: [25] }}\n");
    assert_error(&text, 24, 15, "NAT forward to unknown host `gw`");
    let text = format!("{BASE}lab:\n  subnet: 10.99.0.0/24\n");
    assert_error(&text, 6, 14, "host `ldap` at 10.0.0.2 is outside the lab subnet 10.99.0.0/24");
}

#[test]
fn validate_command_exit_codes_and_json() {
    let ok = common::mailctl().args(["validate", common::shipped("tgg").to_str().unwrap()]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = common::mailctl()
        .args(["validate", "--format", "json", "/dev/stdin"])
        .stdin_text(&with("roles: [ldap]", "roles: [dns]"));
    assert_eq!(bad.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["line"], 5);
    assert_eq!(report["errors"][0]["column"], 3);
    let missing = common::mailctl().args(["validate", "/nonexistent/inv.yaml"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/inv.yaml"));
}

trait StdinText {
    fn stdin_text(&mut self, text: &str) -> std::process::Output;
}

impl StdinText for std::process::Command {
    fn stdin_text(&mut self, text: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

/// BASE with a `filter:` block after the accounts.
fn with_filter(block: &str) -> String {
    format!("{BASE}filter:\n{block}")
}

#[test]
fn filter_mistakes_are_placed() {
    // Line 22 is the first line inside `filter:`.
    assert_error(&with_filter("  reject_score: 5\n  add_header_score: 6\n"), 23, 21, "is not below reject_score");
    assert_error(&with_filter("  allow: [\"x;rm -rf /\"]\n"), 22, 11, "neither an address nor a domain");
    assert_error(&with_filter("  allow: [friend@b.example]\n"), 22, 11, "in a domain this cluster serves");
    assert_error(&with_filter("  allow: [p.example]\n  deny: [p.example]\n"), 23, 10, "both allowed and denied");
    assert_error(&with_filter("  dmarc: { policy: always }\n"), 22, 20, "invalid DMARC policy");
    assert_error(&with_filter("  greylist: maybe\n"), 22, 13, "");
}

#[test]
fn clamav_without_a_filter_is_refused() {
    assert_error(
        &with("    roles: [mta, proxy]\n", "    roles: [mta, proxy]\n    mta: { clamav: true }\n"),
        9,
        11,
        "asks for ClamAV",
    );
}

/// BASE with a second mailbox host, and `pairs:` text appended.
fn paired(pairs: &str) -> String {
    let two = with(
        "accounts:",
        "  - name: mbox2\n    address: 10.0.0.5\n    fqdn: mbox2.a.example\n    roles: [mailbox]\naccounts:",
    );
    format!("{two}pairs:\n{pairs}")
}

#[test]
fn a_pair_of_two_mailbox_hosts_loads_with_its_addresses_routed() {
    let text = paired(
        "  - { hosts: [mbox, mbox2], addresses: [10.0.0.21, 10.0.0.22/24], failover: automatic, router_id: 70 }\n",
    );
    let cluster = inventory::parse(&text, Path::new("t.yaml")).unwrap().cluster;
    let pair = &cluster.pairs[0];
    assert_eq!((pair.automatic, pair.router_id, pair.prefix_len, pair.witness), (true, 70, 24, None));
    assert_eq!(pair.partner_of("mbox"), Some("mbox2"));
    let mbox2 = cluster.host("mbox2").unwrap();
    assert_eq!(cluster.mailbox_address(mbox2).to_string(), "10.0.0.22");
}

#[test]
fn a_pair_host_must_be_a_mailbox_host_and_pair_once() {
    let text = paired("  - { hosts: [mbox, mta], addresses: [10.0.0.21, 10.0.0.22] }\n");
    assert_error(&text, 26, 21, "pair host `mta` is not a mailbox host");
    let text = paired(
        "  - { hosts: [mbox, mbox2], addresses: [10.0.0.21, 10.0.0.22] }\n  - { hosts: [mbox2, mbox], addresses: [10.0.0.23, 10.0.0.24] }\n",
    );
    assert_error(&text, 27, 15, "host `mbox2` is already in a pair");
}

#[test]
fn a_pair_address_is_no_hosts_and_no_vips() {
    let text = paired("  - { hosts: [mbox, mbox2], addresses: [10.0.0.21, 10.0.0.4] }\n");
    assert_error(&text, 26, 52, "pair 10.0.0.4 is host `mbox`'s own address");
    let text = format!(
        "{}vips:\n  - {{ address: 10.0.0.21, hosts: [mta] }}\n",
        paired("  - { hosts: [mbox, mbox2], addresses: [10.0.0.21, 10.0.0.22] }\n")
    );
    assert_error(&text, 26, 41, "10.0.0.21 is already a VIP's or a pair's address");
    let text = paired("  - { hosts: [mbox, mbox2], addresses: [10.0.0.21] }\n");
    assert_error(&text, 26, 40, "a pair has two addresses");
}

#[test]
fn automatic_failover_of_a_two_host_cluster_needs_a_witness() {
    let two_hosts = "\
cluster:
  name: t
  domains: [a.example]
hosts:
  - { name: srv1, address: 10.0.0.11, fqdn: srv1.a.example, roles: [ldap, mta, mailbox, proxy] }
  - { name: srv2, address: 10.0.0.12, fqdn: srv2.a.example, roles: [ldap, mta, mailbox, proxy], ldap: { replica_of: srv1 } }
pairs:
  - { hosts: [srv1, srv2], addresses: [10.0.0.21, 10.0.0.22], failover: automatic }
";
    assert_error(two_hosts, 8, 14, "automatic failover in a cluster of two hosts needs a `witness`");
    let with_witness = two_hosts.replace("failover: automatic }", "failover: automatic, witness: 10.0.0.1 }");
    let cluster = inventory::parse(&with_witness, Path::new("t.yaml")).unwrap().cluster;
    assert_eq!(cluster.pairs[0].witness.map(|w| w.to_string()).as_deref(), Some("10.0.0.1"));
    let bad = two_hosts.replace("failover: automatic }", "failover: sometimes }");
    assert_error(&bad, 8, 73, "unknown failover `sometimes`");
}
