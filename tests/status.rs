//! `mailctl status` against a deployed lab: every format on a healthy cluster (zmcontrol
//! layout line by line, JSON against schemas/status.schema.json with Python's jsonschema,
//! Prometheus text through prometheus_client's parser, Nagios), a stopped Dovecot, a VIP
//! that moves with keepalived, `--watch`, the filters, and a host powered off.
//!
//! The inventory is inventories/lab.yaml on its own name, subnet and bridge, plus a VIP
//! floating between the two mailbox hosts.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailctl::lab;
use serde_json::Value;

use common::{LabCluster, python};

type Fixture = LabCluster;

const VIP: &str = "10.96.0.100";

fn fixture() -> LabCluster {
    let f = LabCluster::new("statustest", "10.96.0.", "mailctl-s0", |text| {
        format!("{text}\nvips:\n  - {{ address: {VIP}/24, hosts: [mbox-1, mbox-2], router_id: 96 }}\n")
    });
    f.up_and_deployed();
    wait_for_vip_on(&f, "mbox-1");
    f
}

/// `mailctl status` with arguments: (exit code, stdout).
fn status(f: &LabCluster, args: &[&str]) -> (i32, String) {
    let out = common::mailctl().arg("status").arg(f.inventory()).args(args).output().unwrap();
    assert!(out.stderr.is_empty() || out.status.code() == Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap())
}

