//! `mailctl provision`: the cluster's VMs on Proxmox VE, created through its API.

use std::path::PathBuf;
use std::time::Duration;

mod print;

use super::support::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format, Globals};
use crate::ops;
use crate::proxmox;
use crate::proxmox::provision::Provisioner;
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
    #[arg(long, default_value_t = 10, env = "MAILCTL_FORKS", value_parser = super::support::forks())]
    pub forks: usize,
    /// Accept any certificate from the API. Only for a first look at a node whose CA or
    /// fingerprint you do not have yet: anyone in between can read the token.
    #[arg(long)]
    pub insecure_accept_invalid_certs: bool,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = &super::support::inventory_path(cli, &args.inventory);
    let cluster = match super::support::load_inventory(path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    if cluster.lab.is_some() {
        eprintln!(
            "error: {} is a lab inventory: its hosts are lab containers (`mailctl lab up`), not Proxmox VMs; \
             provision from the original inventory",
            path.display()
        );
        return Ok(EXIT_USAGE);
    }
    let wanted: &[String] = if args.destroy.is_empty() { &args.limit } else { &args.destroy };
    let specs = match ops::provision::select(&cluster, path, wanted) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    if args.insecure_accept_invalid_certs {
        eprintln!("warning: --insecure-accept-invalid-certs: the API's certificate is not checked");
    }
    let _lock = crate::lock::acquire(path)?;
    let client =
        match proxmox::client_for(&cluster, args.insecure_accept_invalid_certs, Duration::from_secs(args.timeout), 5) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(EXIT_USAGE);
            }
        };
    let ssh_wait = (args.ssh_wait > 0).then(|| Duration::from_secs(args.ssh_wait));
    let opts =
        ops::provision::options(&cluster, args.check, Duration::from_secs(args.task_timeout), ssh_wait, args.forks)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let progress = Progress::new(specs.iter().map(|s| s.host.as_str()), cli.format == Format::Text);
    let provisioner = Provisioner::new(&client, &specs, &opts, &progress);
    let report = if args.destroy.is_empty() {
        runtime.block_on(provisioner.provision(&specs))
    } else {
        if !args.yes && !print::confirm_destroy(&runtime, &provisioner, &specs)? {
            progress.clear();
            return Ok(EXIT_USAGE);
        }
        Ok(runtime.block_on(provisioner.destroy_all(&specs)))
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
        Format::Json => super::support::print_json(&report)?,
        _ => print::text(&report),
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}
