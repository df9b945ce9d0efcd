//! `mailctl account quota|class`: an account's own quota and its class of service.

use super::input::usage;
use super::routing::account_of;
use crate::accounts::quota;
use crate::cli::support::{EXIT_OK, Format, Globals, print_json, run_op};
use crate::observe::Silent;
use crate::ops::quota::{LimitChange, LimitsSet, set_limits};

/// `[INVENTORY] USER SIZE|default`.
pub fn quota(cli: &Globals, args: &[String]) -> anyhow::Result<u8> {
    let (cluster, path, user) = match account_of(cli, &args[..args.len() - 1]) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let change = match args[args.len() - 1].as_str() {
        "default" => LimitChange::Quota(None),
        size => match quota::parse_size(size) {
            Ok(bytes) => LimitChange::Quota(Some(bytes)),
            Err(e) => return usage(format!("quota {e}")),
        },
    };
    let set = run_op(&cluster, &path, &Silent, async |ops| set_limits(ops, &user, change).await)?;
    print(cli, &set, "quota", &path)
}

/// `[INVENTORY] USER NAME|none`.
pub fn class(cli: &Globals, args: &[String]) -> anyhow::Result<u8> {
    let (cluster, path, user) = match account_of(cli, &args[..args.len() - 1]) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let change = match args[args.len() - 1].as_str() {
        "none" => LimitChange::Class(None),
        name => match super::input::class(&cluster, name) {
            Ok(()) => LimitChange::Class(Some(name.to_string())),
            Err(e) => return usage(e),
        },
    };
    let set = run_op(&cluster, &path, &Silent, async |ops| set_limits(ops, &user, change).await)?;
    print(cli, &set, "class", &path)
}

fn print(cli: &Globals, set: &LimitsSet, what: &str, inventory: &std::path::Path) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(set)?;
    } else {
        let class = set.class.as_deref().map(|c| format!(", class {c}")).unwrap_or_default();
        let messages = match set.limits.messages {
            0 => String::new(),
            n => format!(", at most {n} messages"),
        };
        outln!(
            "{}: quota {} (from {}){messages}{class}",
            set.address,
            quota::format_size(set.limits.storage),
            set.limits.from
        );
    }
    if set.inventory_sets_it {
        eprintln!(
            "warning: {} sets the {what} of {}: the next deploy sets it back unless it is changed there",
            inventory.display(),
            set.address
        );
    }
    Ok(EXIT_OK)
}
