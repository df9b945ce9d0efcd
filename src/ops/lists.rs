//! `mailctl list`: distribution lists. A list's address is one of the cluster's own and used
//! by nothing else (`accounts::entry::address_use`); members are any addresses, those of the
//! cluster's domains being accounts or aliases. A list inside a list is refused, so no loop
//! can be made and every member gets a message once.

use anyhow::{Context, bail};

use super::{Ops, with_directory, with_sessions};
use crate::accounts::entry::{self, AddressUse};
use crate::accounts::lists::{self, List};
use crate::directory::Layout;
use crate::inventory::address::Address;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Delete,
    Add,
    Remove,
    Show,
}

/// Carries out `change` on the list at `address` (with `members` for Add and Remove) and
/// says what the list is afterwards (empty members when deleted).
pub async fn run(ops: &Ops<'_>, address: &Address, change: Change, members: &[Address]) -> anyhow::Result<List> {
    let cluster = ops.cluster;
    let list = address.full.as_str();
    if change == Change::Show {
        // Reading needs the directory only, not a session to every host.
        let layout = Layout::new(cluster);
        let found = with_directory(ops, async |ldap| lists::read(ldap, &layout, list).await).await?;
        return found.with_context(|| format!("no list {list}: create it with `mailctl list create {list}`"));
    }
    with_sessions(ops, async |s| {
        let layout = Layout::new(cluster);
        let ldap = s.ldap.as_mut();
        let current = lists::read(ldap, &layout, list).await?;
        let after = match (change, current) {
            (Change::Create, None) => {
                match entry::address_use(ldap, &layout, list).await? {
                    Some(AddressUse::Account) => bail!("{list} is an account"),
                    Some(AddressUse::AliasOf(owner)) => bail!("{list} is an alias of {owner}"),
                    Some(AddressUse::List) | None => {}
                }
                lists::create(ldap, &layout, list).await?;
                List { address: list.to_string(), members: Vec::new() }
            }
            (Change::Create, Some(_)) => bail!("the list {list} exists already"),
            (_, None) => bail!("no list {list}: create it with `mailctl list create {list}`"),
            (Change::Show, Some(l)) => return Ok(l),
            (Change::Delete, Some(_)) => {
                lists::delete(ldap, &layout, list).await?;
                List { address: list.to_string(), members: Vec::new() }
            }
            (Change::Add, Some(mut l)) => {
                for m in members {
                    check_member(ldap, &layout, cluster, list, m).await?;
                    if !l.members.contains(&m.full) {
                        l.members.push(m.full.clone());
                    }
                }
                l.members.sort();
                lists::set_members(ldap, &layout, list, &l.members).await?;
                l
            }
            (Change::Remove, Some(mut l)) => {
                for m in members {
                    if !l.members.contains(&m.full) {
                        bail!("{} is not a member of {list}", m.full);
                    }
                }
                l.members.retain(|x| !members.iter().any(|m| m.full == *x));
                lists::set_members(ldap, &layout, list, &l.members).await?;
                l
            }
        };
        s.fleet.reload_mtas().await?;
        Ok(after)
    })
    .await
}

/// A member of one of the cluster's domains must receive mail here (an account or an alias);
/// a list is refused (no nesting); an outside address is taken as it is.
async fn check_member(
    ldap: &mut dyn crate::directory::client::DirectoryClient,
    layout: &Layout,
    cluster: &crate::inventory::Cluster,
    list: &str,
    m: &Address,
) -> anyhow::Result<()> {
    if m.full == list {
        bail!("{list} cannot be a member of itself");
    }
    if !m.served_by(&cluster.domains) {
        return Ok(());
    }
    match entry::address_use(ldap, layout, &m.full).await? {
        Some(AddressUse::List) => bail!("{} is a list: lists inside lists are refused", m.full),
        Some(_) => Ok(()),
        None => Err(anyhow::anyhow!("{} is in the cluster's domains but no account or alias has it", m.full))
            .context("members of the cluster's own domains must exist"),
    }
}
