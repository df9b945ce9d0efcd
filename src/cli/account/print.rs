//! How `mailctl account` shows what the operations report.

use std::path::Path;

use crate::cli::support::{EXIT_OK, Format, Globals, print_json};
use crate::ops::accounts::{
    AccountInfo, Added, Aliases, Forwarding, PasswordSet, PurgedMoved, Removed, Shown, StateChange,
};

pub fn list(cli: &Globals, accounts: &[AccountInfo]) -> anyhow::Result<u8> {
    if cli.format == Format::Json {
        print_json(&accounts)?;
        return Ok(EXIT_OK);
    }
    let mut t = crate::ui::table(["address", "name", "mailbox", "state"]);
    for a in accounts {
        t.add_row([a.address.clone(), a.name.clone(), a.mailbox.clone(), a.state.to_string()]);
    }
    outln!("{t}\n{} account(s)", accounts.len());
    Ok(EXIT_OK)
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
    outln!("placement: {}", placer.explain());
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
    if p.deleted_on.is_empty() {
        outln!("{}: no old copy outside {}", p.address, p.home);
    } else {
        outln!("{}: old copy deleted on {} (it lives on {})", p.address, p.deleted_on.join(", "), p.home);
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
