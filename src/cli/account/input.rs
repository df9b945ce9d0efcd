//! What `mailctl account` reads from the admin: a new account's details, a password from a
//! file or the terminal (never from argv).

use std::io::IsTerminal;
use std::path::Path;

use crate::cli::support::EXIT_USAGE;

use crate::accounts::address;
use crate::accounts::manage::{self, NewAccount, Password};
use crate::accounts::quota;
use crate::inventory::model::Cluster;

pub use crate::cli::support::inventory_and;

/// A usage error: said, exit 2.
pub fn usage(message: String) -> anyhow::Result<u8> {
    eprintln!("error: {message}");
    Ok(EXIT_USAGE)
}

/// What `account add` was given, beyond the address.
pub struct AddOptions<'a> {
    pub mailbox: &'a str,
    pub password_file: Option<&'a Path>,
    pub name: &'a Option<String>,
    pub class: &'a Option<String>,
    pub quota: &'a Option<String>,
}

pub fn new_account(cluster: &Cluster, address: address::Address, o: &AddOptions) -> Result<NewAccount, String> {
    let mailbox = manage::mailbox_choice(cluster, o.mailbox).map_err(|e| format!("--mailbox: {e}"))?;
    if let Some(c) = o.class {
        class(cluster, c)?;
    }
    let quota = o.quota.as_deref().map(quota::parse_size).transpose().map_err(|e| format!("--quota: {e}"))?;
    let password = password(o.password_file, &address.full)?;
    Ok(NewAccount {
        address,
        name: o.name.clone(),
        mailbox,
        password: Some(Password::Plain(password)),
        class: o.class.clone(),
        quota,
        ..NewAccount::default()
    })
}

/// A class of service the inventory defines.
pub fn class(cluster: &Cluster, name: &str) -> Result<(), String> {
    quota::limits(cluster, Some(name), None).map(drop)
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
