//! Distribution lists in the directory: `cn=<address>,ou=lists,<suffix>`, objectClass
//! `mailctlList`, one `mailctlMember` per address mail to the list goes to. The MTAs expand
//! them (templates/postfix/ldap-lists.cf).

use serde::Serialize;

use crate::directory::Layout;
use crate::directory::client::{DirectoryClient, SearchEntry, first_values};

#[derive(Debug, Clone, Serialize)]
pub struct List {
    pub address: String,
    pub members: Vec<String>,
}

fn from_search(e: &SearchEntry) -> List {
    let mut members: Vec<String> =
        e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case("mailctlMember")).flat_map(|(_, v)| v.clone()).collect();
    members.sort();
    List { address: first_values(e).get("mail").cloned().unwrap_or_default(), members }
}

/// The list at `address`, if there is one.
pub async fn read(ldap: &mut dyn DirectoryClient, layout: &Layout, address: &str) -> anyhow::Result<Option<List>> {
    Ok(ldap.read(&layout.list_dn(address), &["mail", "mailctlMember"]).await?.as_ref().map(from_search))
}

/// Every list's address.
pub async fn addresses(ldap: &mut dyn DirectoryClient, layout: &Layout) -> anyhow::Result<Vec<String>> {
    let found = ldap.search(&layout.lists_base(), "(objectClass=mailctlList)", &["mail"]).await?;
    Ok(found.iter().map(|e| from_search(e).address).collect())
}

pub async fn create(ldap: &mut dyn DirectoryClient, layout: &Layout, address: &str) -> anyhow::Result<()> {
    let dn = layout.list_dn(address);
    ldap.add(&dn, vec![("objectClass", vec!["mailctlList"]), ("cn", vec![address]), ("mail", vec![address])]).await?;
    Ok(())
}

pub async fn set_members(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
    address: &str,
    members: &[String],
) -> anyhow::Result<()> {
    let values: Vec<&str> = members.iter().map(String::as_str).collect();
    ldap.replace(&layout.list_dn(address), &[("mailctlMember", values)]).await?;
    Ok(())
}

pub async fn delete(ldap: &mut dyn DirectoryClient, layout: &Layout, address: &str) -> anyhow::Result<()> {
    ldap.delete(&layout.list_dn(address)).await?;
    Ok(())
}
