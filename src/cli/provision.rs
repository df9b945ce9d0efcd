//! `mailctl provision`: the cluster's VMs on Proxmox VE, created through its API.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::{Cli, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::proxmox::provision::{Action, ProvisionOptions, ProvisionReport, Provisioner};
use crate::proxmox::{self, spec};
use crate::ui::Progress;

/// Create the VMs of the inventory's hosts on Proxmox VE: clone the cloud-init template, set
/// cores, memory, disk, network, SSH keys and tags, start them and wait for SSH. VMs that
/// already exist are left alone; where they differ from the inventory, the difference is shown.
#[derive(clap::Args, Debug)]
#[command(after_help = "With a `proxmox:` section every host of the inventory is a VM, named after the host and \
sized by its `vm:` block or else `proxmox.default_vm`. An existing VM is found by that name (and its pinned vmid) and never changed; a clone that an \
earlier run left half-configured is finished. Unpinned hosts get the next free vmid that no other host pins; clones \
run one at a time per node, and locks, 5xx answers and vmid races are retried without ever cloning twice.\n\n\
The API token comes from proxmox.token_secret (env:/file:) and is never printed. The node's certificate is trusted \
by proxmox.ca_file (the cluster CA, /etc/pve/pve-root-ca.pem) or proxmox.fingerprint (`pvenode cert info`).\n\n\
Exit 0 when every VM exists (created, resumed, unchanged or differing), 1 when one failed, 2 on bad usage.\n\n\
Examples:\n  mailctl provision inventories/lvlogistics.yaml --check\n  \
PVE_TOKEN_SECRET=... mailctl provision inventories/lvlogistics.yaml\n  \
mailctl provision inventories/lvlogistics.yaml --limit gsmta1,gsmta2 --format json\n  \
mailctl provision inventories/lvlogistics.yaml --destroy gsmta2            # asks to confirm\n  \
mailctl provision inventories/lvlogistics.yaml --destroy gsmta2 --yes      # scripts")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Change nothing: show what would be created and how existing VMs differ.
    #[arg(long)]
    pub check: bool,
    /// Only these hosts (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub limit: Vec<String>,
    /// Stop and destroy these hosts' VMs and their disks (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "HOSTS", conflicts_with = "check")]
    pub destroy: Vec<String>,
    /// Do not ask before destroying (for scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds to wait for SSH to answer on a new VM's address (0: do not wait).
    #[arg(long, default_value_t = 600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub ssh_wait: u64,
    /// Seconds one Proxmox task (clone, resize, start) may take.
    #[arg(long, default_value_t = 900, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub task_timeout: u64,
    /// Seconds one API request may take.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub timeout: u64,
    /// How many VMs to work on at once (clones on one node still run one at a time).
    #[arg(long, default_value_t = 10, env = "MAILCTL_FORKS", value_parser = super::forks())]
    pub forks: usize,
    /// Accept any certificate from the API. Only for a first look at a node whose CA or
    /// fingerprint you do not have yet: anyone in between can read the token.
    #[arg(long)]
    pub insecure_accept_invalid_certs: bool,
}

