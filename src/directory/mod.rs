//! The LDAP directory: its layout (where accounts and service users live), and bringing it
//! to what the inventory says. It is read and written through a `client::DirectoryClient`:
//! ldap3 on the provider as root over ldapi:// (SASL EXTERNAL, so no password crosses the
//! wire or lands in argv), or an in-memory one in tests.

pub mod account_state;
pub mod client;
pub mod entry;
pub mod ldap;
pub mod memory;

use std::collections::BTreeMap;

use crate::accounts::placement::Placer;
use crate::accounts::quota;
use crate::inventory::model::{Account, Cluster, Host};
use crate::remote::RemoteError;
use crate::state::{ssha, ssha_matches};
use client::DirectoryClient;
pub use entry::Entry;

/// Where things live under the suffix. The templates get the same names from here.
#[derive(Debug, Clone)]
pub struct Layout {
    pub suffix: String,
}

impl Layout {
    pub fn new(cluster: &Cluster) -> Layout {
        Layout { suffix: cluster.ldap_suffix.clone() }
    }
    pub fn accounts_base(&self) -> String {
        format!("ou=accounts,{}", self.suffix)
    }
    pub fn lists_base(&self) -> String {
        format!("ou=lists,{}", self.suffix)
    }
    pub fn list_dn(&self, address: &str) -> String {
        format!("cn={address},{}", self.lists_base())
    }
    pub fn services_base(&self) -> String {
        format!("ou=services,{}", self.suffix)
    }
    pub fn admin_dn(&self) -> String {
        format!("cn=admin,{}", self.suffix)
    }
    pub fn reader_dn(&self) -> String {
        format!("cn=mail-reader,{}", self.services_base())
    }
    pub fn replicator_dn(&self) -> String {
        format!("cn=replicator,{}", self.services_base())
    }
    pub fn account_dn(&self, address: &str) -> String {
        format!("uid={address},{}", self.accounts_base())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("ldap suffix `{0}` must start with dc= or o=")]
    Suffix(String),
    #[error("LDAP {step}: {message}")]
    Ldap { step: String, message: String },
    #[error("account {address}: password: {cause}")]
    Password { address: String, cause: String },
}

/// Secrets the directory's own entries carry (service users' passwords).
pub struct ServicePasswords {
    pub reader: String,
    pub replicator: String,
}

/// One change to the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(Entry),
    /// Replaces each attribute's values.
    Replace {
        dn: String,
        attrs: Vec<(String, Vec<String>)>,
    },
}

/// What deploy changes in the directory.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DirectoryPlan {
    /// In order: parents before children.
    #[serde(skip)]
    pub changes: Vec<Change>,
    /// DNs added or changed, for the report.
    pub added: Vec<String>,
    pub changed: Vec<String>,
    /// Things deploy will not do by itself, with what to do instead.
    pub warnings: Vec<String>,
}

impl DirectoryPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Account passwords resolved from their references (plaintext: never logged).
pub type AccountPasswords = BTreeMap<String, String>;

pub fn resolve_passwords(cluster: &Cluster) -> Result<AccountPasswords, DirectoryError> {
    let mut out = AccountPasswords::new();
    for a in &cluster.accounts {
        if let Some(r) = &a.password {
            let pw = r
                .resolve(&cluster.base_dir())
                .map_err(|e| DirectoryError::Password { address: a.address.clone(), cause: e.to_string() })?;
            out.insert(a.address.clone(), pw);
        }
    }
    Ok(out)
}

/// Reads the directory and works out the changes that bring it to the inventory.
pub async fn plan(
    dir: &mut dyn DirectoryClient,
    layout: &Layout,
    cluster: &Cluster,
    services: &ServicePasswords,
    passwords: &AccountPasswords,
) -> Result<DirectoryPlan, DirectoryError> {
    let found = dir.search(&layout.suffix, "(objectClass=*)", &["*"]).await?;
    let existing: Vec<Entry> = found.iter().map(Entry::from).collect();
    plan_from(&existing, layout, cluster, services, passwords)
}

/// Carries a plan out, change by change, in its order.
pub async fn apply(dir: &mut dyn DirectoryClient, plan: &DirectoryPlan) -> Result<(), DirectoryError> {
    for change in &plan.changes {
        match change {
            Change::Add(entry) => {
                let attrs =
                    entry.attrs.iter().map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())).collect();
                dir.add(&entry.dn, attrs).await?;
            }
            Change::Replace { dn, attrs } => {
                let attrs: Vec<(&str, Vec<&str>)> =
                    attrs.iter().map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())).collect();
                dir.replace(dn, &attrs).await?;
            }
        }
    }
    Ok(())
}

