//! `mailctl account rename OLD NEW`.

use super::input::{inventory_and, usage};
use crate::cli::support::{EXIT_OK, Format, Globals, inventory_path, load_inventory, print_json, run_op};
use crate::observe::Silent;

/// `[INVENTORY] OLD NEW`.
pub fn exec(cli: &Globals, args: &[String]) -> anyhow::Result<u8> {
    let (inventory, old) = inventory_and(&args[..args.len() - 1]);
    let path = inventory_path(cli, &inventory);
    let cluster = match load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let parse = |a: &str| crate::accounts::address::parse(a, &cluster);
    let (old, new) = match (parse(&old), parse(&args[args.len() - 1])) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    if old == new {
        return usage(format!("{} is already called that", old.full));
    }
    let r = run_op(&cluster, &path, &Silent, async |ops| crate::ops::rename::run(ops, &old, &new).await)?;
    if cli.format == Format::Json {
        print_json(&r)?;
    } else if r.already_done {
        outln!("{} is {} already (on {}); nothing to do", r.old, r.new, r.mailbox);
    } else {
        let resumed = if r.resumed { " (an interrupted rename, finished)" } else { "" };
        outln!("renamed {} to {} on {}{resumed}; {} stays as an alias", r.old, r.new, r.mailbox, r.old);
        if !r.lists.is_empty() {
            outln!("lists now naming {}: {}", r.new, r.lists.join(", "));
        }
        if !r.forwards.is_empty() {
            outln!("accounts now forwarding to {}: {}", r.new, r.forwards.join(", "));
        }
        if r.requeued > 0 {
            outln!("{} message(s) held during the rename delivered to {}", r.requeued, r.new);
        }
    }
    for host in &r.old_home_again_on {
        eprintln!(
            "warning: {host} has a mail home for {} again (a delivery slipped in during the rename): merge it into {} with `doveadm sync`",
            r.old, r.new
        );
    }
    if r.old_in_inventory {
        eprintln!(
            "warning: {} lists {}: rename it there too, or the next deploy refuses to create it (it is an alias now)",
            path.display(),
            r.old
        );
    }
    Ok(EXIT_OK)
}
