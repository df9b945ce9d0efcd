//! Inventories written by an attacker (or a slip of the keyboard): every string that reaches a
//! rendered file or a remote command is held to its syntax, control characters are refused in
//! every value, numbers are range-checked, and the file itself is bounded. Each case is run
//! through the real binary: `validate` and `render` exit 2 naming the file, line and column,
//! nothing is rendered, and no plaintext secret is ever printed.

mod common;

use std::path::Path;
use std::process::Output;

const BASE: &str = "\
cluster:
  name: t
  domains: [a.example]
  timezone: UTC
  public_name: mail.a.example
  ntp_servers: [pool.ntp.org]
ssh:
  user: root
  identity_file: /root/.ssh/id_ed25519
hosts:
  - name: ldap
    address: 10.0.0.2
    fqdn: ldap.a.example
    roles: [ldap, dns]
  - name: mta
    address: 10.0.0.3
    fqdn: mta.a.example
    roles: [mta]
    mta: { purpose: incoming mail }
  - name: mbox
    address: 10.0.0.4
    fqdn: mbox.a.example
    roles: [mailbox, proxy]
    capacity: 100
accounts:
  - address: u@a.example
    name: User One
    password: env:U_PW
vips:
  - address: 10.0.0.50
    hosts: [mta, mbox]
    interface: eth0
    router_id: 60
proxmox:
  api_url: https://pve.a.example:8006/api2/json
  node: pve
  token_id: m@pve!t
  token_secret: env:PVE
  template_vmid: 9000
  storage: local-lvm
  bridge: vmbr0
  ci_user: root
  tags: [mail]
";

/// The 1-based line of BASE holding `needle`.
fn line_of(needle: &str) -> usize {
    BASE.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("BASE lacks {needle:?}")) + 1
}

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

struct Run {
    code: i32,
    text: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out: Output = common::mailctl().current_dir(dir).env("U_PW", "x").env("PVE", "y").args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Run { code: out.status.code().unwrap_or(-1), text }
}

/// Writes `bytes` as t.yaml, runs validate (text and JSON) and render; each must exit 2 with
/// `t.yaml:<line>:` (when given) and render must write nothing. Returns all output.
fn refused(bytes: &[u8], line: Option<usize>, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), bytes).unwrap();
    let mut all = String::new();
    for args in [
        &["validate", "t.yaml"][..],
        &["validate", "--format", "json", "t.yaml"],
        &["render", "t.yaml", "--out", "out"],
    ] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 2, "{what}: `{}` exit {}:\n{}", args.join(" "), r.code, r.text);
        if let Some(line) = line {
            let text_form = format!("t.yaml:{line}:");
            let json_form = format!("\"line\": {line}");
            assert!(
                r.text.contains(&text_form) || r.text.contains(&json_form),
                "{what}: no location line {line}:\n{}",
                r.text
            );
        }
        assert!(!r.text.contains("panicked"), "{what}: {}", r.text);
        all.push_str(&r.text);
    }
    assert!(!dir.path().join("out").exists(), "{what}: render wrote files");
    assert!(!dir.path().join("t.state.yaml").exists(), "{what}: render wrote state");
    all
}

