//! `mailctl account add|list|show|remove|import|purge-moved|passwd|set-status` (alias and
//! forward in `routing`, quota and class in `limits`, `rename`, `export`): the directory's accounts
//! (`crate::ops::accounts`), read and written with ldap3 over the LDAP provider's SSH session.

mod args;
mod export;
mod input;
mod limits;
mod print;
mod rename;
mod routing;

pub use args::{AccountCommand, AliasCommand, Args};

use std::path::Path;

use super::support::{EXIT_FAILED, Globals};
use crate::accounts::address;
use crate::accounts::entry::AccountState;
use crate::accounts::manage;
use crate::inventory::model::Role;
use crate::observe::Silent;
use crate::ops::accounts;
use input::{inventory_and, usage};

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let (inventory, operand) = match &args.command {
        AccountCommand::Alias { command } => return routing::alias(cli, command),
        AccountCommand::Quota { args } => return limits::quota(cli, args),
        AccountCommand::Class { args } => return limits::class(cli, args),
        AccountCommand::Rename { args } => return rename::exec(cli, args),
        AccountCommand::Export { inventory, out } => return export::exec(cli, inventory, out.as_deref()),
        AccountCommand::Forward { args, to, keep_copy, off } => {
            return routing::forward(cli, args, to, *keep_copy, *off);
        }
        AccountCommand::List { inventory, .. } => (inventory.clone(), String::new()),
        AccountCommand::Add { args, .. }
        | AccountCommand::Show { args }
        | AccountCommand::Remove { args, .. }
        | AccountCommand::Import { args, .. }
        | AccountCommand::PurgeMoved { args }
        | AccountCommand::Passwd { args, .. } => inventory_and(args),
        AccountCommand::SetStatus { args } => inventory_and(&args[..args.len() - 1]),
    };
    let path = super::support::inventory_path(cli, &inventory);
    let cluster = match super::support::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    match &args.command {
        AccountCommand::Import { dry_run, .. } => match manage::read_csv(Path::new(&operand), &cluster) {
            Ok(rows) => print::added(
                cli,
                super::support::run_op(&cluster, &path, &Silent, async |ops| {
                    accounts::add_many(ops, &rows, *dry_run).await
                })?,
                *dry_run,
            ),
            Err(problems) => {
                problems.iter().for_each(|p| eprintln!("error: {p}"));
                usage(format!("{} problem(s) in {operand}; nothing was written", problems.len()))
            }
        },
        AccountCommand::List { mailbox, no_usage, .. } => {
            let fqdn = match mailbox {
                None => None,
                Some(name) => match cluster.host(name).filter(|h| h.has(Role::Mailbox)) {
                    Some(h) => Some(h.fqdn.clone()),
                    None => {
                        return usage(format!("--mailbox {name}: no mailbox host of that name in {}", path.display()));
                    }
                },
            };
            let listing = super::support::run_op(&cluster, &path, &Silent, async |ops| {
                accounts::list(ops, fqdn.as_deref(), !no_usage).await
            })?;
            print::list(cli, &listing, !no_usage)
        }
        command => {
            let user = match address::parse(&operand, &cluster) {
                Ok(u) => u,
                Err(e) => return usage(e),
            };
            match command {
                AccountCommand::Show { .. } => {
                    match super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::show(ops, &user.full).await
                    }) {
                        Ok(shown) => print::one(cli, &shown),
                        Err(e) => {
                            eprintln!("error: {e:#}");
                            Ok(EXIT_FAILED)
                        }
                    }
                }
                AccountCommand::Add { mailbox, password_file, name, class, quota, .. } => {
                    let options =
                        input::AddOptions { mailbox, password_file: password_file.as_deref(), name, class, quota };
                    let account = match input::new_account(&cluster, user, &options) {
                        Ok(a) => a,
                        Err(e) => return usage(e),
                    };
                    let added = super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::add_many(ops, std::slice::from_ref(&account), false).await
                    })?;
                    print::added(cli, added, false)
                }
                AccountCommand::Remove { purge, .. } => {
                    let removed = super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::remove(ops, &user.full, *purge).await
                    })?;
                    print::removed(&removed, &path)
                }
                AccountCommand::PurgeMoved { .. } => {
                    print::purged(&super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::purge_moved(ops, &user.full).await
                    })?)
                }
                AccountCommand::Passwd { password_file, .. } => {
                    let password = match input::password(password_file.as_deref(), &user.full) {
                        Ok(p) => p,
                        Err(e) => return usage(e),
                    };
                    let set = super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::set_password(ops, &user.full, &password).await
                    })?;
                    print::password_set(cli, &set, &path)
                }
                AccountCommand::SetStatus { args } => {
                    let to = match AccountState::settable(&args[args.len() - 1]) {
                        Ok(s) => s,
                        Err(e) => return usage(e),
                    };
                    let change = super::support::run_op(&cluster, &path, &Silent, async |ops| {
                        accounts::set_state(ops, &user.full, to).await
                    })?;
                    print::state_changed(cli, &change)
                }
                AccountCommand::List { .. }
                | AccountCommand::Import { .. }
                | AccountCommand::Alias { .. }
                | AccountCommand::Forward { .. }
                | AccountCommand::Quota { .. }
                | AccountCommand::Class { .. }
                | AccountCommand::Rename { .. }
                | AccountCommand::Export { .. } => unreachable!("matched above"),
            }
        }
    }
}
