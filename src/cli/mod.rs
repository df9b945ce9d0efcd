//! Command-line interface: one file per subcommand, each a clap struct and an `exec` that
//! checks its arguments, calls one operation of the library (`crate::ops`, `crate::status`,
//! ...), prints the report and picks the exit code: 0 success, 1 the work failed, 2 bad
//! usage or inventory. No operation logic lives here.

/// `println!` for command output: a reader that went away (`mailctl … | head -1`) ends the
/// program quietly with SIGPIPE's status, where `println!` would panic.
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` with the same care.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!($($t)*)) };
}

mod account;
mod completions;
mod deploy;
mod lab;
mod move_account;
mod provision;
mod rebalance;
mod render;
mod status;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::inventory::{self, InventoryError, Loaded};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// What a shell reports for a program ended by SIGPIPE (128 + 13).
pub const EXIT_BROKEN_PIPE: u8 = 141;

pub fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        quit_on_write_error(&e);
    }
}

/// Ends the program for an error writing to stdout: quietly when the reader is gone.
fn quit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE.into());
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(EXIT_FAILED.into());
}

#[derive(Parser, Debug)]
#[command(
    name = "mailctl",
    version,
    about = "Provision and operate Zimbra-style multi-server mail clusters",
    long_about = "mailctl renders every host's configuration from one inventory file, pushes it over SSH, \
                  places and moves accounts between mailbox servers, and reports every service on every node.",
    after_help = "Examples:\n  mailctl validate inventories/tgg.yaml\n  mailctl render inventories/tgg.yaml --out /tmp/tgg\n  MAILCTL_INVENTORY=inventories/tgg.yaml mailctl render --out /tmp/tgg --host mbox-1"
)]
pub struct Cli {
    /// Inventory file (a positional INVENTORY after the subcommand wins over this).
    #[arg(short, long, global = true, env = "MAILCTL_INVENTORY", default_value = "inventory.yaml")]
    pub inventory: PathBuf,

    /// State file with generated secrets and certificates [default: <inventory>.state.yaml].
    #[arg(long, global = true, env = "MAILCTL_STATE")]
    pub state: Option<PathBuf>,

    /// Render from this template directory instead of the built-in templates.
    #[arg(long, global = true, env = "MAILCTL_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Output format where the output is data (zmcontrol, table, nagios and prometheus are
    /// for `status`).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// More log output (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Zmcontrol,
    Table,
    Nagios,
    Prometheus,
}

impl Format {
    /// The formats only `status` speaks.
    fn status_only(self) -> bool {
        !matches!(self, Format::Text | Format::Json)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Validate(validate::Args),
    Render(render::Args),
    Deploy(deploy::Args),
    Lab(lab::Args),
    Status(status::Args),
    Provision(provision::Args),
    /// The directory's accounts: add, list, show, remove, import, purge-moved.
    Account(account::Args),
    /// Move an account's mailbox to another mailbox host without losing mail.
    MoveAccount(move_account::Args),
    /// Even out the mailbox hosts by moving accounts (plan; --apply runs it).
    Rebalance(rebalance::Args),
    /// Shell completions and man pages, generated from these definitions.
    Completions(completions::Args),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if cli.format.status_only() && !matches!(cli.command, Command::Status(_)) {
        let name = cli.format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        eprintln!("error: --format {name} is for `mailctl status`; this command speaks text or json");
        return ExitCode::from(EXIT_USAGE);
    }
    let code = match &cli.command {
        Command::Validate(args) => validate::exec(&cli, args),
        Command::Render(args) => render::exec(&cli, args),
        Command::Deploy(args) => deploy::exec(&cli, args),
        Command::Lab(args) => lab::exec(&cli, args),
        Command::Status(args) => status::exec(&cli, args),
        Command::Provision(args) => provision::exec(&cli, args),
        Command::Account(args) => account::exec(&cli, args),
        Command::MoveAccount(args) => move_account::exec(&cli, args),
        Command::Rebalance(args) => rebalance::exec(&cli, args),
        Command::Completions(args) => completions::exec(args),
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

/// The inventory a subcommand works on: its positional argument, else `-i`, as given (so
/// messages name it the way the admin wrote it). Its lock, state file and move journals sit
/// beside the file it resolves to (`crate::state::resolve_inventory`).
pub fn inventory_path(cli: &Cli, positional: &Option<PathBuf>) -> PathBuf {
    positional.as_deref().unwrap_or(&cli.inventory).to_path_buf()
}

/// Loads the inventory, printing warnings; on failure prints the diagnostics and gives
/// the exit code to use.
pub fn load_inventory(path: &Path) -> Result<Loaded, u8> {
    match inventory::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}\n");
            }
            Ok(loaded)
        }
        Err(e @ InventoryError::Unreadable { .. }) => {
            eprintln!("error: {e}");
            Err(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(EXIT_USAGE)
        }
    }
}

/// A number of seconds within `min..=max` (a float: `--watch 0.5`); NaN, infinities and
/// out-of-range values are usage errors, never a panic in `Duration`.
pub fn seconds(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        Ok(_) => Err(format!("must be a number of seconds from {min} to {max}")),
        Err(_) => Err("not a number of seconds".to_string()),
    }
}

/// `--forks`: at least one host at a time, at most a thousand.
pub fn forks() -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    |s: &str| match s.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 1000".to_string()),
    }
}

/// Opens the state file; a file that is not safely ours (a symlink, another owner, readable
/// by others) is a usage error: the admin must fix it, nothing is read or written.
pub fn open_state(path: &Path) -> Result<crate::state::LocalState, u8> {
    use crate::state::{LocalState, StateError};
    match LocalState::open(path) {
        Ok(s) => Ok(s),
        Err(
            e @ (StateError::Symlink { .. }
            | StateError::Foreign { .. }
            | StateError::Exposed { .. }
            | StateError::NotAFile { .. }),
        ) => {
            eprintln!("error: {e}");
            Err(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(EXIT_FAILED)
        }
    }
}

/// Runs an operation with SSH connections to the cluster (default options) and `observer`.
pub fn run_op<T>(
    cluster: &crate::inventory::Cluster,
    inventory: &Path,
    observer: &dyn crate::observe::Observer,
    op: impl AsyncFnOnce(&crate::ops::Ops<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let connector = crate::remote::SshConnector::new(cluster, crate::remote::ConnectOptions::default());
    let ops = crate::ops::Ops { cluster, inventory, connector: &connector, observer };
    tokio::runtime::Runtime::new()?.block_on(op(&ops))
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
