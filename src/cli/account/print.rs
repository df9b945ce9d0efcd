//! How `mailctl account` shows what the operations report.

use std::path::Path;

use crate::accounts::quota;
use crate::cli::support::{EXIT_FAILED, EXIT_OK, Format, Globals, print_json};
use crate::ops::accounts::{
    AccountInfo, Added, Aliases, Forwarding, Listing, PasswordSet, PurgedMoved, Removed, Shown, StateChange,
};

/// The table, or JSON; a mailbox host that did not report use is a warning and exit 1, the
/// listing still printed.
pub fn list(cli: &Globals, listing: &Listing, usage: bool) -> anyhow::Result<u8> {
    let accounts = &listing.accounts;
    if cli.format == Format::Json {
        // An array of accounts, as before use was reported; hosts that failed go to stderr.
        print_json(accounts)?;
    } else {
        let mut t = crate::ui::table(["address", "name", "mailbox", "state", "messages", "used", "quota"]);
        for a in accounts {
            let (messages, used, quota) =
                if usage { use_columns(a) } else { (String::new(), String::new(), limit_column(a)) };
            let row = [a.address.clone(), a.name.clone(), a.mailbox.clone(), a.state.to_string()];
            t.add_row(row.into_iter().chain([messages, used, quota]));
        }
        outln!("{t}\n{} account(s)", accounts.len());
    }
    for (host, why) in &listing.usage_failed {
        eprintln!("warning: {host} did not report mailbox use: {why}");
    }
    Ok(if listing.usage_failed.is_empty() { EXIT_OK } else { EXIT_FAILED })
}

/// `120`, `12.3M` and `2G (1%)`, as the mailbox host reports them.
fn use_columns(a: &AccountInfo) -> (String, String, String) {
    match &a.usage {
        None => ("?".into(), "?".into(), limit_column(a)),
        Some(u) => {
            let limit = match (u.storage_limit, u.percent()) {
                (Some(l), Some(p)) => format!("{} ({p}%)", quota::format_size(l)),
                _ => "unlimited".into(),
            };
            (u.messages.to_string(), quota::human_size(u.bytes), limit)
        }
    }
}

/// The quota the directory gives (or `?` for a class the inventory lost).
fn limit_column(a: &AccountInfo) -> String {
    a.limits.as_ref().map(|l| quota::format_size(l.storage)).unwrap_or_else(|| "?".into())
}

pub fn one(cli: &Globals, shown: &Shown) -> anyhow::Result<u8> {
    let (a, placer) = (&shown.account, &shown.placer);
    if cli.format == Format::Json {
        print_json(
            &serde_json::json!({"account": a, "placement": {"hosts": placer.loads, "explanation": placer.explain()}}),
        )?;
        return Ok(EXIT_OK);
    }
    outln!(
        "address:  {}\nname:     {}\nmailbox:  {} ({})\nstate:    {}",
        a.address,
        a.name,
        a.mailbox,
        a.mail_host,
        a.state
    );
    if !a.aliases.is_empty() {
        outln!("aliases:  {}", a.aliases.join(", "));
    }
    if !a.forward.is_empty() {
        outln!("forward:  {}{}", a.forward.join(", "), if a.keep_copy { " (keeping a copy)" } else { "" });
    }
    match &a.limits {
        Some(l) => {
            let messages = if l.messages > 0 { format!(", at most {} messages", l.messages) } else { String::new() };
            outln!("quota:    {} (from {}){messages}", quota::format_size(l.storage), l.from);
        }
        None => outln!("quota:    ? (class {} is not in the inventory)", a.class.as_deref().unwrap_or_default()),
    }
    if let Some(u) = &a.usage {
        let percent = u.percent().map(|p| format!(", {p}% of its quota")).unwrap_or_default();
        outln!("used:     {} in {} message(s){percent}", quota::human_size(u.bytes), u.messages);
    }
    outln!("placement: {}", placer.explain());
    if let Some(why) = &shown.usage_failed {
        eprintln!("warning: no mailbox use from {why}");
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

pub fn added(cli: &Globals, results: Vec<Added>, dry_run: bool) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(&results)?;
        return Ok(EXIT_OK);
    }
    for r in &results {
        outln!("{:<10} {} on {}", r.result.replace('_', " "), r.address, r.mailbox);
    }
    let added = results.iter().filter(|r| r.result != "exists").count();
    let verb = if dry_run { "to add" } else { "added" };
    outln!("{added} account(s) {verb}, {} already there", results.len() - added);
    Ok(EXIT_OK)
}

pub fn removed(r: &Removed, inventory: &Path) -> anyhow::Result<u8> {
    let deleted = if r.mail_deleted_on.is_empty() {
        String::new()
    } else {
        format!("; mail deleted on {}", r.mail_deleted_on.join(", "))
    };
    outln!("removed {}{deleted}", r.address);
    if r.still_in_inventory {
        eprintln!(
            "warning: {} is listed in {}: the next deploy creates it again unless it is taken out there",
            r.address,
            inventory.display()
        );
    }
    Ok(EXIT_OK)
}

pub fn purged(p: &PurgedMoved) -> anyhow::Result<u8> {
    let kept = match &p.replica_on {
        Some(partner) => format!("{} and its replica on {partner}", p.home),
        None => p.home.clone(),
    };
    if p.deleted_on.is_empty() {
        outln!("{}: no old copy outside {kept}", p.address);
    } else {
        outln!("{}: old copy deleted on {} (it lives on {kept})", p.address, p.deleted_on.join(", "));
    }
    Ok(EXIT_OK)
}

pub fn password_set(cli: &Globals, set: &PasswordSet, inventory: &Path) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(set)?;
    } else {
        outln!("{}: password set; the old one no longer works", set.address);
    }
    if set.inventory_sets_it {
        eprintln!(
            "warning: {} has a password in {}: the next deploy sets that one again unless it is changed there",
            set.address,
            inventory.display()
        );
    }
    Ok(EXIT_OK)
}

pub fn state_changed(cli: &Globals, c: &StateChange) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(c)?;
    } else if c.from == c.to {
        outln!("{} is {} already", c.address, c.to);
    } else {
        outln!("{}: {} → {}", c.address, c.from, c.to);
    }
    Ok(EXIT_OK)
}

pub fn aliases(cli: &Globals, a: &Aliases) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(a)?;
    } else if a.aliases.is_empty() {
        outln!("{}: no aliases", a.address);
    } else {
        outln!("{}: aliases {}", a.address, a.aliases.join(", "));
    }
    Ok(EXIT_OK)
}

pub fn forwarding(cli: &Globals, f: &Forwarding) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(f)?;
    } else if f.to.is_empty() {
        outln!("{}: not forwarded", f.address);
    } else {
        let copy = if f.keep_copy { ", keeping a copy" } else { ", no copy kept" };
        outln!("{}: forwarded to {}{copy}", f.address, f.to.join(", "));
    }
    Ok(EXIT_OK)
}
