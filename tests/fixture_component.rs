//! A component nobody wrote Rust for: a fixture playbook adds memcached (package, file, unit,
//! status probe) and render, deploy's plan and status handle it from the data alone.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use mailctl::deploy::{self, DeployOptions, DirectoryInput, diff::Masker};
use mailctl::directory::ServicePasswords;
use mailctl::inventory::Cluster;
use mailctl::observe::Silent;
use mailctl::playbook::{Playbook, Stage};
use mailctl::remote::fake::{FakeFleet, ok};
use mailctl::render::Renderer;
use mailctl::state::LocalState;
use mailctl::status::{self, Connections, State, StatusOptions, services::Probe};

const INVENTORY: &str = "
cluster: { name: fixture, domains: [example.org], public_name: mail.example.org }
hosts:
  - { name: one, address: 127.0.0.1, fqdn: one.example.org, roles: [ldap, mta, mailbox] }
";

/// The built-in playbook's stages and a single made-up component probed on `port`.
fn playbook(port: u16) -> Playbook {
    Playbook::parse(&format!(
        "
stages: [base, ldap, mailbox, mta, proxy, dns]
components:
  - name: memcached
    roles: [mailbox]
    packages: [memcached]
    service: {{ unit: memcached, on_change: restart, check: 'memcached -h >/dev/null' }}
    files:
      - {{ dest: /etc/memcached.conf, template: memcached/memcached.conf, mode: '0640' }}
    status:
      - {{ name: memcache, probe: {{ kind: tcp, port: {port} }} }}
"
    ))
    .unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    cluster: Cluster,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fixture.yaml");
    std::fs::write(&inventory, INVENTORY).unwrap();
    std::fs::create_dir_all(dir.path().join("templates/memcached")).unwrap();
    std::fs::write(dir.path().join("templates/memcached/memcached.conf"), "-l {{ host.address }}\n-m 64\n").unwrap();
    let cluster = common::load(&inventory);
    Fixture { dir, cluster }
}

fn render(f: &Fixture, pb: Playbook) -> Vec<mailctl::render::RenderedHost> {
    let mut state = LocalState::open(&f.dir.path().join("fixture.state.yaml")).unwrap();
    let renderer = Renderer::new(pb, Some(&f.dir.path().join("templates"))).unwrap();
    renderer.render(&f.cluster, &mut state, &[]).unwrap()
}

#[test]
fn render_places_the_new_components_file() {
    let f = fixture();
    let hosts = render(&f, playbook(11211));
    assert_eq!(common::file(&hosts, "one", "/etc/memcached.conf"), "-l 127.0.0.1\n-m 64\n");
    let c = &hosts[0].components[0];
    assert_eq!((c.name.as_str(), c.stage, c.unit.as_deref()), ("memcached", Stage::Mailbox, Some("memcached")));
    assert_eq!(hosts[0].files[0].mode, 0o640);
}

#[test]
fn deploy_installs_checks_and_starts_it() {
    let f = fixture();
    let hosts = render(&f, playbook(11211));
    let fleet = FakeFleet::succeeding();
    let input = DirectoryInput {
        services: ServicePasswords { reader: "r".into(), replicator: "p".into() },
        passwords: BTreeMap::new(),
    };
    let opts = DeployOptions { check: true, diff: false, limit: vec![], roles: vec![], forks: 4 };
    let pb = playbook(11211);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mask = Masker::new(Vec::<String>::new());
    let plan = rt.block_on(deploy::deploy(&fleet, &f.cluster, &hosts, &pb.stages, &input, &mask, &opts, &Silent));
    let one = &plan.hosts[0];
    assert_eq!(one.packages, ["memcached"]);
    assert_eq!(one.changed_files, ["/etc/memcached.conf"]);
    assert_eq!(one.units, ["memcached restart"]);

    let opts = DeployOptions { check: false, ..opts };
    let done = rt.block_on(deploy::deploy(&fleet, &f.cluster, &hosts, &pb.stages, &input, &mask, &opts, &Silent));
    assert!(done.ok(), "{done:#?}");
    let steps = fleet.steps_on("one");
    assert!(steps.contains(&"install packages".to_string()) && steps.contains(&"memcached".to_string()), "{steps:?}");
}

#[test]
fn status_reports_it_with_its_unit_and_probe() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let f = fixture();
    let pb = playbook(port);
    let services = status::services::for_host(&pb, &f.cluster, &f.cluster.hosts[0]).unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!((services[0].name.as_str(), services[0].unit.as_str()), ("memcache", "memcached"));
    assert_eq!(services[0].probe, Some(Probe::Tcp { port }));

    // systemd's answer comes over the (fake) SSH session; the probe is a real TCP connect.
    let fleet = FakeFleet::new(|_, step, _| match step {
        "status" => ok("Id=memcached.service\nActiveState=active\nSubState=running\nLoadState=loaded\n\n@@addresses\n"),
        _ => ok(""),
    });
    let opts = StatusOptions {
        playbook: pb,
        hosts: vec![],
        roles: vec![],
        services: vec![],
        probe_timeout: Duration::from_secs(2),
        forks: 4,
        tls: status::tls::TlsTrust::none("no TLS here"),
    };
    status::check_filters(&f.cluster, &opts, f.dir.path()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(async {
        let mut connections = Connections::new(&fleet);
        status::check(&f.cluster, &opts, &mut connections).await.unwrap()
    });
    let s = &report.hosts[0].services[0];
    assert_eq!((s.name.as_str(), s.state), ("memcache", State::Running), "{s:#?}");
    assert!(s.probe.as_ref().is_some_and(|p| p.ok && p.kind == "tcp"), "{s:#?}");

    // With the port closed, the probe fails and the service is reported stopped.
    drop(listener);
    let report = rt.block_on(async {
        let mut connections = Connections::new(&fleet);
        status::check(&f.cluster, &opts, &mut connections).await.unwrap()
    });
    assert_eq!(report.hosts[0].services[0].state, State::Stopped);
    assert!(!report.ok());
}
