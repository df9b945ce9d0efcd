//! `mailctl lab up|down|status`: rehearsal hosts on this machine.

use std::path::PathBuf;
use std::time::Instant;

use super::support::{EXIT_FAILED, EXIT_OK, Format, Globals};
use crate::lab;
use crate::playbook::Playbook;

/// Rehearsal lab: one systemd-nspawn host per inventory host, on this machine (root, Linux).
#[derive(clap::Args, Debug)]
#[command(after_help = "The inventory needs a `lab:` section (subnet, bridge). Hosts boot real systemd \
at the inventory's addresses, reachable with the lab's key and known_hosts under /var/lib/mailctl/lab/<cluster>/.\n\n\
Examples:\n  mailctl lab up inventories/lab.yaml\n  \
mailctl lab twin inventories/excellent.yaml           # writes inventories/excellent.twin.yaml\n  \
mailctl lab up inventories/excellent.twin.yaml && mailctl deploy inventories/excellent.twin.yaml\n  mailctl lab status inventories/lab.yaml\n  \
mailctl lab power-off inventories/lab.yaml mbox-1     # a clean shutdown\n  \
mailctl lab power-cut inventories/lab.yaml mbox-1     # a crash: everything killed at once, unplugged\n  \
mailctl lab up inventories/lab.yaml                   # boots the hosts that are down\n  \
mailctl lab reinstall inventories/lab.yaml mbox-2     # a fresh disk on the release its `os:` names\n  \
mailctl lab down --purge inventories/lab.yaml")]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Create and boot every lab host (hosts already up are left alone).
    Up {
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
    },
    /// Power every lab host off and remove its network; --purge also drops the hosts' disks.
    Down {
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        #[arg(long)]
        purge: bool,
    },
    /// A table of the lab's hosts: address, up or down, uptime.
    Status {
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
    },
    /// Shut one host down cleanly and unplug it; `up` boots it again.
    PowerOff {
        /// [INVENTORY] HOST
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] HOST", required = true)]
        args: Vec<String>,
    },
    /// Write a lab twin of any inventory beside it (<name>.twin.yaml): the same hosts, roles
    /// and names, addresses moved onto a lab /24 (last octets kept), throwaway secrets for
    /// `env:` references, the lab's SSH key. Rehearse a cluster on it before touching it.
    Twin {
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        /// The twin's cluster name [default: the original's]
        #[arg(long)]
        name: Option<String>,
        /// The lab /24 [default: 10.100-199.0.0/24, derived from the name]
        #[arg(long)]
        subnet: Option<ipnet::Ipv4Net>,
        /// The lab bridge [default: mctwXXXX, derived from the name]
        #[arg(long)]
        bridge: Option<String>,
    },
    /// Power one host off and drop its disk, then boot it afresh on the release its `os:`
    /// names (rehearse a host's upgrade: move its accounts off first, deploy after).
    Reinstall {
        /// [INVENTORY] HOST
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] HOST", required = true)]
        args: Vec<String>,
    },
    /// Cut one host's power: every process in it killed at once, as a crash, and unplugged
    /// (its address stops answering); `up` boots it again.
    PowerCut {
        /// [INVENTORY] HOST
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] HOST", required = true)]
        args: Vec<String>,
    },
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    if let Action::Twin { inventory, name, subnet, bridge } = &args.action {
        let opts = lab::twin::TwinOptions { name: name.clone(), subnet: *subnet, bridge: bridge.clone() };
        return make_twin(cli, &super::support::inventory_path(cli, inventory), &opts);
    }
    let (positional, host) = match &args.action {
        Action::Up { inventory } | Action::Down { inventory, .. } | Action::Status { inventory } => {
            (inventory.clone(), None)
        }
        Action::PowerOff { args } | Action::PowerCut { args } | Action::Reinstall { args } => {
            let (inventory, host) = super::support::inventory_and(args);
            (inventory, Some(host))
        }
        Action::Twin { .. } => unreachable!("handled above"),
    };
    let positional = &positional;
    let path = &super::support::inventory_path(cli, positional);
    let cluster = match super::support::load_inventory(path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let started = Instant::now();
    let outcome = match &args.action {
        Action::Up { .. } => {
            let packages = Playbook::builtin()?.all_packages();
            let quiet = !std::io::IsTerminal::is_terminal(&std::io::stderr());
            lab::up(&cluster, &packages, &mut |m| {
                if !quiet {
                    eprintln!("{m}");
                }
            })
            .map(|_| {
                format!(
                    "lab {} up: {} hosts in {:.1}s",
                    cluster.name,
                    cluster.hosts.len(),
                    started.elapsed().as_secs_f64()
                )
            })
        }
        Action::Down { purge, .. } => lab::down(&cluster, *purge)
            .map(|_| format!("lab {} down in {:.1}s", cluster.name, started.elapsed().as_secs_f64())),
        Action::Status { .. } => return print_status(cli, &cluster),
        Action::Twin { .. } => unreachable!("handled above"),
        Action::PowerOff { .. } | Action::PowerCut { .. } | Action::Reinstall { .. } => {
            let name = host.unwrap_or_default();
            let Some(h) = cluster.host(&name) else {
                let known: Vec<&str> = cluster.hosts.iter().map(|h| h.name.as_str()).collect();
                eprintln!("error: no host {name} in {} (hosts: {})", path.display(), known.join(", "));
                return Ok(super::support::EXIT_USAGE);
            };
            if matches!(args.action, Action::Reinstall { .. }) {
                return reinstall(&cluster, h, started);
            }
            let cut = matches!(args.action, Action::PowerCut { .. });
            let done = if cut { lab::power_cut_host(&cluster, h) } else { lab::stop_host(&cluster, h) };
            let what = if cut { "power cut" } else { "powered off" };
            done.map(|_| {
                format!("{name}: {what} in {:.1}s; `mailctl lab up` boots it again", started.elapsed().as_secs_f64())
            })
        }
    };
    match outcome {
        Ok(msg) => {
            outln!("{msg}");
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

/// Wipes one host and boots it again on its inventory release (the rest of the lab untouched).
fn reinstall(
    cluster: &crate::inventory::Cluster,
    host: &crate::inventory::Host,
    started: Instant,
) -> anyhow::Result<u8> {
    let packages = Playbook::builtin()?.all_packages();
    let quiet = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let done = lab::wipe_host(cluster, host).and_then(|_| {
        lab::up(cluster, &packages, &mut |m| {
            if !quiet {
                eprintln!("{m}");
            }
        })
    });
    match done {
        Ok(()) => {
            outln!(
                "{}: reinstalled with {} in {:.1}s; next: mailctl deploy {} --limit {}",
                host.name,
                host.os,
                started.elapsed().as_secs_f64(),
                cluster.source.display(),
                host.name
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

fn make_twin(cli: &Globals, path: &std::path::Path, opts: &lab::twin::TwinOptions) -> anyhow::Result<u8> {
    // Loaded here first for its diagnostics (file, line, column) and warnings.
    if let Err(code) = super::support::load_inventory(path) {
        return Ok(code);
    }
    let twin = match lab::twin::make(path, opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(super::support::EXIT_USAGE);
        }
    };
    if cli.format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&twin)?);
        return Ok(EXIT_OK);
    }
    let mut t = crate::ui::table(["address", "on the lab"]);
    for (from, to) in &twin.addresses {
        t.add_row([from.clone(), to.clone()]);
    }
    outln!("{t}");
    let inv = twin.inventory.display();
    outln!("wrote {inv}: cluster {}, lab subnet {}, bridge {}", twin.name, twin.subnet, twin.bridge);
    if !twin.secrets.is_empty() {
        outln!("throwaway secrets ({}) in {}/", twin.secrets.join(", "), twin.credentials.display());
    }
    outln!("next: mailctl lab up {inv} && mailctl deploy {inv} && mailctl status {inv}");
    Ok(EXIT_OK)
}

fn print_status(cli: &Globals, cluster: &crate::inventory::Cluster) -> anyhow::Result<u8> {
    let states = match lab::status(cluster) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    if cli.format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        let mut t = crate::ui::table(["host", "address", "os", "state", "uptime"]);
        for s in &states {
            let uptime = s.uptime_s.map(|u| format!("{}m{:02}s", u / 60, u % 60)).unwrap_or_else(|| "-".into());
            let os = s.os.clone().unwrap_or_else(|| "-".into());
            let state = if s.up { "up" } else { "down" };
            t.add_row([s.host.clone(), s.address.clone(), os, state.into(), uptime]);
        }
        outln!("{t}");
    }
    Ok(if states.iter().all(|s| s.up) { EXIT_OK } else { EXIT_FAILED })
}
