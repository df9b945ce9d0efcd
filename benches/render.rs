//! Benchmark: validate and render a generated 500-host inventory (no network).
//! `cargo bench --bench render`; figures are written down in BENCHMARKS.md.

use std::time::{Duration, Instant};

use mailctl::inventory;
use mailctl::playbook::Playbook;
use mailctl::render::{Renderer, write_tree};
use mailctl::state::LocalState;

/// 500 hosts: 2 LDAP (provider + replica, one with DNS), 40 MTAs, 400 mailbox hosts,
/// 58 proxies in VIP pairs; 10 domains and 2,000 accounts.
fn inventory(hosts: usize) -> String {
    let mut s = String::from("cluster:\n  name: big\n  domains: [");
    s += &(0..10).map(|d| format!("d{d}.example")).collect::<Vec<_>>().join(", ");
    s += "]\n  ntp_servers: [pool.ntp.org]\nhosts:\n";
    for i in 0..hosts {
        let (roles, extra) = match i {
            0 => ("[ldap, dns]", String::new()),
            1 => ("[ldap]", "\n    ldap: { replica_of: h0 }".to_string()),
            2..=41 => ("[mta]", String::new()),
            42..=441 => ("[mailbox]", "\n    capacity: 5000".to_string()),
            _ => ("[proxy]", String::new()),
        };
        s += &format!(
            "  - name: h{i}\n    address: 10.{}.{}.{}\n    fqdn: h{i}.d0.example\n    roles: {roles}{extra}\n",
            i / 250 / 250,
            (i / 250) % 250,
            i % 250 + 1
        );
    }
    s += "vips:\n";
    for (n, pair) in (442..hosts).collect::<Vec<_>>().chunks(2).enumerate() {
        if pair.len() == 2 {
            s += &format!(
                "  - {{ address: 10.200.0.{}, hosts: [h{}, h{}], router_id: {} }}\n",
                n + 1,
                pair[0],
                pair[1],
                n + 1
            );
        }
    }
    s += "accounts:\n";
    for a in 0..2000 {
        s +=
            &format!("  - {{ address: u{a}@d{}.example, mailbox: h{}, password: \"env:PW\" }}\n", a % 10, 42 + a % 400);
    }
    s
}

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) -> T {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed());
    }
    println!("{label:<48} {:>9.1} ms (best of {runs})", best.as_secs_f64() * 1e3);
    out.unwrap()
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let text = inventory(500);
    let path = tmp.path().join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    println!("inventory: 500 hosts, 2000 accounts, {} KiB of YAML", text.len() / 1024);

    let cluster = time("parse + validate", 5, || inventory::load(&path).unwrap().cluster);
    let renderer = Renderer::new(Playbook::builtin().unwrap(), None).unwrap();
    let state_path = tmp.path().join("big.state.yaml");
    time("first render (generates CA + 500 host certs)", 1, || {
        let mut state = LocalState::open(&state_path).unwrap();
        let hosts = renderer.render(&cluster, &mut state, &[]).unwrap();
        state.save().unwrap();
        hosts
    });
    let hosts = time("render, state reused (the usual case)", 5, || {
        let mut state = LocalState::open(&state_path).unwrap();
        renderer.render(&cluster, &mut state, &[]).unwrap()
    });
    let files: usize = hosts.iter().map(|h| h.files.len()).sum();
    println!("  -> {files} files");
    let out = tmp.path().join("out");
    time("write tree to disk", 3, || write_tree(&out, &hosts).unwrap());
    time("end to end: load, render, write", 3, || {
        let cluster = inventory::load(&path).unwrap().cluster;
        let mut state = LocalState::open(&state_path).unwrap();
        let hosts = renderer.render(&cluster, &mut state, &[]).unwrap();
        write_tree(&out, &hosts).unwrap();
    });
}
