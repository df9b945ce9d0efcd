//! `mailctl status`: every service on every host, like `zmcontrol status` for a whole cluster.

use std::path::PathBuf;
use std::time::Duration;

mod print;

use super::support::{EXIT_USAGE, Format, Globals};
use crate::deploy::diff::Masker;
use crate::inventory::model::Role;
use crate::playbook::Playbook;
use crate::remote::{ConnectOptions, SshConnector};
use crate::state::LocalState;
use crate::status::{self, Connections, StatusOptions, format};

/// Report every service on every host: its systemd unit over SSH, and a protocol probe from
/// here (LDAP rootDSE, SMTP EHLO, LMTP LHLO, IMAP CAPABILITY, POP3 greeting, HTTP, DNS SOA;
/// sshd is judged by the SSH session itself), plus which host holds each VIP.
#[derive(clap::Args, Debug)]
#[command(after_help = "Formats (--format): table (the default on a terminal), zmcontrol (the default otherwise: \
`Host <fqdn>` and a line per service, like zmcontrol status), json (schemas/status.schema.json), nagios (one \
plugin line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), prometheus (text exposition for \
node_exporter's textfile collector; use --output to replace the file atomically).\n\n\
Exit 0 when every service runs, 1 when something is stopped, fails its probe or cannot be asked, 2 on bad usage \
or inventory. A host that does not answer is reported as unreachable; the others are still shown.\n\n\
Examples:\n  mailctl status inventories/lab.yaml\n  mailctl status --format zmcontrol --host mbox-1,mbox-2\n  \
mailctl status --role mailbox --service imap,lmtp\n  mailctl status --watch 5\n  \
mailctl status --format nagios          # as a Nagios/Icinga check\n  \
mailctl status -i /etc/mailctl/tgg.yaml --format prometheus \\\n      --output /var/lib/prometheus/node-exporter/mailctl.prom   # cron, for node_exporter")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    // Its own id: an arg named `inventory` here would hide the global `-i`.
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Only these hosts (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "HOSTS")]
    pub host: Vec<String>,
    /// Only hosts with this role, and only that role's services (repeatable).
    #[arg(long, value_enum)]
    pub role: Vec<Role>,
    /// Only these services (comma-separated or repeated), e.g. imap,smtp,ldap.
    #[arg(long, value_delimiter = ',', value_name = "SERVICES")]
    pub service: Vec<String>,
    /// Check again every SECONDS, redrawing the screen on a terminal, until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = super::support::seconds(0.1, 86_400.0))]
    pub watch: Option<f64>,
    /// Seconds to wait for a host's SSH connection and for each probe.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = super::support::seconds(0.1, 600.0))]
    pub connect_timeout: f64,
    /// How many hosts to check at once.
    #[arg(long, default_value_t = 64, env = "MAILCTL_FORKS", value_parser = super::support::forks())]
    pub forks: usize,
    /// Write the output to FILE (replaced atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let nagios = cli.format == Format::Nagios;
    let usage = |message: String| {
        if nagios {
            // The plugin convention: a check that cannot run is UNKNOWN, on stdout.
            outln!("MAILCTL UNKNOWN - {message}");
            Ok(format::NagiosState::Unknown as u8)
        } else {
            eprintln!("error: {message}");
            Ok(EXIT_USAGE)
        }
    };
    let path = &super::support::inventory_path(cli, &args.inventory);
    let loaded = if nagios {
        crate::inventory::load(path).map_err(|e| first_line(&e.to_string()).to_string())
    } else {
        super::support::load_inventory(path).map_err(|_| String::new())
    };
    let cluster = match loaded {
        Ok(l) => l.cluster,
        Err(message) if nagios => return usage(format!("inventory {}: {message}", path.display())),
        Err(_) => return Ok(EXIT_USAGE),
    };
    if let Some(w) = args.watch.filter(|w| !(w.is_finite() && *w >= 0.1)) {
        return usage(format!("--watch {w}: give an interval of at least 0.1 seconds"));
    }
    if !(args.connect_timeout.is_finite() && args.connect_timeout > 0.0) {
        return usage(format!("--connect-timeout {}: give a positive number of seconds", args.connect_timeout));
    }
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    // Read only: status never creates or changes the state file.
    let state_path = cli.state.clone().unwrap_or_else(|| LocalState::default_path(path));
    let state = match LocalState::open(&state_path) {
        Ok(state) => state,
        Err(e) => return usage(e.to_string()),
    };
    let ca = state.data.pki.as_ref().map(|p| p.ca_cert.as_str());
    let opts = StatusOptions {
        playbook: Playbook::builtin()?,
        hosts: args.host.clone(),
        roles: args.role.clone(),
        services: args.service.clone(),
        probe_timeout: timeout,
        forks: args.forks,
        tls: status::tls::TlsTrust::for_cluster(&cluster, ca),
    };
    if let Err(message) = status::check_filters(&cluster, &opts, path) {
        return usage(message);
    }
    let masker = Masker::new(state.data.secrets.values().cloned());
    let connect = ConnectOptions {
        connect_timeout: timeout,
        command_timeout: timeout.max(Duration::from_secs(10)),
        accept_new_host_keys: false,
    };
    let connector = SshConnector::new(&cluster, connect);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut connections = Connections::new(&connector);
        let code = match args.watch {
            None => {
                let mut report = status::check(&cluster, &opts, &mut connections).await?;
                status::mask(&mut report, &masker);
                print::emit(cli.format, &report, args.output.as_deref())?
            }
            Some(every) => {
                print::watch(cli.format, &cluster, &opts, &masker, &mut connections, every, args.output.as_deref())
                    .await?
            }
        };
        connections.close().await;
        Ok(code)
    })
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text)
}
