//! `mailctl account add|list|show|remove|import|purge-moved`: the directory's accounts,
//! read and written with ldap3 over the LDAP provider's SSH session.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use super::{Cli, EXIT_OK, EXIT_USAGE, Format};
use crate::accounts::fleet::host_by_fqdn;
use crate::accounts::manage::{self, NewAccount};
use crate::accounts::mover::read_entry;
use crate::accounts::{address, mailstore, placement::Placer};
use crate::directory::Layout;
use crate::directory::ldap::{Ldap, first_values};
use crate::inventory::model::{Cluster, Host, Role};
use crate::remote::keys::KeyStore;
use crate::remote::{ConnectOptions, Session, SshConfigFile};

/// The cluster's accounts as the directory has them.
#[derive(clap::Args, Debug)]
#[command(after_help = "The directory is read and written on the LDAP provider through its SSH connection (ldap3 \
over slapd's ldapi socket, SASL EXTERNAL as root): no LDAP password is needed or sent.\n\n\
Examples:\n  mailctl account add inventories/lab.yaml ani@tgg.net.id --name Ani --password-file ani.pw\n  \
mailctl account add inventories/lab.yaml bayu@tgg.net.id --mailbox mbox-2 --password-file bayu.pw\n  \
mailctl account list inventories/lab.yaml --mailbox mbox-2 --format json\n  \
mailctl account show inventories/lab.yaml budi@tgg.net.id\n  \
mailctl account import inventories/lab.yaml staff.csv   # columns: address,name,mailbox,password_file\n  \
mailctl account remove inventories/lab.yaml ani@tgg.net.id --purge\n  \
mailctl account purge-moved inventories/lab.yaml siti@tgg.net.id")]
pub struct Args {
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AccountCommand {
    /// Creates an account on a mailbox host (`auto`: the one with the most room).
    Add {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
        /// A mailbox host, or `auto`.
        #[arg(long, value_name = "HOST|auto", default_value = "auto")]
        mailbox: String,
        /// The password is the file's first line. Without it a terminal is asked.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Display name [default: the local part].
        #[arg(long)]
        name: Option<String>,
    },
    /// Every account: address, name, mailbox host, state.
    List {
        /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        /// Only the accounts on this mailbox host.
        #[arg(long, value_name = "HOST")]
        mailbox: Option<String>,
    },
    /// One account, and where the next new account would be placed and why.
    Show {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
    },
    /// Deletes an account; refused while its mailbox holds mail, unless --purge.
    Remove {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
        /// Delete its mail too, on every mailbox host.
        #[arg(long)]
        purge: bool,
    },
    /// Creates the accounts of a CSV file (address,name,mailbox,password_file), all rows
    /// checked first; accounts that exist already are skipped.
    Import {
        /// [INVENTORY] FILE.csv
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] FILE", required = true)]
        args: Vec<String>,
        /// Check and place every row, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Deletes the closed copies a finished move left on the account's old hosts.
    PurgeMoved {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Serialize)]
pub struct AccountInfo {
    pub address: String,
    pub name: String,
    /// The mailbox host's name in the inventory (its FQDN when the inventory has no such host).
    pub mailbox: String,
    pub mail_host: String,
    pub state: String,
}

/// `[INVENTORY] X` positional arguments: the inventory when given, and X.
fn inventory_and(args: &[String]) -> (Option<PathBuf>, String) {
    match args {
        [x] => (None, x.clone()),
        [inv, x, ..] => (Some(PathBuf::from(inv)), x.clone()),
        [] => (None, String::new()),
    }
}

pub fn exec(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let (inventory, operand) = match &args.command {
        AccountCommand::List { inventory, .. } => (inventory.clone(), String::new()),
        AccountCommand::Add { args, .. }
        | AccountCommand::Show { args }
        | AccountCommand::Remove { args, .. }
        | AccountCommand::Import { args, .. }
        | AccountCommand::PurgeMoved { args } => inventory_and(args),
    };
    let path = super::inventory_path(cli, &inventory);
    let cluster = match super::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    if let AccountCommand::Import { dry_run, .. } = &args.command {
        return import(cli, &cluster, Path::new(&operand), *dry_run);
    }
    if let AccountCommand::List { mailbox, .. } = &args.command {
        let mailbox = match mailbox {
            Some(name) => match cluster.host(name).filter(|h| h.has(Role::Mailbox)) {
                Some(h) => Some(h.fqdn.clone()),
                None => {
                    eprintln!("error: --mailbox {name}: no mailbox host of that name in {}", path.display());
                    return Ok(EXIT_USAGE);
                }
            },
            None => None,
        };
        return block_on_ldap(&cluster, async |ldap| {
            let accounts = read_accounts(ldap, &cluster, mailbox.as_deref()).await?;
            print_list(cli.format, &accounts)?;
            Ok(EXIT_OK)
        });
    }
    let user = match address::parse(&operand, &cluster) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    match &args.command {
        AccountCommand::Show { .. } => show(cli, &cluster, &user.full),
        AccountCommand::Add { mailbox, password_file, name, .. } => {
            let mailbox = match manage::mailbox_choice(&cluster, mailbox) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: --mailbox: {e}");
                    return Ok(EXIT_USAGE);
                }
            };
            let password = match password(password_file.as_deref(), &user.full) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(EXIT_USAGE);
                }
            };
            let account = NewAccount {
                address: user,
                name: name.clone(),
                mailbox,
                password: Some(password),
                origin: String::new(),
            };
            add_many(cli, &cluster, vec![account], false)
        }
        AccountCommand::Remove { purge, .. } => remove(&cluster, &path, &user.full, *purge),
        AccountCommand::PurgeMoved { .. } => purge_moved(&cluster, &user.full),
        AccountCommand::List { .. } | AccountCommand::Import { .. } => unreachable!("handled above"),
    }
}

