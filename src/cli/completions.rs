//! `mailctl completions`: shell completions and man pages, generated from the clap
//! definitions, so they always match the binary (the Quickstart installs both).

use std::path::PathBuf;

use super::support::{EXIT_OK, EXIT_USAGE};

/// Prints a shell's completion script, or writes man pages.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  mailctl completions bash > /etc/bash_completion.d/mailctl\n  \
mailctl completions zsh > \"${fpath[1]}/_mailctl\"\n  mailctl completions man --out /usr/local/share/man/man1")]
pub struct Args {
    /// bash, zsh, fish, elvish, powershell, or `man` for man pages.
    #[arg(value_name = "SHELL|man")]
    pub what: String,
    /// Where `man` writes mailctl.1 and one page per subcommand.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// `cmd` is mailctl's whole command line, as clap knows it.
pub fn exec(args: &Args, mut cmd: clap::Command) -> anyhow::Result<u8> {
    if args.what == "man" {
        std::fs::create_dir_all(&args.out)?;
        clap_mangen::generate_to(cmd, &args.out)?;
        return Ok(EXIT_OK);
    }
    let Ok(shell) = args.what.parse::<clap_complete::Shell>() else {
        eprintln!("error: {}: give bash, zsh, fish, elvish, powershell or man", args.what);
        return Ok(EXIT_USAGE);
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mailctl", &mut buf);
    out!("{}", String::from_utf8_lossy(&buf));
    Ok(EXIT_OK)
}
