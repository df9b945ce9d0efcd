//! What every command shares: its inventory, state file, value parsers, and writing to
//! standard output.

use std::path::{Path, PathBuf};

use crate::inventory::{self, InventoryError, Loaded};
use clap::ValueEnum;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// What a shell reports for a program ended by SIGPIPE (128 + 13).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// The options every subcommand takes, before or after its name.
#[derive(clap::Args, Debug)]
pub struct Globals {
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
    pub fn status_only(self) -> bool {
        !matches!(self, Format::Text | Format::Json)
    }
}

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

/// The inventory a subcommand works on: its positional argument, else `-i`, as given (so
/// messages name it the way the admin wrote it). Its lock, state file and move journals sit
/// beside the file it resolves to (`crate::state::resolve_inventory`).
pub fn inventory_path(cli: &Globals, positional: &Option<PathBuf>) -> PathBuf {
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

/// `[INVENTORY] X` positional arguments: the inventory when given, and X.
pub fn inventory_and(args: &[String]) -> (Option<PathBuf>, String) {
    match args {
        [x] => (None, x.clone()),
        [inv, x, ..] => (Some(PathBuf::from(inv)), x.clone()),
        [] => (None, String::new()),
    }
}