/// Runs `job` with a directory connection on the LDAP provider.
fn block_on_ldap(cluster: &Cluster, job: impl AsyncFnOnce(&mut Ldap) -> anyhow::Result<u8>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let provider = ldap_provider(cluster)?;
        let session = connect(cluster, provider).await?;
        let mut ldap = Ldap::connect(&session).await?;
        let result = job(&mut ldap).await;
        ldap.close().await;
        session.close().await;
        result
    })
}

fn show(cli: &Cli, cluster: &Cluster, user: &str) -> anyhow::Result<u8> {
    block_on_ldap(cluster, async |ldap| {
        let accounts = read_accounts(ldap, cluster, None).await?;
        let placer = Placer::new(cluster, accounts.iter().map(|a| a.mail_host.as_str()));
        let Some(account) = accounts.iter().find(|a| a.address == user) else {
            eprintln!("error: no account {user} in the directory");
            return Ok(super::EXIT_FAILED);
        };
        print_one(cli.format, account, &placer)?;
        Ok(EXIT_OK)
    })
}

/// The new account's password: from the file, else asked twice on a terminal.
fn password(file: Option<&Path>, user: &str) -> Result<String, String> {
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

fn import(cli: &Cli, cluster: &Cluster, csv: &Path, dry_run: bool) -> anyhow::Result<u8> {
    match manage::read_csv(csv, cluster) {
        Ok(rows) => add_many(cli, cluster, rows, dry_run),
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) in {}; nothing was written", problems.len(), csv.display());
            Ok(EXIT_USAGE)
        }
    }
}

#[derive(Debug, Serialize)]
struct Added {
    address: String,
    mailbox: String,
    /// added, exists (already there, skipped), would_add (dry run)
    result: &'static str,
}

