//! `mailctl deploy`: render, then bring every host to it over SSH.

use std::path::PathBuf;
use std::time::Duration;

use super::support::{EXIT_FAILED, EXIT_OK, Format, Globals};
use crate::deploy::{DeployOptions, DeployReport};
use crate::inventory::model::Role;
use crate::ops::{self, Ops};
use crate::playbook::Playbook;
use crate::remote::{ConnectOptions, SshConnector};
use crate::state::LocalState;
use crate::ui::Progress;

/// Configure every host of the cluster over SSH: packages, files (checked before they go
/// live), services, and the directory's accounts.
#[derive(clap::Args, Debug)]
#[command(after_help = "Stages run in role order (base, ldap, mailbox, mta, proxy, dns), the hosts of a stage in \
parallel. Only differences are applied: a converged cluster re-deploys without uploading or restarting anything. \
A file whose checker (postfix check, doveconf, slaptest, nginx -t, ...) rejects it never goes live. Exit 0 when \
every host succeeded, 1 otherwise.\n\n\
Examples:\n  mailctl deploy inventories/lab.yaml\n  mailctl deploy inventories/tgg.yaml --check --diff\n  \
mailctl deploy inventories/tgg.yaml --limit mbox-1,mbox-2\n  mailctl deploy inventories/tgg.yaml --role proxy --forks 2\n  \
mailctl deploy inventories/tgg.yaml --format json > deploy.json")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Change nothing: connect, read facts and print the plan.
    #[arg(long)]
    pub check: bool,
    /// Print unified diffs of the files that change (secrets masked).
    #[arg(long)]
    pub diff: bool,
    /// Only these hosts (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub limit: Vec<String>,
    /// Only hosts with this role (repeatable).
    #[arg(long, value_enum)]
    pub role: Vec<Role>,
    /// How many hosts to work on at once.
    #[arg(long, default_value_t = 10, env = "MAILCTL_FORKS", value_parser = super::support::forks())]
    pub forks: usize,
    /// Record the host keys of hosts not yet in known_hosts (a changed key is still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for a host's SSH connection.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = &super::support::inventory_path(cli, &args.inventory);
    let cluster = match super::support::load_inventory(path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    for name in &args.limit {
        if cluster.host(name).is_none() {
            eprintln!("error: --limit {name}: no such host in {}", path.display());
            return Ok(super::EXIT_USAGE);
        }
    }
    let _lock = crate::lock::acquire(path)?;
    let state_path = cli.state.clone().unwrap_or_else(|| LocalState::default_path(path));
    let mut state = match super::support::open_state(&state_path) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let opts = DeployOptions {
        check: args.check,
        diff: args.diff,
        limit: args.limit.clone(),
        roles: args.role.clone(),
        forks: args.forks,
    };
    let connect = ConnectOptions {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        accept_new_host_keys: args.accept_new_host_keys,
        ..ConnectOptions::default()
    };
    let connector = SshConnector::new(&cluster, connect);
    let progress = Progress::new(cluster.hosts.iter().map(|h| h.name.as_str()), cli.format == Format::Text);
    let ops = Ops { cluster: &cluster, inventory: path, connector: &connector, observer: &progress };
    let runtime = tokio::runtime::Runtime::new()?;
    let report =
        runtime.block_on(ops::deploy::run(&ops, &mut state, Playbook::builtin()?, cli.templates.as_deref(), &opts));
    progress.clear();
    let report = report?;
    match cli.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        _ => print_text(&report),
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}

fn print_text(report: &DeployReport) {
    if !report.diff.is_empty() {
        out!("{}", report.diff);
    }
    let mut table = crate::ui::table(["host", "packages", "files", "units", "result"]);
    for h in &report.hosts {
        let mut files = h.changed_files.len().to_string();
        if let Some(d) = &h.directory {
            files += &format!(" + ldap {} new, {} changed", d.added.len(), d.changed.len());
        }
        let unchanged =
            h.changed_files.is_empty() && h.units.is_empty() && h.packages.is_empty() && h.directory.is_none();
        let result = match &h.failed {
            Some(e) => format!("FAILED at {}:\n{}", e.step, first_lines(&e.message, 8)),
            None if report.check && unchanged => "nothing to do".to_string(),
            None if report.check => "would change".to_string(),
            None if unchanged => "unchanged".to_string(),
            None => "changed".to_string(),
        };
        table.add_row([h.host.clone(), h.packages.len().to_string(), files, h.units.join(", "), result]);
    }
    outln!("{table}");
    for w in &report.warnings {
        outln!("warning: {w}");
    }
    let t = report.totals();
    let verb = if report.check { "would change" } else { "changed" };
    outln!(
        "{}: {} host(s), {} failed; {verb} {} file(s), {} unit action(s) in {:.1}s",
        if report.check { "check" } else { "deploy" },
        t.hosts,
        t.failed,
        t.files,
        t.units,
        report.seconds
    );
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out += &format!("\n... ({} more lines; --format json has all)", lines.len() - n);
    }
    out
}
