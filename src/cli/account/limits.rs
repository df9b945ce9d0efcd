//! `mailctl account quota|class`: an account's own quota and its class of service.

use super::input::usage;
use super::routing::account_of;
use crate::accounts::quota;
use crate::cli::support::{EXIT_OK, Format, Globals, print_json, run_op};
use crate::inventory::Cluster;
use crate::observe::Silent;
use crate::ops::quota::{LimitChange, LimitsSet, set_limits};

/// `[INVENTORY] USER SIZE|default`.
pub fn quota(cli: &Globals, args: &[String]) -> anyhow::Result<u8> {
    set(cli, args, "quota", |_, value| match value {
        "default" => Ok(LimitChange::Quota(None)),
        size => quota::parse_size(size).map(|b| LimitChange::Quota(Some(b))).map_err(|e| format!("quota {e}")),
    })
}

/// `[INVENTORY] USER NAME|none`.
pub fn class(cli: &Globals, args: &[String]) -> anyhow::Result<u8> {
    set(cli, args, "class", |cluster, value| match value {
        "none" => Ok(LimitChange::Class(None)),
        name => super::input::class(cluster, name).map(|()| LimitChange::Class(Some(name.to_string()))),
    })
}

/// `[INVENTORY] USER VALUE`: VALUE checked by `change` before anything connects.
fn set(
    cli: &Globals,
    args: &[String],
    what: &str,
    change: impl Fn(&Cluster, &str) -> Result<LimitChange, String>,
) -> anyhow::Result<u8> {
    let (cluster, path, user) = match account_of(cli, &args[..args.len() - 1]) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let change = match change(&cluster, &args[args.len() - 1]) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let set = run_op(&cluster, &path, &Silent, async |ops| set_limits(ops, &user, change).await)?;
    print(cli, &set, what, &path)
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