/// Places and writes accounts; ones already in the directory are reported and skipped.
fn add_many(cli: &Cli, cluster: &Cluster, accounts: Vec<NewAccount>, dry_run: bool) -> anyhow::Result<u8> {
    let single = accounts.len() == 1;
    block_on_ldap(cluster, async |ldap| {
        let layout = Layout::new(cluster);
        let existing = manage::existing(ldap, &layout).await?;
        let mut placer = Placer::new(cluster, existing.iter().map(|(_, h)| h.as_str()));
        let mut results = Vec::new();
        for account in &accounts {
            if let Some((_, fqdn)) = existing.iter().find(|(a, _)| *a == account.address.full) {
                let on = manage::host_name(cluster, fqdn);
                if single {
                    eprintln!("error: {} exists already (on {on})", account.address.full);
                    return Ok(super::EXIT_FAILED);
                }
                results.push(Added { address: account.address.full.clone(), mailbox: on, result: "exists" });
                continue;
            }
            let host = match &account.mailbox {
                Some(name) => {
                    let h = cluster.host(name).context("mailbox host")?;
                    placer.count(&h.fqdn);
                    h
                }
                None => {
                    let load = placer.place().context("the cluster has no mailbox host")?;
                    cluster.host(&load.host).context("placed host")?
                }
            };
            if !dry_run {
                manage::add(ldap, &layout, account, host).await?;
            }
            let result = if dry_run { "would_add" } else { "added" };
            results.push(Added { address: account.address.full.clone(), mailbox: host.name.clone(), result });
        }
        if cli.format == Format::Json {
            outln!("{}", serde_json::to_string_pretty(&results)?);
        } else {
            for r in &results {
                outln!("{:<10} {} on {}", r.result.replace('_', " "), r.address, r.mailbox);
            }
            let added = results.iter().filter(|r| r.result != "exists").count();
            outln!(
                "{added} account(s) {}, {} already there",
                if dry_run { "to add" } else { "added" },
                results.len() - added
            );
        }
        Ok(EXIT_OK)
    })
}

fn remove(cluster: &Cluster, inventory: &Path, user: &str, purge: bool) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (fleet, mut ldap) = super::move_account::connect_all(cluster).await?;
        let layout = Layout::new(cluster);
        let result = async {
            let entry = read_entry(&mut ldap, &layout, user).await?.with_context(|| format!("no account {user} in the directory"))?;
            if entry.state == "moving" || entry.move_target.is_some() {
                bail!("{user} is in the middle of a move: finish it (`move-account --resume`) or roll it back (`--abort`) first");
            }
            let mailboxes: Vec<&Host> = cluster.hosts_with(Role::Mailbox).collect();
            let home = host_by_fqdn(cluster, &entry.mail_host);
            if let Some(h) = home {
                let (messages, bytes) = mailstore::totals(&mailstore::folders(fleet.get(&h.name), user).await?);
                if messages > 0 && !purge {
                    bail!(
                        "{user} holds {messages} message(s) ({:.1} MB) on {}: add --purge to delete them with the account",
                        bytes as f64 / 1e6,
                        h.name
                    );
                }
            }
            ldap.delete(&entry.dn).await?;
            let names: Vec<&str> = mailboxes.iter().map(|h| h.name.as_str()).collect();
            fleet.flush_auth_caches(user, &names).await?;
            fleet.kick(user, &names).await?;
            let mut purged = Vec::new();
            for h in &mailboxes {
                if mailstore::has_home(fleet.get(&h.name), user).await? {
                    mailstore::remove_home(fleet.get(&h.name), user).await?;
                    purged.push(h.name.clone());
                }
            }
            outln!("removed {user}{}", if purged.is_empty() { String::new() } else { format!("; mail deleted on {}", purged.join(", ")) });
            if cluster.accounts.iter().any(|a| a.address == user) {
                eprintln!(
                    "warning: {user} is listed in {}: the next deploy creates it again unless it is taken out there",
                    inventory.display()
                );
            }
            Ok(())
        }
        .await;
        ldap.close().await;
        fleet.close().await;
        result.map(|()| EXIT_OK)
    })
}

