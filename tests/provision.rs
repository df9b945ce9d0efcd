//! `mailctl provision` against a test double of the Proxmox VE API (tests/proxmox/pve_double.py)
//! that checks every request against the real API schema, answers with schema-shaped bodies,
//! runs clone/start/resize as tasks that take time, and injects faults on demand.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine;
use serde_json::{Value, json};

const TOKEN_ID: &str = "mailctl@pve!provision";
const SECRET: &str = "7c1e2a9d-token-secret-8f41";
const HOSTS: [(&str, u32, u32, u32, u32); 6] = [
    // host, vmid, cores, memory MiB, disk GiB (lvlogistics.yaml, defaults from proxmox.default_vm)
    ("gsldap", 180, 2, 4096, 40),
    ("gszimbra1", 181, 4, 8192, 500),
    ("gszimbra2", 182, 4, 8192, 500),
    ("gsmta1", 183, 2, 4096, 40),
    ("gsmta2", 184, 2, 4096, 40),
    ("gszhap", 185, 2, 2048, 40),
];

/// The double, its TLS material, and the lvlogistics inventory pointed at it. `net` is the
/// loopback prefix the VMs' addresses live in ("127.11.138."), one per test so that the
/// sshd stand-ins of parallel tests do not meet.
struct Pve {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    fingerprint: String,
    net: String,
    /// Every stdout/stderr mailctl printed, to prove the token never shows.
    outputs: std::cell::RefCell<Vec<String>>,
}

