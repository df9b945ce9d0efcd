//! The rehearsal lab against real systemd-nspawn hosts: up, commands over SSH on every host,
//! one host stopped while the others answer, restart, teardown with nothing left behind,
//! and repeated up/down cycles. Needs root; builds the lab image on first run.
//!
//! Uses its own cluster, subnet and bridge so it never touches a lab a developer has up.

mod common;

use std::path::Path;
use std::process::Command;

use mailctl::inventory::{self, Cluster};
use mailctl::lab::{self, LabPaths, container, net};
use mailctl::playbook::Playbook;

const INVENTORY: &str = "\
cluster:
  name: labtest
  domains: [tgg.net.id]
lab:
  subnet: 10.98.0.0/24
  bridge: mailctl-t0
hosts:
  - { name: ldap, address: 10.98.0.2, fqdn: ldap.tgg.net.id, roles: [ldap, dns] }
  - { name: mbox-1, address: 10.98.0.3, fqdn: mbox-1.tgg.net.id, roles: [mailbox] }
  - { name: transport, address: 10.98.0.4, fqdn: transport.tgg.net.id, roles: [mta, proxy] }
  - { name: mbox-2, address: 10.98.0.5, fqdn: mbox-2.tgg.net.id, roles: [mailbox] }
";

fn cluster() -> Cluster {
    inventory::parse(INVENTORY, Path::new("labtest.yaml")).unwrap().cluster
}

fn packages() -> Vec<String> {
    Playbook::builtin().unwrap().all_packages()
}

/// Everything the lab may create on this machine, as text; empty when nothing is left.
fn leftovers(c: &Cluster) -> Vec<String> {
    let mut found = Vec::new();
    for h in &c.hosts {
        let ns = net::netns(&c.name, &h.name);
        if net::netns_exists(&ns) {
            found.push(format!("netns {ns}"));
        }
        if Command::new("ip").args(["link", "show", &net::veth(h.address)]).output().unwrap().status.success() {
            found.push(format!("veth {}", net::veth(h.address)));
        }
    }
    if Command::new("ip").args(["link", "show", "mailctl-t0"]).output().unwrap().status.success() {
        found.push("bridge mailctl-t0".into());
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    found.extend(mounts.lines().filter(|l| l.contains("/var/lib/mailctl/lab/labtest")).map(|l| format!("mount {l}")));
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    found.extend(
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains("--machine=labtest-"))
            .map(|l| format!("process {l}")),
    );
    // The containers' own processes (their systemd, sshd, …), not only nspawn.
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cgroup = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        // A zombie is gone already: only its exit status waits for its parent (this test).
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z");
        if cgroup.contains("mailctl-lab/labtest-") && !zombie {
            found.push(format!("process {} in {}", e.file_name().to_string_lossy(), cgroup.trim()));
        }
    }
    for cg in ["/sys/fs/cgroup/systemd/mailctl-lab", "/sys/fs/cgroup/unified/mailctl-lab", "/sys/fs/cgroup/mailctl-lab"]
    {
        if let Ok(entries) = std::fs::read_dir(cg) {
            found.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("labtest-"))
                    .map(|e| format!("cgroup {}", e.path().display())),
            );
        }
    }
    found
}