pub fn plan_from(
    existing: &[Entry],
    layout: &Layout,
    cluster: &Cluster,
    services: &ServicePasswords,
    passwords: &AccountPasswords,
) -> Result<DirectoryPlan, DirectoryError> {
    let by_dn: BTreeMap<String, &Entry> = existing.iter().map(|e| (e.dn.to_ascii_lowercase(), e)).collect();
    let mut plan = DirectoryPlan::default();
    let add = |plan: &mut DirectoryPlan, entry: Entry| {
        if !by_dn.contains_key(&entry.dn.to_ascii_lowercase()) {
            plan.added.push(entry.dn.clone());
            plan.changes.push(Change::Add(entry));
        }
    };
    add(&mut plan, suffix_entry(layout, cluster)?);
    add(
        &mut plan,
        Entry::new(layout.accounts_base()).with("objectClass", &["organizationalUnit"]).with("ou", &["accounts"]),
    );
    add(
        &mut plan,
        Entry::new(layout.services_base()).with("objectClass", &["organizationalUnit"]).with("ou", &["services"]),
    );
    add(&mut plan, Entry::new(layout.lists_base()).with("objectClass", &["organizationalUnit"]).with("ou", &["lists"]));
    for (dn, name, password) in [
        (layout.reader_dn(), "mail-reader", &services.reader),
        (layout.replicator_dn(), "replicator", &services.replicator),
    ] {
        match by_dn.get(&dn.to_ascii_lowercase()) {
            None => add(
                &mut plan,
                Entry::new(&dn)
                    .with("objectClass", &["organizationalRole", "simpleSecurityObject"])
                    .with("cn", &[name])
                    .with("userPassword", &[&ssha(password)]),
            ),
            Some(e) if !e.values("userPassword").iter().any(|h| ssha_matches(h, password)) => {
                let attrs = vec![("userPassword".to_string(), vec![ssha(password)])];
                plan.changes.push(Change::Replace { dn: dn.clone(), attrs });
                plan.changed.push(dn.clone());
            }
            Some(_) => {}
        }
    }
    let mut placer = Placer::new(cluster, existing.iter().filter_map(|e| e.get("mailHost")));
    for account in &cluster.accounts {
        let dn = layout.account_dn(&account.address);
        let password = passwords.get(&account.address);
        match by_dn.get(&dn.to_ascii_lowercase()) {
            None if let Some(owner) = address_owner(existing, &account.address) => {
                plan.warnings.push(format!(
                    "{}: not created, the address belongs to {owner} (an alias or a list; `account rename` leaves the old address as an alias): take it out of the inventory",
                    account.address
                ));
            }
            None => {
                let host = match &account.mailbox {
                    Some(name) => cluster.host(name).inspect(|h| placer.count(&h.fqdn)),
                    None => placer.place().and_then(|l| cluster.host(&l.host)),
                };
                let Some(host) = host else {
                    plan.warnings.push(format!("{}: no mailbox host to place it on", account.address));
                    continue;
                };
                match account_entry(layout, cluster, account, host, password.map(|p| ssha(p))) {
                    Ok(entry) => add(&mut plan, entry),
                    Err(why) => plan.warnings.push(format!("{}: {why}", account.address)),
                }
            }
            Some(existing) => account_changes(&mut plan, existing, account, password, cluster),
        }
    }
    directory_only_changes(&mut plan, existing, cluster);
    Ok(plan)
}

/// The entry (an account through its aliases, or a list) that uses `address` already.
fn address_owner(existing: &[Entry], address: &str) -> Option<String> {
    existing
        .iter()
        .find(|e| {
            e.values("mailLocalAddress").iter().any(|a| a.eq_ignore_ascii_case(address))
                || (e.values("objectClass").iter().any(|c| c.eq_ignore_ascii_case("mailctlList"))
                    && e.get("mail").is_some_and(|m| m.eq_ignore_ascii_case(address)))
        })
        .map(|e| e.get("mail").unwrap_or(&e.dn).to_string())
}

/// Accounts the inventory does not list keep their class and own quota; their limits follow
/// the inventory's classes and default all the same.
fn directory_only_changes(plan: &mut DirectoryPlan, existing: &[Entry], cluster: &Cluster) {
    let listed: std::collections::BTreeSet<String> = cluster.accounts.iter().map(|a| a.address.clone()).collect();
    let accounts =
        existing.iter().filter(|e| e.values("objectClass").iter().any(|c| c.eq_ignore_ascii_case("mailctlAccount")));
    for entry in accounts.filter(|e| e.get("mail").is_some_and(|m| !listed.contains(m))) {
        let mut changes = Vec::new();
        let class = entry.get("mailctlClassOfService");
        let own = entry.get("mailctlQuota").and_then(|q| q.parse().ok());
        match quota_changes(entry, cluster, class, own, &mut changes) {
            Ok(()) => push_changes(plan, entry, changes),
            Err(why) => plan.warnings.push(format!(
                "{}: {why}; it keeps its last limits (define the class again, or `mailctl account class`)",
                entry.get("mail").unwrap_or_default()
            )),
        }
    }
}