#[test]
fn the_base_inventory_is_accepted_so_each_refusal_below_is_the_injection() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), BASE).unwrap();
    let r = run(dir.path(), &["validate", "t.yaml"]);
    assert_eq!(r.code, 0, "{}", r.text);
    let r = run(dir.path(), &["render", "t.yaml", "--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.text);
}

#[test]
fn a_line_break_in_any_string_field_is_refused_where_it_stands() {
    let cases: [(&str, &str); 21] = [
        ("name: t", "name: \"t\\nx\""),
        ("domains: [a.example]", "domains: [\"a.example\\nx\"]"),
        ("timezone: UTC", "timezone: \"UTC\\nx\""),
        ("public_name: mail.a.example", "public_name: \"mail.a.example\\nx\""),
        ("ntp_servers: [pool.ntp.org]", "ntp_servers: [\"pool.ntp.org\\nserver evil\"]"),
        ("user: root", "user: \"root\\nProxyCommand sh\""),
        ("identity_file: /root/.ssh/id_ed25519", "identity_file: \"/root/k\\nx\""),
        ("name: ldap", "name: \"ldap\\nx\""),
        ("address: 10.0.0.2", "address: \"10.0.0.2\\nx\""),
        ("fqdn: ldap.a.example", "fqdn: \"ldap.a.example\\nx\""),
        ("purpose: incoming mail", "purpose: \"incoming\\nmynetworks = 0.0.0.0/0\""),
        ("address: u@a.example", "address: \"u@a.example\\nx\""),
        ("name: User One", "name: \"User\\ndn: cn=admin\""),
        ("interface: eth0", "interface: \"eth0\\n    notify_master \\\"/bin/sh -c id\\\"\""),
        ("node: pve", "node: \"pve\\nx\""),
        ("storage: local-lvm", "storage: \"local-lvm\\nx\""),
        ("bridge: vmbr0", "bridge: \"vmbr0\\nx\""),
        ("ci_user: root", "ci_user: \"root\\nx\""),
        ("tags: [mail]", "tags: [\"mail\\nx\"]"),
        ("api_url: https://pve.a.example:8006/api2/json", "api_url: \"https://pve.a.example:8006/api2/json\\nx\""),
        ("token_id: m@pve!t", "token_id: \"m@pve!t\\nx\""),
    ];
    for (from, to) in cases {
        let line = line_of(from);
        let out = refused(with(from, to).as_bytes(), Some(line), from);
        assert!(out.contains("control character"), "{from}: {out}");
    }
    // A block scalar carries line breaks without any escape (its value starts a line below).
    let block = with("interface: eth0", "interface: |\n      eth0\n      notify_master \"/bin/sh -c id\"");
    refused(block.as_bytes(), Some(line_of("interface: eth0") + 1), "block scalar");
}

#[test]
fn other_control_characters_are_refused_in_free_text_too() {
    for (to, what) in [
        ("name: \"User\\u0007One\"", "bell"),
        ("name: \"User\\tOne\"", "tab"),
        ("name: \"User\\e[31mOne\"", "escape"),
        ("name: \"User\\u0085One\"", "next line"),
    ] {
        let out = refused(with("name: User One", to).as_bytes(), Some(line_of("name: User One")), what);
        assert!(out.contains("control character"), "{what}: {out}");
    }
}

#[test]
fn strings_with_a_syntax_of_their_own_are_held_to_it() {
    for (from, to) in [
        ("interface: eth0", "interface: eth0 notify_master x"),
        ("interface: eth0", "interface: ../../etc"),
        ("node: pve", "node: pve/../../cluster"),
        ("storage: local-lvm", "storage: local lvm"),
        ("bridge: vmbr0", "bridge: vmbr0;reboot"),
        ("ci_user: root", "ci_user: \"root;id\""),
        ("tags: [mail]", "tags: [\"mail;x\"]"),
        ("user: root", "user: \"-oProxyCommand=sh\""),
    ] {
        refused(with(from, to).as_bytes(), Some(line_of(from)), to);
    }
}

#[test]
fn numbers_outside_what_the_service_takes_are_refused() {
    for (from, to, line_needle) in [
        ("  public_name: mail.a.example", "  public_name: mail.a.example\n  message_size_mb: 0", "public_name"),
        ("router_id: 60", "router_id: 0", "router_id: 60"),
        ("router_id: 60", "router_id: 60\n    preempt_delay: 5000", "router_id: 60"),
        ("capacity: 100", "capacity: 0", "capacity: 100"),
        ("template_vmid: 9000", "template_vmid: 5", "template_vmid: 9000"),
    ] {
        let mut line = line_of(line_needle);
        if to.contains("message_size_mb") || to.contains("preempt_delay") {
            line += 1;
        }
        refused(with(from, to).as_bytes(), Some(line), to);
    }
    // Sixteen members would give two of them the same (or no) VRRP priority.
    let mut hosts = String::new();
    let mut names = Vec::new();
    for i in 0..16 {
        hosts.push_str(&format!(
            "  - {{ name: m{i}, address: 10.0.1.{n}, fqdn: m{i}.a.example, roles: [mta] }}\n",
            n = i + 10
        ));
        names.push(format!("m{i}"));
    }
    let text = with("accounts:", &format!("{hosts}accounts:"))
        .replace("hosts: [mta, mbox]", &format!("hosts: [{}]", names.join(", ")));
    refused(text.as_bytes(), None, "16 VIP members");
}

#[test]
fn a_plaintext_secret_is_never_echoed_whatever_else_is_wrong_on_its_line() {
    const SECRET: &str = "Hunter2Secret";
    for (to, what) in [
        (format!("password: {SECRET}"), "plaintext"),
        (format!("password: {SECRET}, bogus: 1"), "unknown key on the line"),
        (format!("password: \"{SECRET}\" # {SECRET}"), "quoted, in a comment too"),
        ("password: 123456789".to_string(), "a number"),
        (format!("password: [{SECRET}]"), "a list"),
    ] {
        let text =
            BASE.replacen("    password: env:U_PW", &format!("    {}", to.replace(", bogus: 1", "\n    bogus: 1")), 1);
        let text = if what == "unknown key on the line" {
            BASE.replacen(
                "  - address: u@a.example\n    name: User One\n    password: env:U_PW",
                &format!("  - {{ address: u@a.example, password: {SECRET}, bogus: 1 }}"),
                1,
            )
        } else {
            text
        };
        let out = refused(text.as_bytes(), None, what);
        assert!(!out.contains(SECRET) && !out.contains("123456789"), "{what}: a secret was printed:\n{out}");
    }
    // A secret on the same line as a bad address.
    let text = BASE.replacen(
        "  - address: u@a.example\n    name: User One\n    password: env:U_PW",
        &format!("  - {{ address: \"not an address\", password: {SECRET} }}"),
        1,
    );
    let out = refused(text.as_bytes(), Some(line_of("accounts:") + 1), "bad address");
    assert!(!out.contains(SECRET), "{out}");
}

#[test]
fn the_file_itself_is_bounded_and_must_be_utf8() {
    // Non-UTF-8 bytes: refused at their line and column.
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("User One").unwrap();
    bytes[at + 4] = 0xff;
    let out = refused(&bytes, Some(line_of("User One")), "non-UTF-8");
    assert!(out.contains("not UTF-8"), "{out}");

    // Oversized: a comment of 5 MB.
    let mut big = BASE.to_string();
    big.push_str(&format!("# {}\n", "x".repeat(5 << 20)));
    let out = refused(big.as_bytes(), None, "5 MB");
    assert!(out.contains("larger than"), "{out}");

    // /dev/zero as the inventory ends at once instead of reading forever.
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["validate", "/dev/zero"]);
    assert_eq!(r.code, 2, "{}", r.text);
    assert!(r.text.contains("larger than"), "{}", r.text);

    // An alias bomb (a billion laughs) is stopped by the parser's budget.
    let mut bomb = String::from("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!("x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    bomb.push_str(BASE);
    let started = std::time::Instant::now();
    refused(bomb.as_bytes(), None, "alias bomb");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the alias bomb took {:?}", started.elapsed());
}

#[test]
fn the_state_file_is_never_followed_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), BASE).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    // A state file that is a symlink: refused, nothing rendered, the target untouched.
    std::os::unix::fs::symlink(&victim, dir.path().join("t.state.yaml")).unwrap();
    let r = run(dir.path(), &["render", "t.yaml", "--out", "out"]);
    assert_eq!(r.code, 2, "{}", r.text);
    assert!(r.text.contains("symbolic link"), "{}", r.text);
    assert!(!dir.path().join("out").exists());
    std::fs::remove_file(dir.path().join("t.state.yaml")).unwrap();

    // The old fixed temporary name planted as a symlink: never written through.
    std::os::unix::fs::symlink(&victim, dir.path().join("t.state.yaml.tmp")).unwrap();
    let r = run(dir.path(), &["render", "t.yaml", "--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.text);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let state = dir.path().join("t.state.yaml");
    assert!(std::fs::symlink_metadata(&state).unwrap().file_type().is_file());

    // A state file others can read is refused before anything is read from it.
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let r = run(dir.path(), &["render", "t.yaml", "--out", "out2"]);
    assert_eq!(r.code, 2, "{}", r.text);
    assert!(r.text.contains("chmod 600"), "{}", r.text);
}

#[test]
fn a_symlinked_inventory_shares_its_state_and_concurrent_renders_agree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::write(dir.path().join("real/t.yaml"), BASE).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real/t.yaml"), dir.path().join("link.yaml")).unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let inventory = if i % 2 == 0 { "real/t.yaml" } else { "link.yaml" };
            common::mailctl()
                .current_dir(dir.path())
                .env("U_PW", "x")
                .env("PVE", "y")
                .args(["render", inventory, "--out", &format!("out{i}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(!dir.path().join("link.state.yaml").exists(), "the symlink got a state file of its own");
    let doveadm = |i: usize| {
        std::fs::read_to_string(dir.path().join(format!("out{i}/mbox/etc/dovecot/dovecot-doveadm.conf.ext"))).unwrap()
    };
    let first = doveadm(0);
    for i in 1..20 {
        assert_eq!(doveadm(i), first, "render {i} generated other secrets");
    }
}
