//! What `mailctl account` reads from the admin: a new account's details, a password from a
//! file or the terminal (never from argv).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::support::EXIT_USAGE;

use crate::accounts::address;
use crate::accounts::manage::{self, NewAccount};
use crate::inventory::model::Cluster;

/// `[INVENTORY] X` positional arguments: the inventory when given, and X.
pub fn inventory_and(args: &[String]) -> (Option<PathBuf>, String) {
    match args {
        [x] => (None, x.clone()),
        [inv, x, ..] => (Some(PathBuf::from(inv)), x.clone()),
        [] => (None, String::new()),
    }
}

/// A usage error: said, exit 2.
pub fn usage(message: String) -> anyhow::Result<u8> {
    eprintln!("error: {message}");
    Ok(EXIT_USAGE)
}

pub fn new_account(
    cluster: &Cluster,
    address: address::Address,
    mailbox: &str,
    password_file: Option<&Path>,
    name: &Option<String>,
) -> Result<NewAccount, String> {
    let mailbox = manage::mailbox_choice(cluster, mailbox).map_err(|e| format!("--mailbox: {e}"))?;
    let password = password(password_file, &address.full)?;
    Ok(NewAccount { address, name: name.clone(), mailbox, password: Some(password), origin: String::new() })
}

/// The new account's password: from the file, else asked twice on a terminal.
pub fn password(file: Option<&Path>, user: &str) -> Result<String, String> {
    if let Some(f) = file {
        return manage::read_password(f).map_err(|e| format!("--password-file {}: {e}", f.display()));
    }
    if !std::io::stdin().is_terminal() {
        return Err("no terminal to ask the password on: give --password-file FILE".into());
    }
    let first = rpassword::prompt_password(format!("password for {user}: ")).map_err(|e| e.to_string())?;
    let second = rpassword::prompt_password("again: ").map_err(|e| e.to_string())?;
    if first.is_empty() || first != second {
        return Err("the passwords were empty or differed; nothing was changed".into());
    }
    Ok(first)
}
