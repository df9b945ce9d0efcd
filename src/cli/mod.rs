//! Command-line interface: one file per subcommand, each a clap struct and an `exec` that
//! checks its arguments, calls one operation of the library (`crate::ops`, `crate::status`,
//! ...), prints the report and picks the exit code: 0 success, 1 the work failed, 2 bad
//! usage or inventory. No operation logic lives here.

/// `println!` for command output: a reader that went away (`mailctl … | head -1`) ends the
/// program quietly with SIGPIPE's status, where `println!` would panic.
macro_rules! outln {
    () => { $crate::cli::support::write_stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::support::write_stdout(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` with the same care.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::support::write_stdout(format_args!($($t)*)) };
}

mod account;
mod completions;
mod deploy;
mod dns;
mod lab;
mod list;
mod move_account;
mod nat;
mod pair;
mod provision;
mod rebalance;
mod render;
mod status;
mod support;
mod validate;

use support::{EXIT_FAILED, EXIT_USAGE, Globals};

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

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
    #[command(flatten)]
    pub globals: Globals,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Validate(validate::Args),
    Render(render::Args),
    Deploy(deploy::Args),
    Lab(lab::Args),
    Status(status::Args),
    Provision(provision::Args),
    /// The directory's accounts: add, list, show, remove, import, export, passwd, status,
    /// quota, class, rename, aliases, forwarding.
    Account(account::Args),
    /// Move an account's mailbox to another mailbox host without losing mail.
    MoveAccount(move_account::Args),
    /// Even out the mailbox hosts by moving accounts (plan; --apply runs it).
    Rebalance(rebalance::Args),
    /// Serve a paired mailbox host's accounts from its partner.
    Failover(pair::FailoverArgs),
    /// Give a paired mailbox host its accounts back, both copies merged.
    Failback(pair::FailbackArgs),
    /// Distribution lists: create, delete, add, remove, show.
    List(list::Args),
    Nat(nat::Args),
    Dns(dns::Args),
    /// Shell completions and man pages, generated from these definitions.
    Completions(completions::Args),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.globals.verbose);
    if cli.globals.format.status_only() && !matches!(cli.command, Command::Status(_)) {
        let name = cli.globals.format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        eprintln!("error: --format {name} is for `mailctl status`; this command speaks text or json");
        return ExitCode::from(EXIT_USAGE);
    }
    let code = match &cli.command {
        Command::Validate(args) => validate::exec(&cli.globals, args),
        Command::Render(args) => render::exec(&cli.globals, args),
        Command::Deploy(args) => deploy::exec(&cli.globals, args),
        Command::Lab(args) => lab::exec(&cli.globals, args),
        Command::Status(args) => status::exec(&cli.globals, args),
        Command::Provision(args) => provision::exec(&cli.globals, args),
        Command::Account(args) => account::exec(&cli.globals, args),
        Command::MoveAccount(args) => move_account::exec(&cli.globals, args),
        Command::Rebalance(args) => rebalance::exec(&cli.globals, args),
        Command::Failover(args) => pair::failover(&cli.globals, args),
        Command::Failback(args) => pair::failback(&cli.globals, args),
        Command::List(args) => list::exec(&cli.globals, args),
        Command::Nat(args) => nat::exec(&cli.globals, args),
        Command::Dns(args) => dns::exec(&cli.globals, args),
        Command::Completions(args) => completions::exec(args, Cli::command()),
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