fn status_json(f: &LabCluster, args: &[&str]) -> (i32, Value) {
    let (code, text) = status(f, &[&["--format", "json"], args].concat());
    (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

fn service<'a>(report: &'a Value, host: &str, name: &str) -> &'a Value {
    let h = report["hosts"].as_array().unwrap().iter().find(|h| h["name"] == host).unwrap();
    h["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("{host}/{name}"))
}

fn vip_holders(report: &Value) -> Vec<String> {
    let vip = report["vips"].as_array().unwrap().iter().find(|v| v["address"] == VIP).unwrap();
    vip["holders"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect()
}

/// Polls until the VIP is on `host` alone (keepalived elects within a few adverts).
fn wait_for_vip_on(f: &LabCluster, host: &str) -> Value {
    let mut last = Value::Null;
    let ok = lab::wait_until(Duration::from_secs(20), Duration::from_millis(300), || {
        last = status_json(f, &["--service", "keepalived"]).1;
        vip_holders(&last) == [host]
    });
    assert!(ok, "VIP never settled on {host}: {last:#}");
    last
}

static LAB: common::Shared<Fixture> = common::Shared::new(fixture, common::lab_down);

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s1_healthy_cluster_in_every_format() {
    LAB.run(healthy_cluster_in_every_format);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s2_filters_select_hosts_and_services() {
    LAB.run(filters_select_hosts_and_services);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s3_watch_redraws_until_interrupted() {
    LAB.run(watch_redraws_until_interrupted);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s4_stopped_dovecot_is_reported_alone() {
    LAB.run(stopped_dovecot_is_reported_alone);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s5_vip_follows_keepalived() {
    LAB.run(vip_follows_keepalived);
}

#[test]
#[ignore = "lab tier: needs root and lab hosts; scripts/test.sh runs it"]
fn s6_powered_off_host_is_unreachable_not_fatal() {
    LAB.run(powered_off_host_is_unreachable_not_fatal);
}

fn healthy_cluster_in_every_format(f: &LabCluster) {
    let (code, report) = status_json(f, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["ok"], true);
    assert_eq!(report["summary"]["stopped"], 0);
    // Global options after the subcommand, as README's cron line writes them.
    let out =
        common::mailctl().args(["status", "-i"]).arg(f.inventory()).args(["--format", "nagios"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // zmcontrol: `Host <fqdn>`, a tab-indented padded line per service, reasons under.
    let (code, text) = status(f, &["--format", "zmcontrol"]);
    assert_eq!(code, 0);
    let mut expected = Vec::new();
    let hosts: [(&str, &[&str]); 4] = [
        ("ldap", &["ldap", "dns", "chrony", "sshd"]),
        (
            "mbox-1",
            &["imap", "imaps", "pop3", "pop3s", "lmtp", "doveadm", "managesieve", "keepalived", "chrony", "sshd"],
        ),
        (
            "transport",
            &[
                "smtp",
                "submission",
                "submissions",
                "imap-proxy",
                "imaps-proxy",
                "pop3-proxy",
                "pop3s-proxy",
                "managesieve-proxy",
                "webmail",
                "php-fpm",
                "nginx",
                "https",
                "chrony",
                "sshd",
            ],
        ),
        (
            "mbox-2",
            &["imap", "imaps", "pop3", "pop3s", "lmtp", "doveadm", "managesieve", "keepalived", "chrony", "sshd"],
        ),
    ];
    for (host, services) in hosts {
        expected.push(format!("Host {host}.tgg.net.id"));
        for name in services {
            let s = service(&report, host, name);
            if s["state"] == "skipped" {
                // chrony in a container without CAP_SYS_TIME: skipped by its own condition.
                assert_eq!(*name, "chrony");
                expected.push(format!("\t{name:<24}Skipped"));
                expected.push(format!("\t\t{}", s["detail"].as_str().unwrap()));
                assert!(s["detail"].as_str().unwrap().contains("CAP_SYS_TIME"), "{s}");
            } else {
                expected.push(format!("\t{name:<24}Running"));
            }
        }
    }
    expected.push(format!("VIP {VIP}"));
    expected.push("\theld by mbox-1".into());
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, expected, "\n{text}");

    // Every service with a probe was probed, and the probe says what it saw.
    assert!(service(&report, "ldap", "ldap")["probe"]["detail"].as_str().unwrap().contains("dc=tgg,dc=net,dc=id"));
    assert!(service(&report, "transport", "smtp")["probe"]["detail"].as_str().unwrap().starts_with("220 "));
    assert!(service(&report, "mbox-2", "imap")["probe"]["detail"].as_str().unwrap().contains("IMAP4rev1"));
    assert_eq!(service(&report, "mbox-1", "keepalived")["detail"], format!("holds {VIP}"));
    // TLS where clients meet it, implicit and after STARTTLS: the cluster CA's certificate,
    // verified for the host's name, with its days left.
    let tls_services: [(&str, &[&str]); 3] = [
        ("mbox-1", &["imap", "imaps", "pop3", "pop3s"]),
        ("mbox-2", &["imap", "imaps", "pop3", "pop3s"]),
        (
            "transport",
            &["smtp", "submission", "submissions", "imap-proxy", "imaps-proxy", "pop3-proxy", "pop3s-proxy", "https"],
        ),
    ];
    for (host, names) in tls_services {
        for name in names {
            let tls = &service(&report, host, name)["probe"]["tls"];
            assert_eq!(tls["verified"], true, "{host}/{name}: {tls}");
            assert!(tls["days_left"].as_i64().unwrap() > 800, "{host}/{name}: {tls}");
            assert!(tls["issuer"].as_str().unwrap().contains("cluster CA"), "{host}/{name}: {tls}");
        }
    }
    assert!(
        service(&report, "transport", "smtp")["probe"]["detail"].as_str().unwrap().contains("; STARTTLS ok; TLSv1."),
        "{report:#}"
    );
    assert_eq!(service(&report, "mbox-2", "keepalived")["detail"], format!("standby for {VIP}"));

    // JSON against the schema in the repo, with a real validator.
    let (_, text) = status(f, &["--format", "json"]);
    let schema = common::repo().join("schemas/status.schema.json");
    let (ok, out) = python(common::VALIDATE_JSON, &[schema.to_str().unwrap(), &text]);
    assert!(ok, "{out}");

    // Prometheus text through prometheus_client's parser.
    let (code, text) = status(f, &["--format", "prometheus"]);
    assert_eq!(code, 0);
    let (ok, out) = python(PARSE_PROMETHEUS, &[&text]);
    assert!(ok, "{out}\n{text}");
    assert!(out.contains("mailctl_service_up 38 38"), "{out}");
    assert!(out.contains("mailctl_tls_certificate_verified 17 17"), "{out}");
    assert!(out.contains("mailctl_vip_holders 1 1"), "{out}");

    let (code, text) = status(f, &["--format", "nagios"]);
    assert_eq!(code, 0, "{text}");
    let (running, skipped) = (&report["summary"]["running"], &report["summary"]["skipped"]);
    let head = format!("MAILCTL OK - 4 hosts, {running} services running, {skipped} skipped by design | hosts=4;;;0 ");
    assert!(text.starts_with(&head), "{text}");

    // --output replaces the file whole, for node_exporter's textfile collector.
    let prom = f.dir.path().join("mailctl.prom");
    let (code, printed) = status(f, &["--format", "prometheus", "--output", prom.to_str().unwrap()]);
    assert_eq!((code, printed.as_str()), (0, ""));
    assert!(
        std::fs::read_to_string(&prom).unwrap().contains("mailctl_host_up{cluster=\"statustest\",host=\"ldap\"} 1")
    );
}

/// Prints each family with its sample count and the sum of its values.
const PARSE_PROMETHEUS: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.argv[1]):
    assert fam.type == "gauge", fam
    print(fam.name, len(fam.samples), int(sum(s.value for s in fam.samples)) if "seconds" not in fam.name else "")
"#;

fn filters_select_hosts_and_services(f: &LabCluster) {
    let (code, text) = status(f, &["--format", "zmcontrol", "--host", "mbox-1,transport", "--service", "imap,smtp"]);
    assert_eq!(code, 0);
    assert_eq!(
        text,
        "Host mbox-1.tgg.net.id\n\timap                    Running\nHost transport.tgg.net.id\n\
         \tsmtp                    Running\n"
    );
    let (_, report) = status_json(f, &["--role", "mailbox"]);
    let names: Vec<&str> = report["hosts"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mbox-1", "mbox-2"]);
    assert_eq!(report["summary"]["services"], 14, "only the mailbox role's services: {report:#}");

    let out = common::mailctl().arg("status").arg(f.inventory()).args(["--service", "imapd"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--service imapd: unknown service (known: chrony, ")
            && ["doveadm", "imap", "smtp", "sshd"]
                .iter()
                .all(|s| err.contains(&format!(" {s},")) || err.contains(&format!(" {s})"))),
        "{err}"
    );
    let out = common::mailctl().arg("status").arg(f.inventory()).args(["--host", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A Nagios check that cannot run is UNKNOWN (3), said on stdout.
    let (code, text) = status(f, &["--format", "nagios", "--host", "nope"]);
    assert_eq!(code, 3);
    assert!(text.starts_with("MAILCTL UNKNOWN - --host nope: no such host"), "{text}");
    // Status-only formats are refused elsewhere.
    let out = common::mailctl().args(["validate", "--format", "nagios"]).arg(f.inventory()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn watch_redraws_until_interrupted(f: &LabCluster) {
    use std::io::Read;
    let mut child = common::mailctl()
        .arg("status")
        .arg(f.inventory())
        .args(["--format", "zmcontrol", "--service", "ldap", "--watch", "0.3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once two rounds are out (however slow the machine), then read the rest.
    let round = "Host ldap.tgg.net.id\n\tldap                    Running\n";
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 4096];
    while text.matches(round).count() < 2 && Instant::now() < deadline {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    stdout.read_to_string(&mut text).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "interrupted watch exits with the last round's code");
    let rounds = text.matches(round).count();
    assert!(rounds >= 2, "{rounds} rounds:\n{text}");
}

fn stopped_dovecot_is_reported_alone(f: &LabCluster) {
    let _restore = common::Restore(|| f.ssh_quietly("mbox-2", "systemctl start dovecot"));
    f.ssh("mbox-2", "systemctl stop dovecot");
    let (code, report) = status_json(f, &[]);
    assert_eq!(code, 1, "{report:#}");
    for name in ["imap", "imaps", "pop3", "pop3s", "lmtp", "doveadm", "managesieve"] {
        let s = service(&report, "mbox-2", name);
        assert_eq!(s["state"], "stopped", "{s}");
        // doveadm listens on loopback only: systemd's word is all there is for it.
        if name != "doveadm" {
            assert_eq!(s["probe"]["ok"], false, "{s}");
        }
        assert_eq!(s["unit_state"]["active"], "inactive", "{s}");
    }
    // Nothing else is marked down.
    for h in report["hosts"].as_array().unwrap() {
        for s in h["services"].as_array().unwrap() {
            let dovecot_on_mbox2 = h["name"] == "mbox-2" && s["unit"] == "dovecot";
            assert_eq!(s["state"] == "stopped", dovecot_on_mbox2, "{}/{}: {s}", h["name"], s["name"]);
        }
    }
    assert_eq!(report["summary"]["stopped"], 7);

    let (code, text) = status(f, &["--format", "zmcontrol", "--host", "mbox-2", "--service", "imap"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["Host mbox-2.tgg.net.id", "\timap                    Stopped"], "{text}");
    assert!(lines[2].starts_with("\t\tdovecot.service is inactive (dead) since "), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("\t\timap probe of 10.96.0.5:143 failed: Connection refused")),
        "{text}"
    );

    let (code, text) = status(f, &["--format", "nagios"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.starts_with("MAILCTL CRITICAL - mbox-2: imap, imaps, pop3, pop3s, lmtp, doveadm, managesieve stopped | "),
        "{text}"
    );
    let (code, text) = status(f, &["--format", "prometheus"]);
    assert_eq!(code, 1);
    assert!(
        text.contains(
            "mailctl_probe_success{cluster=\"statustest\",host=\"mbox-2\",service=\"imap\",probe=\"imap\"} 0"
        )
    );
    f.ssh("mbox-2", "systemctl start dovecot");
    assert_eq!(status(f, &[]).0, 0);
}

fn vip_follows_keepalived(f: &LabCluster) {
    // keepalived's check (doveadm service status imap-login) fails on mbox-1: the VIP moves.
    let _restore = common::Restore(|| f.ssh_quietly("mbox-1", "systemctl start dovecot"));
    f.ssh("mbox-1", "systemctl stop dovecot");
    let report = wait_for_vip_on(f, "mbox-2");
    assert_eq!(service(&report, "mbox-2", "keepalived")["detail"], format!("holds {VIP}"));
    f.ssh("mbox-1", "systemctl start dovecot");
    wait_for_vip_on(f, "mbox-1");
}

fn powered_off_host_is_unreachable_not_fatal(f: &LabCluster) {
    let mbox2 = f.cluster.host("mbox-2").unwrap();
    let _restore = common::Restore(|| {
        let _ = lab::up(&f.cluster, &common::lab_packages(), &mut |_| {});
    });
    lab::stop_host(&f.cluster, mbox2).unwrap();
    let started = Instant::now();
    let (code, report) = status_json(f, &["--connect-timeout", "3"]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{report:#}");
    // Bounded by the connect timeout (3 s), plus the process's own start and the others.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let h = report["hosts"].as_array().unwrap().iter().find(|h| h["name"] == "mbox-2").unwrap();
    assert_eq!(h["reachable"], false, "{h}");
    assert!(h["error"].as_str().unwrap().contains("connect"), "{h}");
    assert_eq!(report["summary"]["unreachable"], 1);
    for other in ["ldap", "mbox-1", "transport"] {
        let h = report["hosts"].as_array().unwrap().iter().find(|h| h["name"] == other).unwrap();
        assert_eq!(h["reachable"], true);
        assert!(h["services"].as_array().unwrap().iter().all(|s| s["state"] != "stopped"), "{h}");
    }
    let (code, text) = status(f, &["--format", "zmcontrol", "--connect-timeout", "3"]);
    assert_eq!(code, 1);
    let at = text.find("Host mbox-2.tgg.net.id\n\tUnreachable\n\t\t").unwrap_or_else(|| panic!("{text}"));
    assert!(text[..at].contains("Host ldap.tgg.net.id\n\tldap                    Running\n"), "{text}");
}
