//! `mailctl account list|show`: the directory's accounts, read with ldap3 over the LDAP
//! provider's SSH session.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::{Cli, EXIT_OK, EXIT_USAGE, Format};
use crate::accounts::{address, placement::Placer};
use crate::directory::Layout;
use crate::directory::ldap::{Ldap, first_values};
use crate::inventory::model::{Cluster, Host, Role};
use crate::remote::keys::KeyStore;
use crate::remote::{ConnectOptions, Session, SshConfigFile};

/// The cluster's accounts as the directory has them.
#[derive(clap::Args, Debug)]
#[command(after_help = "The directory is read on the LDAP provider through its SSH connection (ldap3 over slapd's \
ldapi socket, SASL EXTERNAL as root): no LDAP password is needed or sent.\n\n\
Examples:\n  mailctl account list inventories/lab.yaml\n  mailctl account list inventories/lab.yaml --mailbox mbox-2 --format json\n  \
mailctl account show inventories/lab.yaml budi@tgg.net.id")]
pub struct Args {
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AccountCommand {
    /// Every account: address, name, mailbox host, state.
    List {
        /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
        inventory: Option<PathBuf>,
        /// Only the accounts on this mailbox host.
        #[arg(long, value_name = "HOST")]
        mailbox: Option<String>,
    },
    /// One account, and where the next new account would be placed and why.
    Show {
        /// Inventory file, then the address; or only the address (inventory from -i).
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER")]
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

pub fn exec(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let (inventory, user) = match &args.command {
        AccountCommand::List { inventory, .. } => (inventory.clone(), None),
        AccountCommand::Show { args } => match args.as_slice() {
            [user] => (None, Some(user.clone())),
            [inv, user] => (Some(PathBuf::from(inv)), Some(user.clone())),
            _ => unreachable!("clap bounds the count"),
        },
    };
    let path = super::inventory_path(cli, &inventory).to_path_buf();
    let cluster = match super::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let mailbox = match &args.command {
        AccountCommand::List { mailbox: Some(name), .. } => match cluster.host(name).filter(|h| h.has(Role::Mailbox)) {
            Some(h) => Some(h.fqdn.clone()),
            None => {
                eprintln!("error: --mailbox {name}: no mailbox host of that name in {}", path.display());
                return Ok(EXIT_USAGE);
            }
        },
        _ => None,
    };
    let user = match user.map(|u| address::parse(&u, &cluster)).transpose() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let provider = ldap_provider(&cluster)?;
        let session = connect(&cluster, provider).await?;
        let mut ldap = Ldap::connect(&session).await?;
        let accounts = read_accounts(&mut ldap, &cluster, mailbox.as_deref()).await?;
        ldap.close().await;
        session.close().await;
        match &user {
            None => print_list(cli.format, &accounts)?,
            Some(u) => {
                let all: Vec<&str> = accounts.iter().map(|a| a.mail_host.as_str()).collect();
                let placer = Placer::new(&cluster, all);
                let Some(account) = accounts.iter().find(|a| a.address == u.full) else {
                    eprintln!("error: no account {} in the directory", u.full);
                    return Ok(super::EXIT_FAILED);
                };
                print_one(cli.format, account, &placer)?;
            }
        }
        Ok(EXIT_OK)
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
        println!("{}", serde_json::to_string_pretty(accounts)?);
        return Ok(());
    }
    let mut t = super::table(["address", "name", "mailbox", "state"]);
    for a in accounts {
        t.add_row([a.address.clone(), a.name.clone(), a.mailbox.clone(), a.state.clone()]);
    }
    println!("{t}\n{} account(s)", accounts.len());
    Ok(())
}

fn print_one(format: Format, a: &AccountInfo, placer: &Placer) -> anyhow::Result<()> {
    if format == Format::Json {
        let v =
            serde_json::json!({"account": a, "placement": {"hosts": placer.loads, "explanation": placer.explain()}});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "address:  {}\nname:     {}\nmailbox:  {} ({})\nstate:    {}",
        a.address, a.name, a.mailbox, a.mail_host, a.state
    );
    println!("placement: {}", placer.explain());
    Ok(())
}
