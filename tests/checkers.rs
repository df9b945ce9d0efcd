//! Every rendered config passes its service's own checker (slaptest, postconf + postfix
//! check, doveconf, nginx -t, haproxy -c, keepalived -t, named-checkconf -z, chronyd -p, php -l and
//! php-fpm -t),
//! run against the files laid over the live paths in a throwaway mount namespace.
//!
//! Needs root and the service packages: `scripts/install-deps.sh` installs them.

mod common;

use std::process::Command;

use mailctl::render::{RenderedHost, sandbox, write_tree};

/// Runs every component's checker for every host; returns one line per failure.
fn check_all(rendered: &[RenderedHost], out: &std::path::Path) -> Vec<String> {
    let mut failures = Vec::new();
    for h in rendered {
        let root = out.join(&h.host);
        let tops = sandbox::top_dirs(h.files.iter().map(|f| f.dest.as_str()));
        for c in &h.components {
            let Some(check) = &c.check else { continue };
            let script = sandbox::check_script(root.to_str().unwrap(), &tops, check);
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

fn require_checkers() {
    let missing: Vec<&str> =
        ["slaptest", "postconf", "doveconf", "nginx", "haproxy", "keepalived", "named-checkconf", "chronyd", "unshare"]
            .into_iter()
            .filter(|t| {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {t} || test -x /usr/sbin/{t}"))
                    .output()
                    .map(|o| !o.status.success())
                    .unwrap_or(true)
            })
            .collect();
    assert!(missing.is_empty(), "checkers missing: {missing:?}; run `sudo scripts/install-deps.sh` first");
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "0", "the checker tests need root (mount namespaces)");
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn every_shipped_inventory_passes_the_services_own_checkers() {
    require_checkers();
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in common::SHIPPED {
        let cluster = common::load(&common::shipped(name));
        let rendered = common::render(&cluster, tmp.path());
        let out = tmp.path().join(name);
        write_tree(&out, &rendered).unwrap();
        checked += rendered.iter().flat_map(|h| &h.components).filter(|c| c.check.is_some()).count();
        failures.extend(check_all(&rendered, &out).into_iter().map(|f| format!("[{name}] {f}")));
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n\n{}", failures.len(), failures.join("\n"));
    // Every checker kind ran at least once across the shipped inventories.
    assert!(checked >= 40, "only {checked} checks ran");
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn a_broken_config_is_caught_by_its_checker() {
    require_checkers();
    let tmp = tempfile::tempdir().unwrap();
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
    let failures = check_all(&rendered, &out);
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures[0].contains("transport / postfix") && failures[0].contains("smtpd_tls_security_levle"),
        "{}",
        failures[0]
    );
    assert!(failures[1].contains("transport / nginx") && failures[1].contains("worker_connections"), "{}", failures[1]);
}
