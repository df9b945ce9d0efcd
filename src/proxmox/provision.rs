//! Provisioning: find each host's VM, clone the missing ones from the template, configure
//! cloud-init, grow the disk, start, and wait for SSH. Also tearing one down.
//!
//! Safety rules: a VM is identified by its name (the host's name) and, when pinned, its vmid;
//! an existing VM is never changed unless its notes say mailctl's own clone of it was
//! interrupted; a clone is only retried after looking whether the last attempt landed; clones
//! on one node run one at a time.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use super::client::{ApiError, Client, Retry};
use super::spec::{self, Difference, VmSpec};
use crate::observe::Observer;

/// A VM as `/cluster/resources?type=vm` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub status: String,
    pub template: bool,
    pub lock: Option<String>,
}

pub async fn resources(client: &Client) -> Result<Vec<Resource>, ApiError> {
    let data = client.get("/cluster/resources", &[("type", "vm".into())]).await?;
    let items = data.as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .filter(|r| r["type"] == "qemu")
        .filter_map(|r| {
            Some(Resource {
                vmid: u32::try_from(r["vmid"].as_u64()?).ok()?,
                name: r["name"].as_str().unwrap_or("").to_string(),
                node: r["node"].as_str().unwrap_or("").to_string(),
                status: r["status"].as_str().unwrap_or("unknown").to_string(),
                template: r["template"].as_u64() == Some(1) || r["template"] == true,
                lock: r["lock"].as_str().map(String::from),
            })
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    pub check: bool,
    pub cluster: String,
    pub template_vmid: u32,
    pub full_clone: bool,
    pub storage: Option<String>,
    /// How long one task (clone, start, ...) may run.
    pub task_timeout: Duration,
    /// How long to wait for SSH to answer after start; `None` skips the wait.
    pub ssh_wait: Option<Duration>,
    pub forks: usize,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Cloned, configured and started now.
    Created,
    /// mailctl's own clone, left half-configured by an earlier run, finished now.
    Resumed,
    /// Exists and matches the inventory.
    Unchanged,
    /// Exists but differs from the inventory; left alone.
    Differs,
    WouldCreate,
    WouldResume,
    Failed,
    Destroyed,
    Absent,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmReport {
    pub host: String,
    pub vmid: Option<u32>,
    pub node: String,
    pub action: Action,
    pub differences: Vec<Difference>,
    pub failed: Option<Failure>,
    pub seconds: f64,
}

impl VmReport {
    fn new(spec: &VmSpec, action: Action) -> VmReport {
        VmReport {
            host: spec.host.clone(),
            vmid: spec.vmid,
            node: spec.node.clone(),
            action,
            differences: Vec::new(),
            failed: None,
            seconds: 0.0,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProvisionReport {
    pub check: bool,
    pub hosts: Vec<VmReport>,
    pub seconds: f64,
}

impl ProvisionReport {
    pub fn ok(&self) -> bool {
        self.hosts.iter().all(|h| h.failed.is_none())
    }

    pub fn count(&self, action: Action) -> usize {
        self.hosts.iter().filter(|h| h.action == action).count()
    }
}

/// Where a host's VM stands before anything is done.
enum Found {
    Missing,
    Exists(Resource),
    Conflict(String),
}

/// `/nodes/{node}/qemu/{vmid}`, the node name percent-encoded (it comes from the API too).
fn vm_path(node: &str, vmid: u32) -> String {
    format!("/nodes/{}/qemu/{vmid}", urlencoding::encode(node))
}

/// Proxmox's largest vmid, and how many ids past `nextid` we try before giving up.
const MAX_VMID: u32 = 999_999_999;
const MAX_VMID_PROBES: u32 = 1000;

fn locate(spec: &VmSpec, all: &[Resource]) -> Found {
    let named: Vec<&Resource> = all.iter().filter(|r| r.name == spec.name && !r.template).collect();
    match (named.as_slice(), spec.vmid) {
        ([one], Some(pinned)) if one.vmid != pinned => Found::Conflict(format!(
            "VM `{}` is vmid {} on {}, but the inventory pins vmid {pinned}: it is not this host's VM, or the pin is wrong",
            one.name, one.vmid, one.node
        )),
        ([one], _) => Found::Exists((*one).clone()),
        ([], Some(pinned)) => match all.iter().find(|r| r.vmid == pinned) {
            Some(other) => Found::Conflict(format!(
                "vmid {pinned} belongs to VM `{}` on {}, not `{}`: give the host another vmid in the inventory, or \
                 rename the VM if it is this host's",
                other.name, other.node, spec.name
            )),
            None => Found::Missing,
        },
        ([], None) => Found::Missing,
        (many, _) => Found::Conflict(format!(
            "{} VMs are named `{}` (vmids {}): remove the extra ones or pin `vm.vmid` in the inventory",
            many.len(),
            spec.name,
            many.iter().map(|r| r.vmid.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

pub struct Provisioner<'a> {
    client: &'a Client,
    opts: &'a ProvisionOptions,
    progress: &'a dyn Observer,
    /// vmids the inventory pins: an unpinned host never takes one of them.
    reserved: BTreeSet<u32>,
    /// One clone at a time per node: parallel clones there fail on the template's lock.
    clone_locks: HashMap<String, Mutex<()>>,
}

impl<'a> Provisioner<'a> {
    pub fn new(client: &'a Client, specs: &[VmSpec], opts: &'a ProvisionOptions, progress: &'a dyn Observer) -> Self {
        Provisioner {
            client,
            opts,
            progress,
            reserved: specs.iter().filter_map(|s| s.vmid).collect(),
            clone_locks: specs.iter().map(|s| (s.node.clone(), Mutex::new(()))).collect(),
        }
    }

    /// Every host's VM, hosts in parallel (`forks`); one host's failure stops only itself.
    pub async fn provision(&self, specs: &[VmSpec]) -> Result<ProvisionReport, ApiError> {
        let started = Instant::now();
        let all = resources(self.client).await?;
        self.check_templates(&all, specs)?;
        let hosts = crate::remote::fanout::fan_out(specs.iter(), self.opts.forks, |spec| {
            let found = locate(spec, &all);
            async move { self.one(spec, found).await }
        })
        .await;
        Ok(ProvisionReport { check: self.opts.check, hosts, seconds: started.elapsed().as_secs_f64() })
    }

    /// Every template a host would be cloned from exists (one per release the hosts run).
    fn check_templates(&self, all: &[Resource], specs: &[VmSpec]) -> Result<(), ApiError> {
        let mut wanted: Vec<u32> = specs.iter().map(|s| s.template_vmid).collect();
        wanted.push(self.opts.template_vmid);
        wanted.sort_unstable();
        wanted.dedup();
        match wanted.into_iter().find(|t| !all.iter().any(|r| r.vmid == *t)) {
            None => Ok(()),
            Some(missing) => Err(ApiError::Setup(format!(
                "template VM {missing} does not exist in the cluster: set proxmox.template_vmid (and \
                 proxmox.templates per release) to your cloud-init templates"
            ))),
        }
    }

    async fn one(&self, spec: &VmSpec, found: Found) -> VmReport {
        let started = Instant::now();
        let mut report = VmReport::new(spec, Action::Unchanged);
        let result = match found {
            Found::Conflict(message) => Err(Failure { step: "find the VM".into(), message }),
            Found::Missing if self.opts.check => {
                report.action = Action::WouldCreate;
                Ok(())
            }
            Found::Missing => self.create(spec, &mut report).await,
            Found::Exists(vm) => self.existing(spec, vm, &mut report).await,
        };
        if let Err(failure) = result {
            self.progress.finish(&spec.host, &format!("FAILED at {}", failure.step));
            report.action = Action::Failed;
            report.failed = Some(failure);
        } else {
            self.progress.finish(&spec.host, &format!("{:?}", report.action).to_lowercase());
        }
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    async fn existing(&self, spec: &VmSpec, vm: Resource, report: &mut VmReport) -> Result<(), Failure> {
        report.vmid = Some(vm.vmid);
        report.node = vm.node.clone();
        let config = self.config(&vm.node, vm.vmid).await.map_err(step("read the VM's config"))?;
        if spec::is_in_progress(&config) {
            // Only our own interrupted run is resumed, never another cluster's of the same name.
            if !spec::is_ours(&config, &self.opts.cluster, &spec.host) {
                return Err(self.not_ours(spec, &vm, &config, "not touched"));
            }
            if self.opts.check {
                report.action = Action::WouldResume;
                return Ok(());
            }
            self.finish_vm(spec, &vm.node, vm.vmid).await?;
            report.action = Action::Resumed;
            return Ok(());
        }
        report.differences = spec.differences(vm.vmid, &config, &vm.status);
        report.action = if report.differences.is_empty() { Action::Unchanged } else { Action::Differs };
        Ok(())
    }

    async fn create(&self, spec: &VmSpec, report: &mut VmReport) -> Result<(), Failure> {
        let vmid = {
            let _one_clone_per_node = self.clone_locks[&spec.node].lock().await;
            self.clone(spec).await?
        };
        report.vmid = Some(vmid);
        self.finish_vm(spec, &spec.node, vmid).await?;
        report.action = Action::Created;
        Ok(())
    }

    /// Configure, grow the disk, start, wait for SSH, then mark the VM done.
    async fn finish_vm(&self, spec: &VmSpec, node: &str, vmid: u32) -> Result<(), Failure> {
        let base = vm_path(node, vmid);
        let timeout = self.opts.task_timeout;
        self.progress.step(&spec.host, &format!("configuring VM {vmid}"));
        let current = self.config(node, vmid).await.map_err(step("read the clone's config"))?;
        let params = spec.config_params(&current);
        self.client
            .call_and_wait(Method::POST, node, &format!("{base}/config"), &params, Retry::Idempotent, timeout)
            .await
            .map_err(step("configure cloud-init, cores and memory"))?;
        if let Some((disk, size)) = spec::boot_disk(&current)
            && size < spec.disk_gb as f64
        {
            self.progress.step(&spec.host, &format!("growing {disk} to {} GiB", spec.disk_gb));
            let params = [("disk", disk), ("size", format!("{}G", spec.disk_gb))];
            self.client
                .call_and_wait(Method::PUT, node, &format!("{base}/resize"), &params, Retry::Idempotent, timeout)
                .await
                .map_err(step("resize the disk"))?;
        }
        self.progress.step(&spec.host, &format!("starting VM {vmid}"));
        self.start(node, vmid).await.map_err(step("start the VM"))?;
        if let Some(wait) = self.opts.ssh_wait {
            self.progress.step(&spec.host, &format!("waiting for SSH on {}:{}", spec.address, spec.ssh_port));
            wait_for_ssh(spec.address, spec.ssh_port, wait)
                .await
                .map_err(|message| Failure { step: "wait for SSH".into(), message })?;
        }
        // The synchronous PUT: a note needs no task.
        let done = [("description", spec::marker_done(&self.opts.cluster, &spec.host))];
        self.client
            .call_and_wait(Method::PUT, node, &format!("{base}/config"), &done, Retry::Idempotent, timeout)
            .await
            .map_err(step("mark the VM provisioned"))
    }

    /// Clones the template into a new VM and gives its vmid. Before any retry it looks
    /// whether the last attempt created the VM after all, so a lost answer never makes two.
    async fn clone(&self, spec: &VmSpec) -> Result<u32, Failure> {
        let fail = step("clone the template");
        let mut pause = Duration::from_millis(500);
        let attempts = 6;
        for attempt in 1..=attempts {
            let vmid = match spec.vmid {
                Some(v) => v,
                None => self.free_vmid().await.map_err(step("allocate a vmid"))?,
            };
            self.progress.step(&spec.host, &format!("cloning {} into VM {vmid}", spec.template_vmid));
            let error = match self.clone_once(spec, vmid).await {
                Ok(()) => return Ok(vmid),
                Err(e) => e,
            };
            let last = attempt == attempts;
            // A task that ran and failed for its own reason (not a lock) is final.
            if (matches!(error, ApiError::Task { .. }) && !error.is_lock_timeout()) || last {
                return Err(fail(error));
            }
            let now = resources(self.client).await.map_err(step("look for the clone after an error"))?;
            if let Some(landed) = now.iter().find(|r| r.name == spec.name && !r.template) {
                tracing::info!("{}: the clone landed as VM {} despite: {error}", spec.host, landed.vmid);
                self.wait_unlocked(&landed.node, landed.vmid).await.map_err(step("wait for the clone"))?;
                return Ok(landed.vmid);
            }
            let taken = now.iter().any(|r| r.vmid == vmid);
            if taken && spec.vmid.is_none() {
                // Someone else took the id between nextid and our clone: ask again.
                tracing::info!("{}: vmid {vmid} was taken meanwhile; allocating another", spec.host);
                continue;
            }
            if taken || !error.is_retryable() {
                return Err(fail(error));
            }
            tracing::info!("{}: {error}; clone attempt {} in {:?}", spec.host, attempt + 1, pause);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(8));
        }
        unreachable!("the last attempt returns")
    }

    async fn clone_once(&self, spec: &VmSpec, vmid: u32) -> Result<(), ApiError> {
        let template = spec.template_vmid;
        let mut params = vec![
            ("newid", vmid.to_string()),
            ("name", spec.name.clone()),
            ("full", if self.opts.full_clone { "1" } else { "0" }.to_string()),
            ("description", spec::marker_in_progress(&self.opts.cluster, &spec.host)),
        ];
        if let (true, Some(storage)) = (self.opts.full_clone, &self.opts.storage) {
            params.push(("storage", storage.clone()));
        }
        let path = format!("{}/clone", vm_path(&spec.node, template));
        self.client.call_and_wait(Method::POST, &spec.node, &path, &params, Retry::Once, self.opts.task_timeout).await
    }

    /// The next free vmid that the inventory does not reserve for another host. `nextid` is
    /// not a reservation; the clone's own "already exists" is the final word.
    async fn free_vmid(&self) -> Result<u32, ApiError> {
        let next = self.client.get("/cluster/nextid", &[]).await?;
        let first: u32 = match &next {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
        .ok_or_else(|| ApiError::Shape {
            method: Method::GET,
            path: "/cluster/nextid".into(),
            message: format!("not a vmid: {next}"),
        })?;
        // Bounded: a cluster with a thousand taken ids in a row is a misreading, not a search.
        let last = first.saturating_add(MAX_VMID_PROBES).min(MAX_VMID);
        for candidate in first..=last {
            if !self.reserved.contains(&candidate) {
                // Asserts the id is free now (400 when taken).
                match self.client.get("/cluster/nextid", &[("vmid", candidate.to_string())]).await {
                    Ok(_) => return Ok(candidate),
                    Err(e) if e.is_status(400) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Err(ApiError::Setup(format!(
            "no free vmid found in {MAX_VMID_PROBES} tries from the one /cluster/nextid gave: pin `vm.vmid` for each host"
        )))
    }

    /// A VM of the host's name that lacks this cluster's and host's marker in its notes.
    fn not_ours(&self, spec: &VmSpec, vm: &Resource, config: &Value, advice: &str) -> Failure {
        Failure {
            step: "find the VM".into(),
            message: format!(
                "VM {} is named `{}` but mailctl did not make it for host {} of cluster {} ({}): {advice}",
                vm.vmid,
                spec.name,
                spec.host,
                self.opts.cluster,
                spec::description(config)
            ),
        }
    }

    async fn config(&self, node: &str, vmid: u32) -> Result<Value, ApiError> {
        self.client.get(&format!("{}/config", vm_path(node, vmid)), &[]).await
    }

    async fn status(&self, node: &str, vmid: u32) -> Result<Value, ApiError> {
        self.client.get(&format!("{}/status/current", vm_path(node, vmid)), &[]).await
    }

    async fn wait_unlocked(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        let deadline = Instant::now() + self.opts.task_timeout;
        while self.status(node, vmid).await?["lock"].is_string() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    /// Starts the VM unless it runs; a start that errs is checked against the VM's state.
    async fn start(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        let path = format!("{}/status/start", vm_path(node, vmid));
        let mut pause = Duration::from_millis(500);
        for attempt in 1..=5 {
            if self.status(node, vmid).await?["status"] == "running" {
                return Ok(());
            }
            match self.client.call_and_wait(Method::POST, node, &path, &[], Retry::Once, self.opts.task_timeout).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < 5 => {
                    tracing::info!("VM {vmid}: {e}; start attempt {} in {pause:?}", attempt + 1);
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Stops and destroys a host's VM with its disks. Refuses a template, and a VM whose name
    /// is not the host's.
    /// Destroys the hosts' VMs one after the other.
    pub async fn destroy_all(&self, specs: &[VmSpec]) -> ProvisionReport {
        let started = Instant::now();
        let mut hosts = Vec::new();
        for s in specs {
            hosts.push(self.destroy(s).await);
        }
        ProvisionReport { check: false, hosts, seconds: started.elapsed().as_secs_f64() }
    }

    pub async fn destroy(&self, spec: &VmSpec) -> VmReport {
        let started = Instant::now();
        let mut report = VmReport::new(spec, Action::Destroyed);
        if let Err(failure) = self.destroy_inner(spec, &mut report).await {
            report.action = Action::Failed;
            report.failed = Some(failure);
        }
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    async fn destroy_inner(&self, spec: &VmSpec, report: &mut VmReport) -> Result<(), Failure> {
        let all = resources(self.client).await.map_err(step("list the VMs"))?;
        let vm = match locate(spec, &all) {
            Found::Missing => {
                report.action = Action::Absent;
                return Ok(());
            }
            Found::Conflict(message) => return Err(Failure { step: "find the VM".into(), message }),
            Found::Exists(vm) => vm,
        };
        report.vmid = Some(vm.vmid);
        report.node = vm.node.clone();
        let config = self.config(&vm.node, vm.vmid).await.map_err(step("read the VM's config"))?;
        if !spec::is_ours(&config, &self.opts.cluster, &spec.host) {
            return Err(self.not_ours(spec, &vm, &config, "destroy it by hand if it must go"));
        }
        let base = vm_path(&vm.node, vm.vmid);
        let timeout = self.opts.task_timeout;
        if vm.status != "stopped" {
            self.progress.step(&spec.host, &format!("stopping VM {}", vm.vmid));
            self.client
                .call_and_wait(Method::POST, &vm.node, &format!("{base}/status/stop"), &[], Retry::Idempotent, timeout)
                .await
                .map_err(step("stop the VM"))?;
        }
        self.progress.step(&spec.host, &format!("destroying VM {}", vm.vmid));
        let params = [("purge", "1".to_string()), ("destroy-unreferenced-disks", "1".to_string())];
        match self.client.delete(&base, &params).await.map_err(step("destroy the VM"))? {
            Value::String(upid) => {
                self.client.wait_task(&vm.node, &upid, timeout).await.map_err(step("destroy the VM"))
            }
            _ => Ok(()),
        }
    }

    /// The VM a host's spec names, for confirmation prompts.
    pub async fn find(&self, spec: &VmSpec) -> Result<Option<Resource>, String> {
        let all = resources(self.client).await.map_err(|e| e.to_string())?;
        match locate(spec, &all) {
            Found::Missing => Ok(None),
            Found::Exists(vm) => Ok(Some(vm)),
            Found::Conflict(message) => Err(message),
        }
    }
}

fn step(name: &str) -> impl Fn(ApiError) -> Failure + '_ {
    move |e| Failure { step: name.to_string(), message: e.to_string() }
}

/// Waits until something on `address:port` greets like sshd (`SSH-2.0-...`).
pub async fn wait_for_ssh(address: std::net::IpAddr, port: u16, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    loop {
        let last = match ssh_banner(address, port).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "no SSH on {address}:{port} after {} s ({last}); the VM runs: check its console for cloud-init's \
                 network setup",
                wait.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1).min(wait)).await;
    }
}

async fn ssh_banner(address: std::net::IpAddr, port: u16) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((address, port)).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if buf[..n].starts_with(b"SSH-") { Ok(()) } else { Err("the port answers, but not like sshd".to_string()) }
    };
    tokio::time::timeout(Duration::from_secs(3), attempt).await.unwrap_or_else(|_| Err("timed out".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, vmid: Option<u32>) -> VmSpec {
        VmSpec {
            host: name.into(),
            name: name.into(),
            vmid,
            template_vmid: 9000,
            node: "pve".into(),
            cores: 2,
            memory_mb: 2048,
            disk_gb: 20,
            address: "10.0.0.5".parse().unwrap(),
            ssh_port: 22,
            ipconfig0: "ip=10.0.0.5/24".into(),
            nameserver: None,
            searchdomain: "example.com".into(),
            ciuser: "root".into(),
            sshkeys: String::new(),
            tags: vec![],
            bridge: "vmbr0".into(),
        }
    }

    fn vm(vmid: u32, name: &str) -> Resource {
        Resource { vmid, name: name.into(), node: "pve".into(), status: "running".into(), template: false, lock: None }
    }

    #[test]
    fn a_vm_is_found_by_name_and_a_foreign_vmid_is_a_conflict() {
        let all = vec![vm(180, "gsldap"), vm(181, "someone-else"), vm(190, "twin"), vm(191, "twin")];
        assert!(matches!(locate(&spec("gsldap", Some(180)), &all), Found::Exists(r) if r.vmid == 180));
        assert!(matches!(locate(&spec("gsldap", None), &all), Found::Exists(_)));
        assert!(
            matches!(locate(&spec("gszimbra1", Some(181)), &all), Found::Conflict(m) if m.contains("someone-else"))
        );
        assert!(matches!(locate(&spec("gszimbra1", Some(182)), &all), Found::Missing));
        assert!(matches!(locate(&spec("twin", None), &all), Found::Conflict(m) if m.contains("190, 191")));
        // The name matches but the pin does not: another cluster's VM of the same name.
        assert!(matches!(locate(&spec("gsldap", Some(280)), &all), Found::Conflict(m) if m.contains("pins vmid 280")));
    }

    #[test]
    fn only_this_clusters_marker_makes_a_vm_ours() {
        let ours = serde_json::json!({ "description": spec::marker_done("lv", "gsldap") });
        let theirs = serde_json::json!({ "description": spec::marker_in_progress("other", "gsldap") });
        assert!(spec::is_ours(&ours, "lv", "gsldap"));
        assert!(!spec::is_ours(&ours, "lv", "gsmta1"));
        assert!(!spec::is_ours(&theirs, "lv", "gsldap"));
        assert!(!spec::is_ours(&serde_json::json!({}), "lv", "gsldap"));
        assert_eq!(vm_path("pve 1/x", 100), "/nodes/pve%201%2Fx/qemu/100");
    }
}