fn purge_moved(cluster: &Cluster, user: &str) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (fleet, mut ldap) = super::move_account::connect_all(cluster).await?;
        let layout = Layout::new(cluster);
        let result = async {
            let entry = read_entry(&mut ldap, &layout, user)
                .await?
                .with_context(|| format!("no account {user} in the directory"))?;
            if entry.state != "active" || entry.move_target.is_some() {
                bail!("{user} is in the middle of a move: its old copy is still needed");
            }
            let home = host_by_fqdn(cluster, &entry.mail_host)
                .with_context(|| format!("{user} lives on {}, not a host of this inventory", entry.mail_host))?;
            let mut purged = Vec::new();
            for h in cluster.hosts_with(Role::Mailbox).filter(|h| h.name != home.name) {
                let session = fleet.get(&h.name);
                if mailstore::has_home(session, user).await? {
                    mailstore::remove_home(session, user).await?;
                    purged.push(h.name.clone());
                }
            }
            if purged.is_empty() {
                outln!("{user}: no old copy outside {}", home.name);
            } else {
                outln!("{user}: old copy deleted on {} (it lives on {})", purged.join(", "), home.name);
            }
            Ok(())
        }
        .await;
        ldap.close().await;
        fleet.close().await;
        result.map(|()| EXIT_OK)
    })
}

/// The LDAP host writes go to: the provider, never a replica.
pub fn ldap_provider(cluster: &Cluster) -> anyhow::Result<&Host> {
    cluster
        .hosts_with(Role::Ldap)
        .find(|h| h.ldap_replica_of.is_none())
        .context("the inventory has no LDAP provider host")
}

pub async fn connect(cluster: &Cluster, host: &Host) -> anyhow::Result<Session> {
    let config = SshConfigFile::load_default()?;
    Ok(Session::connect_host(host, &cluster.base_dir(), &config, &ConnectOptions::default(), &KeyStore::default())
        .await?)
}

async fn read_accounts(
    ldap: &mut Ldap,
    cluster: &Cluster,
    mail_host: Option<&str>,
) -> anyhow::Result<Vec<AccountInfo>> {
    let layout = Layout::new(cluster);
    let filter = match mail_host {
        Some(h) => format!("(&(objectClass=inetLocalMailRecipient)(mailHost={}))", ldap3::ldap_escape(h)),
        None => "(objectClass=inetLocalMailRecipient)".to_string(),
    };
    let entries = ldap.search(&layout.accounts_base(), &filter, &["mail", "cn", "mailHost", "mailctlState"]).await?;
    let mut out: Vec<AccountInfo> = entries
        .iter()
        .map(|e| {
            let v = first_values(e);
            let mail_host = v.get("mailhost").cloned().unwrap_or_default();
            let mailbox = cluster
                .hosts
                .iter()
                .find(|h| h.fqdn.eq_ignore_ascii_case(&mail_host))
                .map(|h| h.name.clone())
                .unwrap_or_else(|| mail_host.clone());
            AccountInfo {
                address: v.get("mail").cloned().unwrap_or_default(),
                name: v.get("cn").cloned().unwrap_or_default(),
                mailbox,
                mail_host,
                state: v.get("mailctlstate").cloned().unwrap_or_else(|| "active".into()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(out)
}

fn print_list(format: Format, accounts: &[AccountInfo]) -> anyhow::Result<()> {
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(accounts)?);
        return Ok(());
    }
    let mut t = super::table(["address", "name", "mailbox", "state"]);
    for a in accounts {
        t.add_row([a.address.clone(), a.name.clone(), a.mailbox.clone(), a.state.clone()]);
    }
    outln!("{t}\n{} account(s)", accounts.len());
    Ok(())
}

fn print_one(format: Format, a: &AccountInfo, placer: &Placer) -> anyhow::Result<()> {
    if format == Format::Json {
        let v =
            serde_json::json!({"account": a, "placement": {"hosts": placer.loads, "explanation": placer.explain()}});
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!(
        "address:  {}\nname:     {}\nmailbox:  {} ({})\nstate:    {}",
        a.address,
        a.name,
        a.mailbox,
        a.mail_host,
        a.state
    );
    outln!("placement: {}", placer.explain());
    Ok(())
}