pub fn exec(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let path = &super::inventory_path(cli, &args.inventory);
    let cluster = match super::load_inventory(path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let px = match proxmox::proxmox_of(&cluster) {
        Ok(px) => px,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut specs = match spec::specs(&cluster) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let wanted: &[String] = if args.destroy.is_empty() { &args.limit } else { &args.destroy };
    for name in wanted {
        match cluster.host(name) {
            None => {
                eprintln!("error: {name}: no such host in {}", path.display());
                return Ok(EXIT_USAGE);
            }
            Some(h) if h.vm.is_none() => {
                eprintln!("error: {name} is not a Proxmox VM of this inventory");
                return Ok(EXIT_USAGE);
            }
            Some(_) => {}
        }
    }
    if !wanted.is_empty() {
        specs.retain(|s| wanted.contains(&s.host));
    }
    if specs.is_empty() {
        eprintln!("error: {} names no Proxmox VM", path.display());
        return Ok(EXIT_USAGE);
    }
    if args.insecure_accept_invalid_certs {
        eprintln!("warning: --insecure-accept-invalid-certs: the API's certificate is not checked");
    }
    let _lock = crate::lock::acquire(path)?;
    let timeout = Duration::from_secs(args.timeout);
    let client = match proxmox::client_for(&cluster, args.insecure_accept_invalid_certs, timeout, 5) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(EXIT_USAGE);
        }
    };
    let opts = ProvisionOptions {
        check: args.check,
        cluster: cluster.name.clone(),
        template_vmid: px.template_vmid,
        full_clone: px.full_clone,
        storage: px.storage.clone(),
        task_timeout: Duration::from_secs(args.task_timeout),
        ssh_wait: (args.ssh_wait > 0).then(|| Duration::from_secs(args.ssh_wait)),
        forks: args.forks.max(1),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let progress = Progress::new(specs.iter().map(|s| s.host.as_str()), cli.format == Format::Text);
    let provisioner = Provisioner::new(&client, &specs, &opts, &progress);
    let report = if args.destroy.is_empty() {
        runtime.block_on(provisioner.provision(&specs))
    } else {
        if !args.yes && !confirm_destroy(&runtime, &provisioner, &specs)? {
            progress.clear();
            return Ok(EXIT_USAGE);
        }
        let started = std::time::Instant::now();
        let mut hosts = Vec::new();
        for s in &specs {
            hosts.push(runtime.block_on(provisioner.destroy(s)));
        }
        Ok(ProvisionReport { check: false, hosts, seconds: started.elapsed().as_secs_f64() })
    };
    progress.clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    match cli.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        _ => print_text(&report),
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}

/// Asks on the terminal, naming each VM; off a terminal, refuses (scripts pass --yes).
fn confirm_destroy(
    runtime: &tokio::runtime::Runtime,
    provisioner: &Provisioner,
    specs: &[spec::VmSpec],
) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!("error: refusing to destroy VMs without confirmation: run on a terminal, or add --yes");
        return Ok(false);
    }
    for s in specs {
        let what = match runtime.block_on(provisioner.find(s)) {
            Ok(Some(vm)) => format!("VM {} `{}` on {} ({}) and all its disks", vm.vmid, vm.name, vm.node, vm.status),
            Ok(None) => continue,
            Err(e) => {
                eprintln!("error: {}: {e}", s.host);
                return Ok(false);
            }
        };
        eprint!("Destroy {what}? Type the host name to confirm: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != s.host {
            eprintln!("not confirmed; nothing destroyed");
            return Ok(false);
        }
    }
    Ok(true)
}

fn print_text(report: &ProvisionReport) {
    let mut table = crate::ui::table(["host", "vmid", "node", "result", "details"]);
    for h in &report.hosts {
        let details = match (&h.failed, h.action) {
            (Some(f), _) => format!("{}: {}", f.step, f.message),
            (None, Action::Differs) => h
                .differences
                .iter()
                .map(|d| format!("{}: inventory {}, Proxmox {}", d.field, one_line(&d.inventory), one_line(&d.proxmox)))
                .collect::<Vec<_>>()
                .join("\n"),
            (None, Action::Absent) => "no such VM; nothing to destroy".into(),
            _ => String::new(),
        };
        let vmid = h.vmid.map(|v| v.to_string()).unwrap_or_else(|| "next free".into());
        table.add_row([h.host.clone(), vmid, h.node.clone(), action_word(h.action).to_string(), details]);
    }
    outln!("{table}");
    let counts: Vec<String> = [
        Action::Created,
        Action::Resumed,
        Action::Unchanged,
        Action::Differs,
        Action::WouldCreate,
        Action::WouldResume,
        Action::Destroyed,
        Action::Absent,
        Action::Failed,
    ]
    .into_iter()
    .filter(|a| report.count(*a) > 0)
    .map(|a| format!("{} {}", report.count(a), action_word(a)))
    .collect();
    outln!(
        "{}: {} VM(s): {} in {:.1}s",
        if report.check { "check" } else { "provision" },
        report.hosts.len(),
        counts.join(", "),
        report.seconds
    );
    if report.count(Action::Differs) > 0 {
        outln!("VMs that differ were left alone: change them in Proxmox (qm set), or the inventory to match.");
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Created => "created",
        Action::Resumed => "resumed",
        Action::Unchanged => "unchanged",
        Action::Differs => "differs",
        Action::WouldCreate => "would create",
        Action::WouldResume => "would resume",
        Action::Failed => "FAILED",
        Action::Destroyed => "destroyed",
        Action::Absent => "absent",
    }
}

fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    match lines.len() {
        0 => "(none)".into(),
        1 => lines[0].to_string(),
        n => format!("{} (+{} more)", lines[0], n - 1),
    }
}
