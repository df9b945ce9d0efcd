//! The edge router's NAT plan loaded for real: `mailctl nat` for nftables and for
//! iptables-restore, each checked by its own tool (`nft -c -f`, `iptables-restore --test`)
//! and then loaded in a router made of network namespaces: a client outside connects to
//! the public address and reaches the service on the inside host the plan forwards to; a
//! port the plan does not forward reaches nothing inside.
//!
//! Three namespaces, the addresses of inventories/tgg.yaml: a client (203.0.113.2), the router
//! (203.0.113.25 outside, 172.16.0.1 inside), the inside host (transport, 172.16.0.4).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CLIENT: &str = "mcnat-client";
const ROUTER: &str = "mcnat-router";
const INSIDE: &str = "mcnat-inside";
const PUBLIC: &str = "203.0.113.25";
const TRANSPORT: &str = "172.16.0.4";

fn sh(script: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn ok(script: &str) -> String {
    let (ok, out) = sh(script);
    assert!(ok, "{script}: {out}");
    out
}

/// The three namespaces, wired; removed when dropped (also after a failed assertion).
struct Edge;

impl Edge {
    fn up() -> Edge {
        Edge::remove();
        ok(&format!(
            "set -e
             for n in {CLIENT} {ROUTER} {INSIDE}; do ip netns add $n; ip -n $n link set lo up; done
             ip link add mcnat-c type veth peer name mcnat-ro
             ip link set mcnat-c netns {CLIENT}; ip link set mcnat-ro netns {ROUTER}
             ip link add mcnat-h type veth peer name mcnat-ri
             ip link set mcnat-h netns {INSIDE}; ip link set mcnat-ri netns {ROUTER}
             ip -n {CLIENT} addr add 203.0.113.2/24 dev mcnat-c; ip -n {CLIENT} link set mcnat-c up
             ip -n {ROUTER} addr add {PUBLIC}/24 dev mcnat-ro; ip -n {ROUTER} link set mcnat-ro up
             ip -n {ROUTER} addr add 172.16.0.1/24 dev mcnat-ri; ip -n {ROUTER} link set mcnat-ri up
             ip -n {INSIDE} addr add {TRANSPORT}/24 dev mcnat-h; ip -n {INSIDE} link set mcnat-h up
             ip -n {INSIDE} route add default via 172.16.0.1
             ip netns exec {ROUTER} sysctl -qw net.ipv4.ip_forward=1"
        ));
        Edge
    }

    fn remove() {
        sh(&format!("for n in {CLIENT} {ROUTER} {INSIDE}; do ip netns del $n 2>/dev/null; done; true"));
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        Edge::remove();
    }
}

/// A service on the inside host: greets every connection with `220 inside <port>`.
fn listen(port: u16) -> Child {
    let script = format!(
        "import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{TRANSPORT}', {port})); s.listen(8)\nwhile True:\n    c, _ = s.accept(); c.sendall(b'220 inside {port}\\r\\n'); c.close()\n"
    );
    let child = Command::new("ip")
        .args(["netns", "exec", INSIDE, "python3", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// What a client outside gets from the public address's `port`: the greeting, or the error.
fn from_outside(port: u16) -> String {
    let script = format!(
        "import socket\ntry:\n    c = socket.create_connection(('{PUBLIC}', {port}), timeout=3); print(c.recv(100).decode().strip())\n\
         except Exception as e:\n    print('failed:', e)\n"
    );
    let out = Command::new("ip").args(["netns", "exec", CLIENT, "python3", "-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn plan(target: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let out =
        common::mailctl().args(["nat", common::shipped("tgg").to_str().unwrap(), "--for", target]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.join(target);
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

#[test]
#[ignore = "lab tier: needs root (network namespaces, netfilter); scripts/test.sh runs it"]
fn the_nat_plan_loads_and_forwards_in_nftables_and_iptables() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, ipt) = (plan("nftables", dir.path()), plan("iptables", dir.path()));
    let _edge = Edge::up();
    let mut services = vec![listen(25), listen(993), listen(2222)];
    assert_eq!(from_outside(25), "failed: [Errno 111] Connection refused", "nothing is forwarded yet");

    // nftables: checked, loaded (twice: the file replaces its own table), forwarding.
    ok(&format!("ip netns exec {ROUTER} nft -c -f {}", nft.display()));
    ok(&format!("ip netns exec {ROUTER} nft -f {0} && ip netns exec {ROUTER} nft -f {0}", nft.display()));
    assert_eq!(ok(&format!("ip netns exec {ROUTER} nft list ruleset | grep -c 'dnat to'")).trim(), "1");
    assert_eq!(from_outside(25), "220 inside 25");
    assert_eq!(from_outside(993), "220 inside 993");
    assert!(from_outside(2222).starts_with("failed:"), "a port the plan does not forward");
    ok(&format!("ip netns exec {ROUTER} nft delete table ip mailctl_nat"));
    assert!(from_outside(25).starts_with("failed:"));

    // iptables-restore: checked, loaded beside the router's own rules, forwarding.
    ok(&format!("ip netns exec {ROUTER} iptables-restore --test --noflush < {}", ipt.display()));
    ok(&format!("ip netns exec {ROUTER} iptables-restore --noflush < {}", ipt.display()));
    assert_eq!(from_outside(25), "220 inside 25");
    assert_eq!(from_outside(993), "220 inside 993");
    assert!(from_outside(2222).starts_with("failed:"));

    for s in &mut services {
        let _ = s.kill();
        let _ = s.wait();
    }
}