/// `mailctl lab ACTION` on the test's inventory: its standard output (exit 0 asserted but
/// for `status`, which exits 1 while a host is down).
fn mailctl_lab(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("labtest.yaml");
    std::fs::write(&inv, INVENTORY).unwrap();
    let out = common::mailctl().arg("lab").args(&args[..1]).arg(&inv).args(&args[1..]).output().unwrap();
    assert!(out.status.success() || args[0] == "status", "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn lab_lifecycle() {
    let c = cluster();
    let paths = LabPaths::for_cluster(&c);
    let _ = lab::down(&c, true);
    assert_eq!(leftovers(&c), Vec::<String>::new(), "a previous run left things behind");

    lab::up(&c, &packages(), &mut |m| eprintln!("{m}")).unwrap();
    for h in &c.hosts {
        let out = container::ssh(&paths, h, "hostname; systemctl is-system-running; cat /etc/machine-id").unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], h.short_name());
        assert!(matches!(lines[1], "running" | "degraded"), "{}: {out}", h.name);
    }
    // Every host has its own machine-id and host key.
    let ids: std::collections::HashSet<String> =
        c.hosts.iter().map(|h| container::ssh(&paths, h, "cat /etc/machine-id").unwrap()).collect();
    assert_eq!(ids.len(), c.hosts.len());
    // Hosts reach each other by name over the bridge.
    let mbox1 = c.host("mbox-1").unwrap();
    container::ssh(&paths, mbox1, "getent hosts mbox-2.tgg.net.id && bash -c 'echo > /dev/tcp/mbox-2.tgg.net.id/22'")
        .unwrap();

    // Idempotent: a second `up` leaves running hosts alone.
    let before = lab::status(&c).unwrap();
    lab::up(&c, &packages(), &mut |_| {}).unwrap();
    let after = lab::status(&c).unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert!(a.up && a.uptime_s >= b.uptime_s, "{} was restarted", a.host);
    }

    // One host down: the others still answer; `up` brings it back.
    let mbox2 = c.host("mbox-2").unwrap();
    lab::stop_host(&c, mbox2).unwrap();
    assert!(container::ssh(&paths, mbox2, "true").is_err());
    for h in c.hosts.iter().filter(|h| h.name != "mbox-2") {
        container::ssh(&paths, h, "true").unwrap_or_else(|e| panic!("{} stopped answering: {e}", h.name));
    }
    let st = lab::status(&c).unwrap();
    assert_eq!(st.iter().filter(|s| !s.up).map(|s| s.host.as_str()).collect::<Vec<_>>(), ["mbox-2"]);
    lab::up(&c, &packages(), &mut |_| {}).unwrap();
    container::ssh(&paths, mbox2, "true").unwrap();

    // A power cut: every process of the host gone at once (a crash, not a shutdown: a
    // sleeper that ignores SIGTERM dies too), its address silent (no answer, not a refusal),
    // the others untouched; `up` boots it again with its disk as it was.
    container::ssh(&paths, mbox2, "echo kept > /root/before-the-cut; sync").unwrap();
    container::ssh(&paths, mbox2, "systemd-run --unit=stubborn sh -c 'trap \"\" TERM; exec sleep 4242'").unwrap();
    let out = mailctl_lab(&["power-cut", "mbox-2"]);
    assert!(out.contains("mbox-2: power cut in "), "{out}");
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains("--machine=labtest-mbox-2"), "nspawn survived the cut");
    assert!(!ps.lines().any(|l| l.contains("sleep 4242")), "a process of the host survived the cut");
    let probe =
        std::net::TcpStream::connect_timeout(&"10.98.0.5:22".parse().unwrap(), std::time::Duration::from_millis(800));
    assert!(
        probe.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::ConnectionRefused),
        "a dead host answers: {probe:?}"
    );
    for h in c.hosts.iter().filter(|h| h.name != "mbox-2") {
        container::ssh(&paths, h, "true").unwrap_or_else(|e| panic!("{} went down with mbox-2: {e}", h.name));
    }
    let out = mailctl_lab(&["status"]);
    assert!(out.lines().any(|l| l.contains("mbox-2") && l.contains("down")), "{out}");
    lab::up(&c, &packages(), &mut |_| {}).unwrap();
    assert_eq!(container::ssh(&paths, mbox2, "cat /root/before-the-cut").unwrap().trim(), "kept");
    let out = mailctl_lab(&["power-off", "mbox-2"]);
    assert!(out.contains("mbox-2: powered off in "), "{out}");
    lab::up(&c, &packages(), &mut |_| {}).unwrap();

    lab::down(&c, false).unwrap();
    assert_eq!(leftovers(&c), Vec::<String>::new());

    // Repeated cycles neither hang nor leave anything behind.
    for cycle in 0..5 {
        lab::up(&c, &packages(), &mut |_| {}).unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        for h in &c.hosts {
            container::ssh(&paths, h, "true").unwrap_or_else(|e| panic!("cycle {cycle}, {}: {e}", h.name));
        }
        lab::down(&c, cycle == 4).unwrap();
        assert_eq!(leftovers(&c), Vec::<String>::new(), "after cycle {cycle}");
    }
    assert!(!paths.host_dir("ldap").exists(), "--purge drops the hosts' disks");
}

#[test]
fn lab_refuses_an_inventory_without_a_lab_section() {
    let out = common::mailctl().args(["lab", "status", common::shipped("tgg").to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `lab:` section"));
}
