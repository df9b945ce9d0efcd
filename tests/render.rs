//! Rendering: every shipped inventory renders, each topology gets the files its roles
//! imply, re-renders are byte-identical, and `mailctl render` writes a tree with modes.

mod common;

use std::os::unix::fs::PermissionsExt;

use mailctl::render::context::{DovecotMode, dovecot_mode};

#[test]
fn every_shipped_inventory_validates_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    for name in common::SHIPPED {
        let cluster = common::load(&common::shipped(name));
        let hosts = common::render(&cluster, tmp.path());
        assert_eq!(hosts.len(), cluster.hosts.len(), "{name}");
        for h in &hosts {
            let dests: Vec<&str> = h.files.iter().map(|f| f.dest.as_str()).collect();
            for always in ["/etc/hosts", "/etc/chrony/chrony.conf", "/etc/ssl/mailctl/host.pem"] {
                assert!(dests.contains(&always), "{name}/{} lacks {always}", h.host);
            }
        }
    }
}

#[test]
fn tgg_routes_each_account_to_its_mailbox_over_lmtp_and_defers_moves() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = common::render(&common::load(&common::shipped("tgg")), tmp.path());
    let main_cf = common::file(&hosts, "transport", "/etc/postfix/main.cf");
    assert!(main_cf.contains("virtual_mailbox_domains = tgg.net.id gec-course.com"));
    assert!(main_cf.contains(
        "transport_maps = proxy:ldap:/etc/postfix/ldap/moving.cf, proxy:ldap:/etc/postfix/ldap/transport.cf"
    ));
    assert!(main_cf.contains("defer_transports = moving"));
    let transport = common::file(&hosts, "transport", "/etc/postfix/ldap/transport.cf");
    assert!(
        transport.contains("result_attribute = mailHost")
            && transport.contains("result_format = lmtp:inet:[mailbox.%s]:24")
    );
    let moving = common::file(&hosts, "transport", "/etc/postfix/ldap/moving.cf");
    assert!(moving.contains("(mailctlState=moving)") && moving.contains("result_format = moving:"));
    let master = common::file(&hosts, "transport", "/etc/postfix/master.cf");
    assert!(
        master.contains("\nsubmission inet")
            && master.contains("\nsubmissions inet")
            && master.contains("\nmoving    unix")
    );
    let proxy_ldap = common::file(&hosts, "transport", "/etc/dovecot/dovecot-ldap.conf.ext");
    assert!(proxy_ldap.contains("=proxy=y, =host=mailbox.%{ldap:mailHost}, =delay_until=%{ldap:mailctlHoldUntil:0}"));
    let hosts_file = common::file(&hosts, "transport", "/etc/hosts");
    assert!(hosts_file.contains("mailbox.mbox-2.tgg.net.id"), "{hosts_file}");
    let backend = common::file(&hosts, "mbox-2", "/etc/dovecot/dovecot.conf");
    assert!(backend.contains("protocols = imap pop3 lmtp") && backend.contains("port = 2425"));
    assert!(
        !backend.lines().any(|l| l.starts_with("doveadm_port")),
        "doveadm_port makes local doveadm ask the passdb first"
    );
    // tgg's 2G default, a full mailbox deferred; an account's own limits come from LDAP.
    assert!(backend.contains("quota_rule = *:storage=2147483648B") && backend.contains("\nquota_full_tempfail = yes"));
    let backend_ldap = common::file(&hosts, "mbox-2", "/etc/dovecot/dovecot-ldap.conf.ext");
    assert!(backend_ldap.contains("=quota_rule=*:storage=%{ldap:mailctlStorageLimit:2147483648}B"), "{backend_ldap}");
    assert!(backend_ldap.contains("iterate_filter = (&(objectClass=inetOrgPerson)(mailHost=mbox-2.tgg.net.id))"));
    let zone = common::file(&hosts, "ldap", "/etc/bind/zones/db.gec-course.com");
    assert!(zone.contains("@\tIN\tMX\t10 transport.tgg.net.id.") && zone.contains("mail\tIN\tA\t172.16.0.4"));
    let hosts_file = common::file(&hosts, "mbox-1", "/etc/hosts");
    assert!(hosts_file.contains("172.16.0.5\tmbox-2.tgg.net.id mbox-2\n"));
    let chrony = common::file(&hosts, "mbox-1", "/etc/chrony/chrony.conf");
    assert!(chrony.contains("server ldap.tgg.net.id iburst prefer"), "mailbox hosts follow the LDAP host's clock");
}