fn push_changes(plan: &mut DirectoryPlan, existing: &Entry, changes: Vec<(String, Vec<String>)>) {
    if !changes.is_empty() {
        plan.changes.push(Change::Replace { dn: existing.dn.clone(), attrs: changes });
        plan.changed.push(existing.dn.clone());
    }
}

/// The class, own quota and derived limits an entry should carry, where it differs.
fn quota_changes(
    existing: &Entry,
    cluster: &Cluster,
    class: Option<&str>,
    own: Option<u64>,
    changes: &mut Vec<(String, Vec<String>)>,
) -> Result<(), String> {
    let limits = quota::limits(cluster, class, own)?;
    let own = own.map(|q| q.to_string());
    let wanted = [
        ("mailctlClassOfService", class.map(|c| vec![c.to_string()]).unwrap_or_default()),
        ("mailctlQuota", own.map(|q| vec![q]).unwrap_or_default()),
    ];
    for (attr, values) in wanted.into_iter().chain(quota::directory_values(cluster, &limits)) {
        if existing.values(attr) != values.as_slice() {
            changes.push((attr.to_string(), values));
        }
    }
    Ok(())
}

fn suffix_entry(layout: &Layout, cluster: &Cluster) -> Result<Entry, DirectoryError> {
    let first = layout.suffix.split(',').next().unwrap_or_default();
    let (attr, value) = first.split_once('=').ok_or_else(|| DirectoryError::Suffix(layout.suffix.clone()))?;
    let entry = Entry::new(&layout.suffix).with("o", &[&cluster.name]);
    match attr.trim().to_ascii_lowercase().as_str() {
        "dc" => Ok(entry.with("objectClass", &["dcObject", "organization"]).with("dc", &[value.trim()])),
        "o" => Ok(Entry::new(&layout.suffix).with("objectClass", &["organization"]).with("o", &[value.trim()])),
        _ => Err(DirectoryError::Suffix(layout.suffix.clone())),
    }
}

