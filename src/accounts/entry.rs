//! An account's directory entry, read one way everywhere: address, name, mailbox host, state
//! and the mark of a move in progress.

use serde::Serialize;

use crate::directory::Layout;
use crate::directory::client::{DirectoryClient, SearchEntry, first_values};

/// `mailctlState`. Absent means active; the MTAs defer mail for `moving`, Dovecot and the
/// MTAs refuse `closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum AccountState {
    Active,
    Moving,
    Closed,
    /// A value mailctl did not write; shown as it is, never treated as active.
    Other(String),
}

impl AccountState {
    pub fn parse(value: Option<&str>) -> AccountState {
        match value {
            None | Some("active") => AccountState::Active,
            Some("moving") => AccountState::Moving,
            Some("closed") => AccountState::Closed,
            Some(other) => AccountState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AccountState::Active => "active",
            AccountState::Moving => "moving",
            AccountState::Closed => "closed",
            AccountState::Other(s) => s,
        }
    }
}

impl From<AccountState> for String {
    fn from(s: AccountState) -> String {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

impl AccountEntry {
    /// Neither moving nor claimed by a move.
    pub fn is_settled(&self) -> bool {
        self.state != AccountState::Moving && self.move_target.is_none()
    }
}

const ATTRS: [&str; 5] = ["mail", "cn", "mailHost", "mailctlState", "mailctlMoveTarget"];

/// The filter an entry must match for a move to claim it: active and not claimed.
pub const MOVABLE: &str = "(&(mailctlState=active)(!(mailctlMoveTarget=*)))";

fn from_search(e: &SearchEntry) -> AccountEntry {
    let v = first_values(e);
    AccountEntry {
        dn: e.dn.clone(),
        address: v.get("mail").cloned().unwrap_or_default(),
        name: v.get("cn").cloned().unwrap_or_default(),
        mail_host: v.get("mailhost").cloned().unwrap_or_default(),
        state: AccountState::parse(v.get("mailctlstate").map(String::as_str)),
        move_target: v.get("mailctlmovetarget").cloned(),
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