#[test]
fn each_topology_gets_what_its_roles_imply() {
    let tmp = tempfile::tempdir().unwrap();
    // HUDEDU: user1 50 recipients / 1800 s, user2 exempt, internal mail not counted.
    let hosts = common::render(&common::load(&common::shipped("hudedu")), tmp.path());
    let rl = common::file(&hosts, "mta", "/etc/policyd-rate-limit.yaml");
    assert!(rl.contains("\"user1@hudedu.net\": [[50, 1800]]") && rl.contains("\"user2@hudedu.net\": []"), "{rl}");
    assert_eq!(
        common::file(&hosts, "mta", "/etc/postfix/ratelimit_recipients").lines().last(),
        Some("!/@(hudedu\\.net)$/\tratelimit")
    );
    // LV Logistics: HAProxy on gszhap balances SMTP over both MTAs' PROXY-protocol listeners.
    let hosts = common::render(&common::load(&common::shipped("lvlogistics")), tmp.path());
    let hap = common::file(&hosts, "gszhap", "/etc/haproxy/haproxy.cfg");
    assert!(
        hap.contains("server gsmta1 192.168.138.83:10025 send-proxy-v2 check")
            && hap.contains("server gsmta2 192.168.138.84:10587 send-proxy-v2 check"),
        "{hap}"
    );
    // SMKNH: both nodes carry everything; keepalived floats the VIP; LDAP replicates.
    let cluster = common::load(&common::shipped("smknh"));
    assert_eq!(dovecot_mode(cluster.host("srv1").unwrap()), Some(DovecotMode::ProxyMaybe));
    let hosts = common::render(&cluster, tmp.path());
    let ka1 = common::file(&hosts, "srv1", "/etc/keepalived/keepalived.conf");
    let ka2 = common::file(&hosts, "srv2", "/etc/keepalived/keepalived.conf");
    assert!(ka1.contains("192.168.30.254/24 dev eth0") && ka1.contains("priority 150") && ka2.contains("priority 140"));
    assert!(common::file(&hosts, "srv2", "/etc/ldap/slapd.conf").contains("provider=ldap://srv1.smknh.sch.id"));
    assert!(common::file(&hosts, "srv1", "/etc/ldap/slapd.conf").contains("overlay\t\tsyncprov"));
    // Excellent: the incoming MX is in DNS, the submission-only hosts are not.
    let hosts = common::render(&common::load(&common::shipped("excellent")), tmp.path());
    let zone = common::file(&hosts, "ldap-1", "/etc/bind/zones/db.excellent.co.id");
    assert!(zone.contains("MX\t10 mx.excellent.co.id.") && !zone.contains("MX\t10 smtp.excellent.co.id."));
    assert!(zone.contains("mail\tIN\tA\t10.20.0.40"), "the public name points at the proxies' VIP");
    assert!(!common::file(&hosts, "mx-in", "/etc/postfix/master.cf").contains("submission inet"));
    assert!(common::file(&hosts, "smtp-app", "/etc/postfix/main.cf").contains("10.20.10.0/24"));
}

#[test]
fn rerendering_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = common::load(&common::shipped("excellent"));
    let first = common::render(&cluster, tmp.path());
    let second = common::render(&cluster, tmp.path());
    for (a, b) in first.iter().zip(&second) {
        for (fa, fb) in a.files.iter().zip(&b.files) {
            assert_eq!(fa.dest, fb.dest);
            assert!(fa.content == fb.content, "{}:{} changed between renders", a.host, fa.dest);
        }
    }
}

