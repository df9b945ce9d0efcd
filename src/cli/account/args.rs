//! `mailctl account`'s arguments.

use std::path::PathBuf;

/// The cluster's accounts as the directory has them.
#[derive(clap::Args, Debug)]
#[command(after_help = "The directory is read and written on the LDAP provider through its SSH connection (ldap3 \
over slapd's ldapi socket, SASL EXTERNAL as root): no LDAP password is needed or sent.\n\n\
Examples:\n  mailctl account add inventories/lab.yaml ani@tgg.net.id --name Ani --password-file ani.pw\n  \
mailctl account add inventories/lab.yaml bayu@tgg.net.id --mailbox mbox-2 --password-file bayu.pw\n  \
mailctl account list inventories/lab.yaml --mailbox mbox-2 --format json\n  \
mailctl account show inventories/lab.yaml budi@tgg.net.id\n  \
mailctl account import inventories/lab.yaml staff.csv   # columns: address,name,mailbox,password_file,...\n  \
mailctl account export inventories/lab.yaml --out accounts.csv\n  \
mailctl account quota inventories/lab.yaml siti@tgg.net.id 5G\n  \
mailctl account class inventories/lab.yaml siti@tgg.net.id staff\n  \
mailctl account rename inventories/lab.yaml siti@tgg.net.id siti.rahma@tgg.net.id\n  \
mailctl account remove inventories/lab.yaml ani@tgg.net.id --purge\n  \
mailctl account purge-moved inventories/lab.yaml siti@tgg.net.id\n  \
mailctl account passwd inventories/lab.yaml siti@tgg.net.id --password-file new.pw\n  \
mailctl account set-status inventories/lab.yaml siti@tgg.net.id locked\n  \
mailctl account alias add inventories/lab.yaml siti@tgg.net.id info@tgg.net.id\n  \
mailctl account forward inventories/lab.yaml siti@tgg.net.id --to siti@example.org --keep-copy\n\n\
Statuses: active; locked (no login, mail still delivered); maintenance (no login, mail held \
in the MTAs' queues, delivered once the account is active again); closed (no login, mail \
refused with 550).\n\n\
Quota: an account's own quota, else its class of service's, else cluster.quota. A mailbox \
over quota takes no more mail: it waits in the MTAs' queues (452 4.2.2 from the mailbox \
host) and is delivered once there is room, or returned to the sender when the queue gives \
up (5 days); IMAP APPEND and COPY are refused with [OVERQUOTA].")]
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
        /// A class of service of the inventory (its quota and limits).
        #[arg(long, value_name = "NAME")]
        class: Option<String>,
        /// The account's own quota (e.g. 5G, unlimited), over its class's.
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
    },
    /// Every account: address, name, mailbox host, state, mailbox size and quota use.
    List {
        /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        /// Only the accounts on this mailbox host.
        #[arg(long, value_name = "HOST")]
        mailbox: Option<String>,
        /// Read the directory only: no mailbox sizes (no connection to the mailbox hosts).
        #[arg(long)]
        no_usage: bool,
    },
    /// One account, its quota and use, and where the next new account would go and why.
    Show {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
    },
    /// Sets an account's own quota (e.g. 5G, unlimited), or `default` for its class's or the
    /// cluster's.
    Quota {
        /// [INVENTORY] USER SIZE|default
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] USER SIZE|default", required = true)]
        args: Vec<String>,
    },
    /// Puts an account in a class of service of the inventory, or `none`.
    Class {
        /// [INVENTORY] USER NAME|none
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] USER NAME|none", required = true)]
        args: Vec<String>,
    },
    /// Renames an account (OLD becomes an alias of NEW): mail, folders, flags, aliases and
    /// list memberships follow; mail arriving meanwhile waits in the queue.
    Rename {
        /// [INVENTORY] OLD NEW
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] OLD NEW", required = true)]
        args: Vec<String>,
    },
    /// Writes every account as CSV (what `import` reads: passwords as hashes, status, class,
    /// quota, aliases, forwarding).
    Export {
        /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
        #[arg(id = "inventory_file", value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        /// Write here (mode 0600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
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
    /// Creates the accounts of a CSV file (the columns `export` writes: address, name,
    /// mailbox, password_file or password_hash, class, quota, status, aliases, forward,
    /// keep_copy), all rows checked first; accounts that exist already are skipped.
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
    /// Sets an account's password; the old one stops working at once on every host.
    Passwd {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
        /// The password is the file's first line. Without it a terminal is asked.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Sets an account's status: active, locked, maintenance or closed.
    SetStatus {
        /// [INVENTORY] USER STATUS
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] USER STATUS", required = true)]
        args: Vec<String>,
    },
    /// An account's aliases: other addresses that lead to it (and that it may send as).
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
    /// Forwards an account's mail (--to, inside the cluster or out), with --keep-copy or not;
    /// --off stops forwarding.
    Forward {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
        /// Where to forward (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "ADDRESSES", required_unless_present = "off")]
        to: Vec<String>,
        /// Deliver to the account too.
        #[arg(long, conflicts_with = "off")]
        keep_copy: bool,
        /// Stop forwarding.
        #[arg(long, conflicts_with = "to")]
        off: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum AliasCommand {
    /// Adds ALIAS to USER; refused when the address is an account or another's alias.
    Add {
        /// [INVENTORY] USER ALIAS
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] USER ALIAS", required = true)]
        args: Vec<String>,
    },
    /// Removes ALIAS from USER: mail to it is refused from then on.
    Remove {
        /// [INVENTORY] USER ALIAS
        #[arg(num_args = 2..=3, value_name = "[INVENTORY] USER ALIAS", required = true)]
        args: Vec<String>,
    },
    /// USER's aliases.
    List {
        /// [INVENTORY] USER
        #[arg(num_args = 1..=2, value_name = "[INVENTORY] USER", required = true)]
        args: Vec<String>,
    },
}
