//! `account export`: every account as the CSV `account import` reads, so an import on another
//! cluster rebuilds its accounts. Passwords go out as the directory's hashes, never plaintext.

use std::collections::BTreeMap;

use super::{Ops, with_directory};
use crate::accounts::entry::{self, AccountEntry, AccountState};
use crate::accounts::manage::{self, CSV_COLUMNS};
use crate::accounts::quota;
use crate::directory::Layout;
use crate::directory::client::first_values;

/// The CSV text (header first, accounts by address) and how many accounts it holds.
pub async fn export(ops: &Ops<'_>) -> anyhow::Result<(String, usize)> {
    let layout = Layout::new(ops.cluster);
    let (accounts, hashes) = with_directory(ops, async |ldap| {
        let accounts = entry::read_all(ldap, &layout, None).await?;
        let found = ldap
            .search(&layout.accounts_base(), "(objectClass=inetLocalMailRecipient)", &["mail", "userPassword"])
            .await?;
        let hashes: BTreeMap<String, String> = found
            .iter()
            .map(first_values)
            .filter_map(|v| Some((v.get("mail")?.clone(), v.get("userpassword")?.clone())))
            .collect();
        Ok((accounts, hashes))
    })
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS.iter().filter(|c| **c != "password_file"))?;
    for a in &accounts {
        out.write_record(row(ops, a, hashes.get(&a.address)))?;
    }
    let text = String::from_utf8(out.into_inner()?)?;
    Ok((text, accounts.len()))
}

/// One account's fields, in `CSV_COLUMNS` order without `password_file`.
fn row(ops: &Ops<'_>, a: &AccountEntry, hash: Option<&String>) -> [String; 10] {
    // A move in progress ends with the account active; its status is that.
    let state = if a.state == AccountState::Moving { AccountState::Active } else { a.state.clone() };
    [
        a.address.clone(),
        a.name.clone(),
        manage::host_name(ops.cluster, &a.mail_host),
        hash.cloned().unwrap_or_default(),
        a.class.clone().unwrap_or_default(),
        a.quota.map(quota::format_size).unwrap_or_default(),
        state.as_str().to_string(),
        a.aliases.join(" "),
        a.forward.join(" "),
        if a.keep_copy { "true".into() } else { String::new() },
    ]
}