#[test]
fn render_command_writes_the_tree_with_modes_and_a_private_state_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let state = tmp.path().join("tgg.state.yaml");
    let run = common::mailctl()
        .args([
            "render",
            common::shipped_copy("tgg", tmp.path()).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--host",
            "transport",
        ])
        .env("MAILCTL_STATE", &state)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("transport/etc/postfix/main.cf"), 0o644);
    assert_eq!(mode("transport/etc/ssl/mailctl/host.key"), 0o640);
    assert_eq!(mode("transport/etc/dovecot/dovecot-ldap.conf.ext"), 0o600);
    assert!(!out.join("mbox-1").exists(), "--host renders only that host");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let comps: Vec<&str> =
        manifest["transport"]["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(comps, ["base", "chrony", "sshd", "dovecot", "postfix", "rspamd", "webmail", "nginx"]);
    let secret = serde_yaml_value(&state, "doveadm");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!stdout.contains(&secret) && !String::from_utf8_lossy(&run.stderr).contains(&secret));

    // A directory that is not an earlier render is never written into.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let refused = common::mailctl()
        .args(["render", common::shipped_copy("tgg", tmp.path()).to_str().unwrap(), "--out", foreign.to_str().unwrap()])
        .env("MAILCTL_STATE", &state)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an earlier `mailctl render` output"));
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    let unknown = common::mailctl()
        .args([
            "render",
            common::shipped_copy("tgg", tmp.path()).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--host",
            "mbox-9",
        ])
        .env("MAILCTL_STATE", &state)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no host `mbox-9`"));
}

#[test]
fn a_template_error_names_host_and_template_and_prints_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    copy_dir(&common::repo().join("templates"), &templates);
    let main_cf = templates.join("postfix/main.cf");
    let text = std::fs::read_to_string(&main_cf).unwrap();
    std::fs::write(&main_cf, text.replace("{{ host.fqdn }}", "{{ host.fqdnn }}")).unwrap();
    let state = tmp.path().join("s.state.yaml");
    let run = common::mailctl()
        .args([
            "render",
            common::shipped_copy("tgg", tmp.path()).to_str().unwrap(),
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ])
        .arg("--templates")
        .arg(&templates)
        .env("MAILCTL_STATE", &state)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("host transport") && err.contains("postfix/main.cf") && err.contains("undefined"), "{err}");
    assert!(!err.contains("ldap_reader") && !err.contains("dnpass") && !err.contains("reader_password"), "{err}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest)
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// One secret's value from a state file (its `secrets:` map).
fn serde_yaml_value(state: &std::path::Path, key: &str) -> String {
    let text = std::fs::read_to_string(state).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap();
    line.split_once(':').unwrap().1.trim().trim_matches('"').to_string()
}

/// Every secret mailctl keeps (generated passwords and their hashes, the CA's and the hosts'
/// private keys) may appear only in files that no one but root and the service can read.
#[test]
fn no_secret_lands_in_a_file_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    for name in common::SHIPPED {
        let cluster = common::load(&common::shipped(name));
        let hosts = common::render(&cluster, tmp.path());
        let state = mailctl::state::LocalState::open(&tmp.path().join(format!("{}.state.yaml", cluster.name))).unwrap();
        let mut secrets: Vec<(String, String)> =
            state.data.secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(pki) = &state.data.pki {
            secrets.push(("ca_key".into(), pki.ca_key.trim().to_string()));
            for (h, c) in &pki.hosts {
                secrets.push((format!("{h} host key"), c.key.trim().to_string()));
            }
        }
        for (domain, keys) in &state.data.dkim {
            for k in keys {
                secrets.push((format!("{domain} DKIM key"), k.private_key.trim().to_string()));
            }
        }
        assert!(secrets.iter().any(|(k, _)| k == "doveadm"), "{name}: no doveadm secret generated");
        for h in &hosts {
            for f in &h.files {
                let text = String::from_utf8_lossy(&f.content);
                for (key, value) in &secrets {
                    if !text.contains(value.as_str()) {
                        continue;
                    }
                    assert!(key != "ca_key", "{name}/{}: the CA's private key is in {}", h.host, f.dest);
                    assert_eq!(
                        f.mode & 0o007,
                        0,
                        "{name}/{}: {} holds secret `{key}` with mode {:o}",
                        h.host,
                        f.dest,
                        f.mode
                    );
                    assert!(
                        f.mode & 0o070 == 0 || f.group != "root" || f.owner == "root",
                        "{name}/{}: {} holds `{key}`: group-readable by {}",
                        h.host,
                        f.dest,
                        f.group
                    );
                }
            }
        }
    }
}

