//! An account's directory entry, read one way everywhere: address, name, mailbox host, state
//! and the mark of a move in progress.

use crate::directory::Layout;
pub use crate::directory::account_state::AccountState;
use crate::directory::client::{DirectoryClient, SearchEntry, first_values};

#[derive(Debug, Clone)]
pub struct AccountEntry {
    pub dn: String,
    pub address: String,
    pub name: String,
    /// The FQDN of the mailbox host (`mailHost`).
    pub mail_host: String,
    pub state: AccountState,
    /// Set while a move to that FQDN is in progress.
    pub move_target: Option<String>,
    /// Other addresses that lead to this account (`mailLocalAddress`).
    pub aliases: Vec<String>,
    /// Where its mail is forwarded (`mailctlForward`), and whether it keeps a copy.
    pub forward: Vec<String>,
    pub keep_copy: bool,
    /// Its class of service (`mailctlClassOfService`) and own quota in bytes (`mailctlQuota`).
    pub class: Option<String>,
    pub quota: Option<u64>,
}

impl AccountEntry {
    /// Neither moving nor claimed by a move.
    pub fn is_settled(&self) -> bool {
        self.state != AccountState::Moving && self.move_target.is_none()
    }

    /// An error saying what to do when the account is in the middle of a move.
    pub fn ensure_settled(&self) -> anyhow::Result<()> {
        if !self.is_settled() {
            anyhow::bail!(
                "{} is in the middle of a move: finish it (`move-account --resume`) or roll it back (`--abort`) first",
                self.address
            );
        }
        Ok(())
    }
}

const ATTRS: [&str; 10] = [
    "mail",
    "cn",
    "mailHost",
    "mailctlState",
    "mailctlMoveTarget",
    "mailLocalAddress",
    "mailctlForward",
    "mailctlForwardKeepCopy",
    "mailctlClassOfService",
    "mailctlQuota",
];

/// The filter an entry must match for a move to claim it: active and not claimed.
pub const MOVABLE: &str = "(&(mailctlState=active)(!(mailctlMoveTarget=*)))";

/// Every value of `attr` (names compared without case, as LDAP does).
fn all_values(e: &SearchEntry, attr: &str) -> Vec<String> {
    let mut out: Vec<String> =
        e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr)).flat_map(|(_, v)| v.clone()).collect();
    out.sort();
    out
}

fn from_search(e: &SearchEntry) -> AccountEntry {
    let v = first_values(e);
    AccountEntry {
        dn: e.dn.clone(),
        address: v.get("mail").cloned().unwrap_or_default(),
        name: v.get("cn").cloned().unwrap_or_default(),
        mail_host: v.get("mailhost").cloned().unwrap_or_default(),
        state: AccountState::parse(v.get("mailctlstate").map(String::as_str)),
        move_target: v.get("mailctlmovetarget").cloned(),
        aliases: all_values(e, "mailLocalAddress"),
        forward: all_values(e, "mailctlForward"),
        keep_copy: v.get("mailctlforwardkeepcopy").is_some_and(|b| b.eq_ignore_ascii_case("TRUE")),
        class: v.get("mailctlclassofservice").cloned(),
        quota: v.get("mailctlquota").and_then(|q| q.parse().ok()),
    }
}

/// The entry of `address`, if the directory has it.
pub async fn read(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
    address: &str,
) -> anyhow::Result<Option<AccountEntry>> {
    let dn = layout.account_dn(address);
    Ok(ldap.read(&dn, &ATTRS).await?.as_ref().map(from_search))
}

/// The entry of `address`; its absence is the error.
pub async fn existing(ldap: &mut dyn DirectoryClient, layout: &Layout, address: &str) -> anyhow::Result<AccountEntry> {
    read(ldap, layout, address).await?.ok_or_else(|| anyhow::anyhow!("no account {address} in the directory"))
}

/// Every account (on `mail_host` only, when given), sorted by address.
pub async fn read_all(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
    mail_host: Option<&str>,
) -> anyhow::Result<Vec<AccountEntry>> {
    let filter = match mail_host {
        Some(h) => format!("(&(objectClass=inetLocalMailRecipient)(mailHost={}))", ldap3::ldap_escape(h)),
        None => "(objectClass=inetLocalMailRecipient)".to_string(),
    };
    let entries = ldap.search(&layout.accounts_base(), &filter, &ATTRS).await?;
    let mut out: Vec<AccountEntry> = entries.iter().map(from_search).collect();
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(out)
}

/// What an address is in the directory: an account's own, or another account's alias. One
/// place decides it, for adding accounts and aliases alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressUse {
    Account,
    AliasOf(String),
    List,
}

/// Whether `address` is taken, and by what.
pub async fn address_use(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
    address: &str,
) -> anyhow::Result<Option<AddressUse>> {
    let a = ldap3::ldap_escape(address);
    let filter = format!("(&(objectClass=inetLocalMailRecipient)(|(mail={a})(mailLocalAddress={a})))");
    let found = ldap.search(&layout.accounts_base(), &filter, &ATTRS).await?;
    if let Some(e) = found.iter().map(from_search).next() {
        let account = e.address.eq_ignore_ascii_case(address);
        return Ok(Some(if account { AddressUse::Account } else { AddressUse::AliasOf(e.address) }));
    }
    let list = ldap.search(&layout.lists_base(), &format!("(&(objectClass=mailctlList)(mail={a}))"), &["mail"]).await?;
    Ok((!list.is_empty()).then_some(AddressUse::List))
}