impl Drop for Pve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pve {
    fn start(net: &str) -> Pve {
        let dir = tempfile::tempdir().unwrap();
        let ca = mailctl::pki::new_ca("pve-test").unwrap();
        let leaf = mailctl::pki::issue(&ca, &["127.0.0.1".to_string()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_cert).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &leaf.cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), &leaf.key).unwrap();
        std::fs::write(dir.path().join("id_admin.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK+/test=key admin@lv\n")
            .unwrap();
        let fingerprint = mailctl::proxmox::tls::fingerprint(&pem_der(&leaf.cert));
        let script = common::repo().join("tests/proxmox/pve_double.py");
        let schema = common::repo().join("tests/proxmox/pve-api-schema.json");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--schema", schema.to_str().unwrap()])
            .args(["--cert", dir.path().join("cert.pem").to_str().unwrap()])
            .args(["--key", dir.path().join("key.pem").to_str().unwrap()])
            .args(["--token-id", TOKEN_ID, "--token-secret", SECRET, "--ssh-port", "2222"])
            .args(["--task-seconds", "0.2", "--lock-wait", "0.5"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the Proxmox double");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = serde_json::from_str::<Value>(&line).expect("the double prints its port")["port"].as_u64().unwrap();
        let pve = Pve { child, port: port as u16, dir, fingerprint, net: net.to_string(), outputs: Default::default() };
        pve.write_inventory("inventory.yaml", |s| s);
        pve
    }

    /// lvlogistics.yaml with the API, certificate pin, addresses, SSH port and key file of
    /// this test; `edit` changes it further.
    fn write_inventory(&self, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let text = std::fs::read_to_string(common::shipped("lvlogistics")).unwrap();
        let fp_line = text.lines().find(|l| l.trim_start().starts_with("fingerprint:")).unwrap();
        let text = text
            .replace("https://pve.lvlogist.com:8006/api2/json", &format!("https://127.0.0.1:{}/api2/json", self.port))
            .replace(fp_line, &format!("  fingerprint: \"{}\"", self.fingerprint))
            .replace("192.168.138.", &self.net)
            .replace("~/.ssh/id_ed25519.pub", self.dir.path().join("id_admin.pub").to_str().unwrap())
            .replace("  identity_file: ~/.ssh/id_ed25519", "  port: 2222");
        let path = self.dir.path().join(name);
        std::fs::write(&path, edit(text)).unwrap();
        path
    }

    fn inventory(&self) -> PathBuf {
        self.dir.path().join("inventory.yaml")
    }

    fn mailctl(&self, args: &[&str]) -> Output {
        let out = common::mailctl().args(args).env("PVE_TOKEN_SECRET", SECRET).stdin(Stdio::null()).output().unwrap();
        self.outputs.borrow_mut().push(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    }

    /// `mailctl provision INVENTORY --format json ARGS`: (exit code, report).
    fn provision(&self, inventory: &Path, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["provision", inventory.to_str().unwrap(), "--format", "json"];
        all.extend_from_slice(args);
        let out = self.mailctl(&all);
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!("no JSON report: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code().unwrap(), report)
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("https://127.0.0.1:{}/_double/{path}", self.port);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
            let request = match body {
                Some(b) => client.request(method.parse().unwrap(), &url).json(&b),
                None => client.request(method.parse().unwrap(), &url),
            };
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer["data"].clone()
        })
    }

    fn vms(&self) -> Vec<Value> {
        let state = self.control("GET", "state", None);
        state.as_object().unwrap().values().filter(|v| v["template"] == false && v["vmid"] != 100).cloned().collect()
    }

    fn vm(&self, name: &str) -> Value {
        let vms = self.vms();
        let named: Vec<&Value> = vms.iter().filter(|v| v["name"] == name).collect();
        assert_eq!(named.len(), 1, "exactly one VM named {name}: {vms:#?}");
        named[0].clone()
    }

    fn requests(&self) -> Vec<Value> {
        self.control("GET", "log", None)["requests"].as_array().unwrap().clone()
    }

    fn writes_since(&self, n: usize) -> Vec<String> {
        self.requests()[n..]
            .iter()
            .filter(|r| r["method"] != "GET")
            .map(|r| format!("{} {}", r["method"], r["path"]))
            .collect()
    }

    /// The double saw no request (and gave no answer) that breaks the API schema.
    fn assert_no_violations(&self) {
        let log = self.control("GET", "log", None);
        assert_eq!(log["violations"], json!([]), "requests or answers outside the Proxmox API schema");
    }

    fn assert_token_never_printed(&self) {
        for out in self.outputs.borrow().iter() {
            assert!(!out.contains(SECRET), "the token secret was printed:\n{out}");
        }
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"].as_array().unwrap().iter().find(|h| h["host"] == name).unwrap()
}

fn actions(report: &Value) -> Vec<String> {
    report["hosts"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap().to_string()).collect()
}

#[test]
fn provisions_the_lvlogistics_vms_once_and_reports_them() {
    let pve = Pve::start("127.11.138.");
    let inv = pve.inventory();

    // --check: six to create, and not one write.
    let (code, report) = pve.provision(&inv, &["--check"]);
    assert_eq!(code, 0);
    assert_eq!(actions(&report), vec!["would_create"; 6]);
    assert_eq!(pve.writes_since(0), Vec::<String>::new());

    // The real run, at the highest verbosity.
    let (code, report) = pve.provision(&inv, &["-vvv"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), vec!["created"; 6]);
    let key = std::fs::read_to_string(pve.dir.path().join("id_admin.pub")).unwrap();
    for (name, vmid, cores, memory, disk) in HOSTS {
        let vm = pve.vm(name);
        let c = &vm["config"];
        let last = 80 + vmid - 180;
        assert_eq!(vm["vmid"], vmid, "{name}");
        assert_eq!(vm["status"], "running", "{name}");
        assert_eq!(c["cores"], cores, "{name}");
        assert_eq!(c["memory"], memory.to_string(), "{name}");
        assert_eq!(c["scsi0"], format!("local-lvm:vm-{vmid}-disk-0,size={disk}G"), "{name}: full clone on local-lvm");
        assert_eq!(c["ipconfig0"], format!("ip={}{last}/24,gw={}1", pve.net, pve.net), "{name}");
        assert_eq!(c["nameserver"], format!("{}80", pve.net));
        assert_eq!(c["searchdomain"], "lvlogist.com");
        assert_eq!(c["ciuser"], "root");
        assert_eq!(c["tags"], "mail;lvlogistics");
        assert_eq!(c["onboot"], 1);
        assert!(c["net0"].as_str().unwrap().ends_with("bridge=vmbr0"));
        assert_eq!(c["description"], format!("mailctl: provisioned (cluster lvlogistics, host {name})"));
        // Stored percent-encoded with %20, and decoding gives the key file back.
        let stored = c["sshkeys"].as_str().unwrap();
        assert!(stored.starts_with("ssh-ed25519%20AAAA") && stored.contains("%2B%2Ftest%3Dkey"), "{stored}");
        assert_eq!(urlencoding::decode(stored).unwrap(), key.trim());
    }
    let clones: Vec<Value> = pve
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/clone"))
        .collect();
    assert_eq!(clones.len(), 6);
    for c in &clones {
        assert_eq!(c["path"], "/nodes/pve/qemu/9000/clone");
        assert_eq!(c["params"]["full"], "1");
        assert_eq!(c["params"]["storage"], "local-lvm");
    }

    // Clones on one node ran one at a time (each clone task ended before the next began).
    let tasks = pve.control("GET", "tasks", None);
    let mut clones: Vec<(f64, f64)> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "qmclone")
        .map(|t| (t["started"].as_f64().unwrap(), t["endtime"].as_f64().unwrap()))
        .collect();
    clones.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(clones.len(), 6);
    assert!(clones.windows(2).all(|w| w[0].1 <= w[1].0), "clone tasks overlapped: {clones:?}");

    // Again: nothing to create, nothing written.
    let before = pve.requests().len();
    let (code, report) = pve.provision(&inv, &[]);
    assert_eq!(code, 0);
    assert_eq!(actions(&report), vec!["unchanged"; 6]);
    assert_eq!(pve.writes_since(before), Vec::<String>::new());

    // An inventory that asks for more is reported, and the VM is left alone.
    let bigger = pve.write_inventory("bigger.yaml", |s| s.replace("vm: { vmid: 183 }", "vm: { vmid: 183, cores: 8 }"));
    let before = pve.requests().len();
    let (code, report) = pve.provision(&bigger, &[]);
    assert_eq!(code, 0);
    let mta1 = host(&report, "gsmta1");
    assert_eq!(mta1["action"], "differs");
    assert_eq!(mta1["differences"], json!([{"field": "cores", "inventory": "8", "proxmox": "2"}]));
    assert_eq!(pve.writes_since(before), Vec::<String>::new());
    let text = pve.mailctl(&["provision", bigger.to_str().unwrap(), "--check"]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("cores: inventory 8, Proxmox 2"), "{text}");

    // status shows each VM's state; a VM stopped behind our back shows as stopped.
    pve.control("POST", "vm", Some(json!({"vmid": 183, "status": "stopped"})));
    let out = pve.mailctl(&["status", inv.to_str().unwrap(), "--format", "json", "--connect-timeout", "2"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    for h in status["hosts"].as_array().unwrap() {
        let want = if h["name"] == "gsmta1" { "stopped" } else { "running" };
        assert_eq!(h["vm"]["status"], want, "{h:#}");
        assert_eq!(h["vm"]["node"], "pve");
    }
    assert_eq!(status["summary"]["vms"], 6);
    assert_eq!(status["summary"]["vms_down"], 1);
    let schema = common::repo().join("schemas/status.schema.json");
    let (valid, why) = common::python(common::VALIDATE_JSON, &[schema.to_str().unwrap(), &status.to_string()]);
    assert!(valid, "{why}");
    let one = ["--host", "gsmta1", "--connect-timeout", "2"];
    let out = pve.mailctl(&[&["status", inv.to_str().unwrap(), "--format", "zmcontrol"][..], &one].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\tvm                      Stopped\n\t\tVM 183 on pve: stopped\n"), "{text}");
    let out = pve.mailctl(&[&["status", inv.to_str().unwrap(), "--format", "nagios"][..], &one].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.starts_with("MAILCTL CRITICAL - gsmta1 VM stopped;") && text.contains("vms_down=1;"), "{text}");
    let out = pve.mailctl(&[&["status", inv.to_str().unwrap(), "--format", "prometheus"][..], &one].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mailctl_vm_running{cluster=\"lvlogistics\",host=\"gsmta1\",vmid=\"183\",node=\"pve\"} 0"),
        "{text}"
    );

    // Destroy: refused without a terminal or --yes, done with --yes, then nothing to do.
    let out = pve.mailctl(&["provision", inv.to_str().unwrap(), "--destroy", "gsmta2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    pve.vm("gsmta2");
    let (code, report) = pve.provision(&inv, &["--destroy", "gsmta2", "--yes"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), vec!["destroyed"]);
    assert!(pve.vms().iter().all(|v| v["name"] != "gsmta2"));
    let deletes: Vec<Value> = pve.requests().into_iter().filter(|r| r["method"] == "DELETE").collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["path"], "/nodes/pve/qemu/184");
    assert_eq!(deletes[0]["params"]["purge"], "1");
    let (code, report) = pve.provision(&inv, &["--destroy", "gsmta2", "--yes"]);
    assert_eq!((code, actions(&report)), (0, vec!["absent".to_string()]));

    pve.assert_no_violations();
    pve.assert_token_never_printed();
}

#[test]
fn faults_end_in_success_or_a_clear_error_never_a_duplicate() {
    let pve = Pve::start("127.12.138.");
    let inv = pve.inventory();

    // Lock timeouts on the template, a 500 on a config write, on the listing and on a start.
    pve.control(
        "POST",
        "faults",
        Some(json!({"clone_lock_timeout": 2, "http_500": [
            {"method": "POST", "path": "/config$", "count": 1},
            {"method": "GET", "path": "^/cluster/resources$", "count": 1},
            {"method": "POST", "path": "/status/start$", "count": 1}]})),
    );
    let (code, report) = pve.provision(&inv, &["-vv"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(actions(&report), vec!["created"; 6]);
    assert_eq!(pve.vms().len(), 6);
    for (name, ..) in HOSTS {
        assert_eq!(pve.vm(name)["status"], "running");
    }
    let clones = pve.requests().iter().filter(|r| r["path"].as_str().unwrap().ends_with("/clone")).count();
    assert_eq!(clones, 8, "6 clones and the 2 that met the lock");

    // A clone task that fails: a clear error naming the host, the step and Proxmox's words;
    // the other hosts carry on; the next run creates the missing VM, once.
    let pve = Pve::start("127.13.138.");
    let inv = pve.inventory();
    pve.control("POST", "faults", Some(json!({"clone_task_error": 1})));
    let (code, report) = pve.provision(&inv, &[]);
    assert_eq!(code, 1);
    let failed: Vec<&Value> = report["hosts"].as_array().unwrap().iter().filter(|h| h["action"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["failed"]["step"], "clone the template");
    let message = failed[0]["failed"]["message"].as_str().unwrap();
    assert!(message.contains("insufficient free space") && message.contains("task"), "{message}");
    let victim = failed[0]["host"].as_str().unwrap().to_string();
    assert!(pve.vms().iter().all(|v| v["name"] != victim.as_str()));
    let out = pve.mailctl(&["provision", inv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(pve.vms().len(), 6);
    pve.vm(&victim);
    pve.assert_no_violations();

    // Unpinned vmids while another client takes the ids we are given (nextid is not a
    // reservation): the clone that meets "already exists" moves to the next free id.
    let pve = Pve::start("127.14.138.");
    let unpinned = pve.write_inventory("unpinned.yaml", |s| regex_lite_strip_vmids(&s));
    pve.control("POST", "faults", Some(json!({"nextid_race": 2})));
    let (code, report) = pve.provision(&unpinned, &[]);
    assert_eq!(code, 0, "{report:#}");
    let ours: Vec<u64> = report["hosts"].as_array().unwrap().iter().map(|h| h["vmid"].as_u64().unwrap()).collect();
    let state = pve.control("GET", "state", None);
    for vmid in &ours {
        let vm = &state[vmid.to_string()];
        assert!(!vm["name"].as_str().unwrap().starts_with("other-client"), "{vmid} was the other client's");
    }
    let mut unique = ours.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6, "{ours:?}");
    assert!(!ours.contains(&100) && !ours.contains(&9000));
    let collided =
        pve.requests().iter().filter(|r| r["path"].as_str().unwrap().ends_with("/clone") && r["status"] == 500).count();
    assert_eq!(collided, 1, "one clone met the other client's VM");
    assert_eq!(pve.vms().iter().filter(|v| !v["name"].as_str().unwrap().starts_with("other-client")).count(), 6);
    for (name, ..) in HOSTS {
        pve.vm(name);
    }
    pve.assert_no_violations();
    pve.assert_token_never_printed();
}

/// Drops `vmid: N, ` from the hosts' vm blocks.
fn regex_lite_strip_vmids(text: &str) -> String {
    let mut out = text.to_string();
    for (_, vmid, ..) in HOSTS {
        out = out.replace(&format!("vmid: {vmid}, "), "").replace(&format!("vmid: {vmid} "), "");
    }
    out.replace("vm: { }", "vm: {}")
}

#[test]
fn trust_and_token_errors_are_clear_and_send_nothing() {
    let pve = Pve::start("127.15.138.");

    // A different certificate than the pinned one: refused before any request is sent.
    let wrong = pve.write_inventory("wrong-pin.yaml", |s| {
        let line = s.lines().find(|l| l.trim_start().starts_with("fingerprint:")).unwrap().to_string();
        s.replace(&line, &format!("  fingerprint: \"{}\"", ["AB"; 32].join(":")))
    });
    let out = pve.mailctl(&["provision", wrong.to_str().unwrap(), "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not the pinned AB:AB") && err.contains(&pve.fingerprint), "{err}");
    assert_eq!(pve.requests().len(), 0);

    // The cluster's CA instead of a pin.
    let with_ca = pve.write_inventory("ca.yaml", |s| {
        let line = s.lines().find(|l| l.trim_start().starts_with("fingerprint:")).unwrap().to_string();
        s.replace(&line, &format!("  ca_file: {}", pve.dir.path().join("ca.pem").display()))
    });
    let (code, report) = pve.provision(&with_ca, &["--check"]);
    assert_eq!((code, actions(&report)), (0, vec!["would_create".to_string(); 6]));

    // No pin and no CA: the system roots do not know this CA.
    let unpinned = pve.write_inventory("nopin.yaml", |s| {
        let line = s.lines().find(|l| l.trim_start().starts_with("fingerprint:")).unwrap().to_string();
        s.replace(&line, "")
    });
    let out = pve.mailctl(&["provision", unpinned.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("certificate"));
    // ... unless the user asks for it by name.
    let out = pve.mailctl(&["provision", unpinned.to_str().unwrap(), "--check", "--insecure-accept-invalid-certs"]);
    assert_eq!(out.status.code(), Some(0));

    // A wrong token: Proxmox's 401 and a hint, and neither secret printed.
    let out = common::mailctl()
        .args(["provision", pve.inventory().to_str().unwrap(), "--check", "-vv"])
        .env("PVE_TOKEN_SECRET", "wrong-secret-0123")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("401") && err.contains("authentication failure") && err.contains("token_secret"), "{err}");
    assert!(!err.contains("wrong-secret-0123") && !String::from_utf8_lossy(&out.stdout).contains("wrong-secret-0123"));

    // No secret in the environment: a usage error naming the reference.
    let out = common::mailctl()
        .args(["provision", pve.inventory().to_str().unwrap()])
        .env_remove("PVE_TOKEN_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PVE_TOKEN_SECRET"));

    pve.assert_no_violations();
    pve.assert_token_never_printed();
}

#[test]
fn an_interrupted_run_is_finished_by_the_next_and_linked_clones_send_no_storage() {
    let pve = Pve::start("127.16.138.");
    // The VM's sshd never answers on the port this inventory expects: the run fails while
    // waiting for SSH, with the VM cloned and started but not marked done.
    let wrong_port = pve.write_inventory("port.yaml", |s| s.replace("  port: 2222", "  port: 2223"));
    let (code, report) = pve.provision(&wrong_port, &["--limit", "gsmta1", "--ssh-wait", "2"]);
    assert_eq!(code, 1);
    let failed = &host(&report, "gsmta1")["failed"];
    assert_eq!(failed["step"], "wait for SSH");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains(&format!("no SSH on {}83:2223 after 2 s", pve.net)), "{message}");
    assert!(pve.vm("gsmta1")["config"]["description"].as_str().unwrap().starts_with("mailctl: provisioning"));

    // --check says it would finish it; the next run does, without a second clone.
    let (_, report) = pve.provision(&pve.inventory(), &["--check", "--limit", "gsmta1"]);
    assert_eq!(actions(&report), vec!["would_resume"]);
    let (code, report) = pve.provision(&pve.inventory(), &["--limit", "gsmta1"]);
    assert_eq!((code, actions(&report)), (0, vec!["resumed".to_string()]));
    assert_eq!(pve.vm("gsmta1")["config"]["description"], "mailctl: provisioned (cluster lvlogistics, host gsmta1)");
    let clones = pve.requests().iter().filter(|r| r["path"].as_str().unwrap().ends_with("/clone")).count();
    assert_eq!(clones, 1);

    // Linked clones: `full=0` and no target storage (Proxmox refuses one).
    let linked = pve.write_inventory("linked.yaml", |s| s.replace("full_clone: true", "full_clone: false"));
    let (code, report) = pve.provision(&linked, &["--limit", "gsmta2"]);
    assert_eq!(code, 0, "{report:#}");
    let clone = pve.requests().into_iter().rfind(|r| r["path"].as_str().unwrap().ends_with("/clone")).unwrap();
    assert_eq!(clone["params"]["full"], "0");
    assert!(clone["params"].get("storage").is_none());
    pve.assert_no_violations();
    pve.assert_token_never_printed();
}