/// A new account's entry. `password` is the stored hash. An unknown class is the error.
pub fn account_entry(
    layout: &Layout,
    cluster: &Cluster,
    account: &Account,
    host: &Host,
    password: Option<String>,
) -> Result<Entry, String> {
    let cn = account.name.clone().unwrap_or_else(|| account.local_part.clone());
    let mut entry = Entry::new(layout.account_dn(&account.address))
        .with("objectClass", &["inetOrgPerson", "inetLocalMailRecipient", "mailctlAccount"])
        .with("uid", &[&account.address])
        .with("mail", &[&account.address])
        .with("cn", &[&cn])
        .with("sn", &[&account.local_part])
        .with("mailHost", &[&host.fqdn])
        .with("mailctlState", &[account_state::AccountState::Active.as_str()]);
    if let Some(hash) = password {
        entry = entry.with("userPassword", &[&hash]);
    }
    if let Some(class) = &account.class {
        entry = entry.with("mailctlClassOfService", &[class]);
    }
    if let Some(quota) = account.quota {
        entry = entry.with("mailctlQuota", &[&quota.to_string()]);
    }
    let limits = quota::limits(cluster, account.class.as_deref(), account.quota)?;
    for (attr, values) in quota::directory_values(cluster, &limits) {
        if !values.is_empty() {
            entry = entry.with(attr, &values.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
    Ok(entry)
}

/// Name and password follow the inventory. The mailbox host never changes here: moving
/// an account moves its mail too, which is `mailctl move-account`'s job.
fn account_changes(
    plan: &mut DirectoryPlan,
    existing: &Entry,
    account: &Account,
    password: Option<&String>,
    cluster: &Cluster,
) {
    let mut changes: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(name) = &account.name
        && existing.get("cn") != Some(name.as_str())
    {
        changes.push(("cn".into(), vec![name.clone()]));
    }
    if let Some(pw) = password
        && !existing.values("userPassword").iter().any(|h| ssha_matches(h, pw))
    {
        changes.push(("userPassword".into(), vec![ssha(pw)]));
    }
    let class = account.class.as_deref().or(existing.get("mailctlClassOfService"));
    let own = account.quota.or_else(|| existing.get("mailctlQuota").and_then(|q| q.parse().ok()));
    if let Err(why) = quota_changes(existing, cluster, class, own, &mut changes) {
        plan.warnings.push(format!("{}: {why}", account.address));
    }
    push_changes(plan, existing, changes);
    if let (Some(pinned), Some(current)) =
        (account.mailbox.as_deref().and_then(|n| cluster.host(n)), existing.get("mailHost"))
        && !pinned.fqdn.eq_ignore_ascii_case(current)
    {
        plan.warnings.push(format!(
            "{} lives on {current} but the inventory pins it to {}: run `mailctl move-account {} {}` to move it with its mail",
            account.address, pinned.fqdn, account.address, pinned.name
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/lab.yaml");
        crate::inventory::load(&path).unwrap().cluster
    }

    fn services() -> ServicePasswords {
        ServicePasswords { reader: "r".into(), replicator: "p".into() }
    }

    #[test]
    fn empty_directory_gets_base_services_and_every_account() {
        let c = cluster();
        let layout = Layout::new(&c);
        let passwords = resolve_passwords(&c).unwrap();
        let plan = plan_from(&[], &layout, &c, &services(), &passwords).unwrap();
        assert_eq!(plan.added.len(), 6 + c.accounts.len());
        let text = format!("{:?}", plan.changes);
        assert!(text.contains("mbox-2."), "{text}");
        assert!(!passwords.values().any(|pw| text.contains(pw.as_str())), "plaintext in a change");
    }

    /// The entries a plan adds, as the directory would hold them after it.
    fn added_entries(plan: DirectoryPlan) -> Vec<Entry> {
        plan.changes
            .into_iter()
            .filter_map(|c| match c {
                Change::Add(e) => Some(e),
                Change::Replace { .. } => None,
            })
            .collect()
    }

    #[test]
    fn converged_directory_needs_nothing_and_moves_nobody() {
        let c = cluster();
        let layout = Layout::new(&c);
        let passwords = resolve_passwords(&c).unwrap();
        let first = plan_from(&[], &layout, &c, &services(), &passwords).unwrap();
        let mut existing = added_entries(first);
        assert!(plan_from(&existing, &layout, &c, &services(), &passwords).unwrap().is_empty());
        // An account that lives elsewhere than pinned is reported, not re-pointed.
        let pinned = c.accounts.iter().find(|a| a.mailbox.is_some()).unwrap();
        let e = existing.iter_mut().find(|e| e.get("mail") == Some(pinned.address.as_str())).unwrap();
        e.attrs.insert("mailhost".into(), vec!["elsewhere.example".into()]);
        let plan = plan_from(&existing, &layout, &c, &services(), &passwords).unwrap();
        assert!(plan.is_empty());
        assert_eq!(plan.warnings.len(), 1);
    }

    #[test]
    fn limits_follow_own_quota_then_class_then_cluster_and_deploy_keeps_them_current() {
        let mut c = cluster();
        let layout = Layout::new(&c);
        let passwords = resolve_passwords(&c).unwrap();
        c.accounts[0].class = Some("students".into());
        c.accounts[1].class = Some("students".into());
        c.accounts[1].quota = Some(3 << 30);
        let first = plan_from(&[], &layout, &c, &services(), &passwords).unwrap();
        let mut existing = added_entries(first);
        let of = |entries: &[Entry], i: usize| {
            let e = entries.iter().find(|e| e.get("mail") == Some(c.accounts[i].address.as_str())).unwrap().clone();
            (e.get("mailctlStorageLimit").map(String::from), e.get("mailctlMessageLimit").map(String::from))
        };
        assert_eq!(of(&existing, 0), (Some((200u64 << 20).to_string()), Some("20000".into())));
        assert_eq!(of(&existing, 1), (Some((3u64 << 30).to_string()), Some("20000".into())));
        assert_eq!(of(&existing, 2), (None, None), "the cluster default is dovecot.conf's");

        // The class grows in the inventory: deploy rewrites its accounts' limits, and those of
        // accounts the inventory does not list.
        existing
            .iter_mut()
            .find(|e| e.get("mail") == Some(c.accounts[2].address.as_str()))
            .unwrap()
            .attrs
            .insert("mailctlclassofservice".into(), vec!["students".into()]);
        let listed_only: Vec<_> = c.accounts.drain(2..3).collect();
        c.classes.iter_mut().find(|k| k.name == "students").unwrap().quota = Some(2 << 30);
        let plan = plan_from(&existing, &layout, &c, &services(), &passwords).unwrap();
        let text = format!("{:?}", plan.changes);
        assert_eq!(plan.changed.len(), 2, "{text}");
        assert!(text.contains(&(2u64 << 30).to_string()), "{text}");
        assert!(plan.changed.iter().any(|dn| dn.contains(&listed_only[0].address)), "{:?}", plan.changed);

        // A class the inventory lost: a warning, the limits kept.
        c.classes.retain(|k| k.name != "students");
        let plan = plan_from(&existing, &layout, &c, &services(), &passwords).unwrap();
        assert!(plan.warnings.iter().any(|w| w.contains("students")), "{:?}", plan.warnings);
    }
}
