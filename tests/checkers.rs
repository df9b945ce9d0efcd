//! Every rendered config passes its service's own checker (slaptest, postconf + postfix
//! check, doveconf, nginx -t, haproxy -c, keepalived -t, named-checkconf -z, chronyd -p, php -l and
//! php-fpm -t, postgres -C), on each supported Debian release: rendered in that release's
//! dialect and judged by that release's checkers, inside a root filesystem of the release with
//! the mail packages installed (src/lab/image.rs, `checker_root`). The files are laid over the
//! live paths in a throwaway mount namespace.
//!
//! Needs root and the lab's tools: `scripts/install-deps.sh` installs them.

mod common;

use std::process::Command;

use mailctl::lab::image::checker_root;
use mailctl::playbook::Playbook;
use mailctl::release::Os;
use mailctl::render::{RenderedHost, sandbox, write_tree};

/// Runs every component's checker for every host inside `release_root`; returns one line per failure.
fn check_all(release_root: &std::path::Path, rendered: &[RenderedHost], out: &std::path::Path) -> Vec<String> {
    let mut failures = Vec::new();
    for h in rendered {
        let root = out.join(&h.host);
        let tops = sandbox::top_dirs(h.files.iter().map(|f| f.dest.as_str()));
        for c in &h.components {
            let Some(check) = &c.check else { continue };
            let script =
                sandbox::check_script_in_root(release_root.to_str().unwrap(), root.to_str().unwrap(), &tops, check);
            let result = Command::new("sh").arg("-c").arg(&script).output().expect("run sh");
            if !result.status.success() {
                failures.push(format!(
                    "{} / {}: exit {:?}\n{}{}",
                    h.host,
                    c.name,
                    result.status.code(),
                    String::from_utf8_lossy(&result.stdout),
                    String::from_utf8_lossy(&result.stderr)
                ));
            }
        }
    }
    failures
}

/// The release's checker root, built once (about two minutes) and cached.
fn release_root(os: Os) -> std::path::PathBuf {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "0", "the checker tests need root (mount namespaces)");
    mailctl::lab::preflight().expect("the lab's tools; run `sudo scripts/install-deps.sh` first");
    let packages = Playbook::builtin().unwrap().all_packages();
    checker_root(os, &packages, &mut |m| eprintln!("{m}")).expect("checker root")
}

/// The inventory as if every host ran `os`.
fn on_release(mut cluster: mailctl::inventory::Cluster, os: Os) -> mailctl::inventory::Cluster {
    cluster.os = os;
    for h in &mut cluster.hosts {
        h.os = os;
    }
    cluster
}

fn every_shipped_inventory_passes_the_checkers_of(os: Os) {
    let root = release_root(os);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in common::SHIPPED {
        let cluster = on_release(common::load(&common::shipped(name)), os);
        let rendered = common::render(&cluster, tmp.path());
        let out = tmp.path().join(name);
        write_tree(&out, &rendered).unwrap();
        checked += rendered.iter().flat_map(|h| &h.components).filter(|c| c.check.is_some()).count();
        failures.extend(check_all(&root, &rendered, &out).into_iter().map(|f| format!("[{name}] {f}")));
    }
    assert!(failures.is_empty(), "{os}: {} of {checked} checks failed:\n\n{}", failures.len(), failures.join("\n"));
    // Every checker kind ran at least once across the shipped inventories.
    assert!(checked >= 40, "only {checked} checks ran");
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn every_shipped_inventory_passes_debian_12s_checkers() {
    every_shipped_inventory_passes_the_checkers_of(Os::Debian12);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn every_shipped_inventory_passes_debian_13s_checkers() {
    every_shipped_inventory_passes_the_checkers_of(Os::Debian13);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn a_broken_config_is_caught_by_its_checker() {
    let root = release_root(Os::Debian12);
    let tmp = tempfile::tempdir().unwrap();
    let cluster = common::load(&common::shipped("excellent"));
    let mut rendered = common::render(&cluster, tmp.path());
    let mx = rendered.iter_mut().find(|h| h.host == "mx-in").unwrap();
    let milter = mx.files.iter_mut().find(|f| f.dest == "/etc/clamav/clamav-milter.conf").unwrap();
    milter.content.extend_from_slice(b"OnInfected Explode\n");
    let actions = mx.files.iter_mut().find(|f| f.dest == "/etc/rspamd/local.d/actions.conf").unwrap();
    actions.content.extend_from_slice(b"reject = {\n");
    let out = tmp.path().join("excellent");
    write_tree(&out, &rendered).unwrap();
    let failures = check_all(&root, &rendered, &out);
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(failures.iter().any(|f| f.contains("mx-in / rspamd")), "{failures:#?}");
    assert!(failures.iter().any(|f| f.contains("mx-in / clamav") && f.contains("OnInfected")), "{failures:#?}");

    let cluster = common::load(&common::shipped("tgg"));
    let mut rendered = common::render(&cluster, tmp.path());
    let transport = rendered.iter_mut().find(|h| h.host == "transport").unwrap();
    let main_cf = transport.files.iter_mut().find(|f| f.dest == "/etc/postfix/main.cf").unwrap();
    main_cf.content.extend_from_slice(b"smtpd_tls_security_levle = may\n");
    let nginx = transport.files.iter_mut().find(|f| f.dest == "/etc/nginx/nginx.conf").unwrap();
    nginx.content =
        String::from_utf8_lossy(&nginx.content).replace("worker_connections 1024;", "worker_connections;").into_bytes();
    let out = tmp.path().join("tgg");
    write_tree(&out, &rendered).unwrap();
    let failures = check_all(&root, &rendered, &out);
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures[0].contains("transport / postfix") && failures[0].contains("smtpd_tls_security_levle"),
        "{}",
        failures[0]
    );
    assert!(failures[1].contains("transport / nginx") && failures[1].contains("worker_connections"), "{}", failures[1]);
}