#[test]
fn mynetworks_never_trusts_a_proxy_and_haproxy_passes_the_client_on() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = common::load(&common::shipped("lvlogistics"));
    let hosts = common::render(&cluster, tmp.path());
    let main_cf = common::file(&hosts, "gsmta1", "/etc/postfix/main.cf");
    let mynetworks = main_cf.lines().find(|l| l.starts_with("mynetworks =")).unwrap();
    assert!(!mynetworks.contains(&cluster.host("gszhap").unwrap().address.to_string()), "{mynetworks}");
    assert!(!mynetworks.contains(&cluster.host("gsldap").unwrap().address.to_string()), "{mynetworks}");
    let master = common::file(&hosts, "gsmta1", "/etc/postfix/master.cf");
    assert!(master.contains("192.168.138.83:10025 inet"), "{master}");
    assert_eq!(master.matches("smtpd_upstream_proxy_protocol=haproxy").count(), 3);
    let haproxy = common::file(&hosts, "gszhap", "/etc/haproxy/haproxy.cfg");
    assert_eq!(haproxy.matches("send-proxy-v2 check check-send-proxy").count(), 4, "{haproxy}");
    // 465's servers are checked on the submission listener: a check without TLS there is fatal.
    assert_eq!(haproxy.matches(":10465 send-proxy-v2 check port 10587 check-send-proxy").count(), 2, "{haproxy}");
    // Without HAProxy no PROXY listener exists.
    let tgg = common::render(&common::load(&common::shipped("tgg")), tmp.path());
    assert!(!common::file(&tgg, "transport", "/etc/postfix/master.cf").contains("upstream_proxy"));
    let dovecot = common::file(&hosts, "gszimbra1", "/etc/dovecot/dovecot.conf");
    assert!(!dovecot.contains("doveadm_password ="), "the doveadm secret stays out of dovecot.conf");
    let doveadm = &dovecot[dovecot.find("service doveadm").unwrap()..];
    let doveadm = &doveadm[..doveadm.find("\n}").unwrap()];
    assert!(
        doveadm.contains("address = 127.0.0.1") && !doveadm.contains("192.168."),
        "doveadm on loopback only: {doveadm}"
    );
}

#[test]
fn filters_reach_only_the_mtas_and_keys_only_rspamd() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = common::load(&common::shipped("excellent"));
    let hosts = common::render(&cluster, tmp.path());
    let state = mailctl::state::LocalState::open(&tmp.path().join("excellent.state.yaml")).unwrap();
    let key = &state.data.dkim["excellent.co.id"][0];
    for h in &hosts {
        let is_mta = cluster.host(&h.host).unwrap().has(mailctl::inventory::Role::Mta);
        let dkim = h.files.iter().find(|f| f.dest.starts_with("/var/lib/rspamd/dkim/"));
        assert_eq!(dkim.is_some(), is_mta, "{}: DKIM key where it should not be, or missing", h.host);
        if let Some(f) = dkim {
            assert_eq!(f.dest, format!("/var/lib/rspamd/dkim/excellent.co.id.{}.key", key.selector));
            assert_eq!((f.mode, f.owner.as_str(), f.group.as_str()), (0o640, "root", "_rspamd"), "{}", h.host);
            let main_cf = common::file(&hosts, &h.host, "/etc/postfix/main.cf");
            assert!(main_cf.contains("milter_default_action = tempfail"), "{}", h.host);
            // ClamAV only on the incoming MX, which the report asked for.
            let clamav = main_cf.contains("inet:127.0.0.1:7357");
            assert_eq!(clamav, h.host == "mx-in", "{}: {main_cf}", h.host);
            let local = common::file(&hosts, &h.host, "/etc/rspamd/override.d/options.inc");
            assert!(!local.contains("10.0.0.0/8"), "{local}");
        }
    }
    // The zone publishes the key rspamd signs with, and DMARC.
    let zone = common::file(&hosts, "ldap-1", "/etc/bind/zones/db.excellent.co.id");
    assert!(zone.contains(&format!("{}._domainkey\tIN\tTXT", key.selector)), "{zone}");
    assert!(
        zone.contains("_dmarc\tIN\tTXT\t\"v=DMARC1; p=quarantine; rua=mailto:postmaster@excellent.co.id"),
        "{zone}"
    );
    assert!(zone.contains("\"v=spf1 mx ip4:198.51.100.40 ~all\""), "{zone}");
    // Rendering again keeps the key.
    let again = common::render(&cluster, tmp.path());
    assert_eq!(
        common::file(&again, "mx-in", &format!("/var/lib/rspamd/dkim/excellent.co.id.{}.key", key.selector)),
        common::file(&hosts, "mx-in", &format!("/var/lib/rspamd/dkim/excellent.co.id.{}.key", key.selector))
    );
}
