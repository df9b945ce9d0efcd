//! Adding, importing and removing accounts in the directory: entries built by the same code
//! deploy uses (`directory::account_entry`), written with ldap3.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use super::address::{self, Address};
use crate::directory::Layout;
use crate::directory::account_state::AccountState;
use crate::directory::client::DirectoryClient;
use crate::inventory::model::{Account, Cluster, Host, Role};
use crate::state::ssha;

/// An account to create, checked against the cluster.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub address: Address,
    pub name: Option<String>,
    /// The mailbox host's inventory name; None places it automatically.
    pub mailbox: Option<String>,
    /// None: no login until one is set.
    pub password: Option<Password>,
    pub class: Option<String>,
    /// The account's own quota in bytes (0: unlimited).
    pub quota: Option<u64>,
    pub state: AccountState,
    pub aliases: Vec<String>,
    pub forward: Vec<String>,
    pub keep_copy: bool,
    /// Where it came from (`file:line`), for messages.
    pub origin: String,
}

/// A new account's password: plaintext (hashed as SSHA before it reaches the directory) or a
/// hash exported from another directory, stored as it is.
#[derive(Debug, Clone)]
pub enum Password {
    Plain(String),
    Hash(String),
}

impl Password {
    fn stored(&self) -> String {
        match self {
            Password::Plain(p) => ssha(p),
            Password::Hash(h) => h.clone(),
        }
    }
}

/// A password hash as `userPassword` holds it (`{SSHA}…`, `{SHA512-CRYPT}…`, …); a scheme
/// that is plaintext in disguise is refused.
pub fn password_hash(text: &str) -> Result<String, String> {
    let t = text.trim();
    let scheme = t.strip_prefix('{').and_then(|r| r.split_once('}')).map(|(s, rest)| (s.to_ascii_uppercase(), rest));
    match scheme {
        Some((s, rest))
            if !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_graphic()) =>
        {
            if ["CLEAR", "CLEARTEXT", "PLAIN", "PLAIN-TRUNC"].contains(&s.as_str()) {
                Err(format!("`{{{s}}}` is plaintext: export hashes, or give a password_file"))
            } else {
                Ok(t.to_string())
            }
        }
        _ => Err("not a password hash (`{SCHEME}…`, e.g. {SSHA}…)".into()),
    }
}

/// Writes one account's entry on `host`.
pub async fn add(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
    cluster: &Cluster,
    account: &NewAccount,
    host: &Host,
) -> anyhow::Result<()> {
    let model = Account {
        address: account.address.full.clone(),
        local_part: account.address.local.clone(),
        domain: account.address.domain.clone(),
        name: account.name.clone(),
        mailbox: Some(host.name.clone()),
        password: None,
        class: account.class.clone(),
        quota: account.quota,
    };
    let hash = account.password.as_ref().map(Password::stored);
    let mut entry = crate::directory::account_entry(layout, cluster, &model, host, hash)
        .map_err(|e| anyhow::anyhow!("{}: {e}", account.address.full))?;
    entry.attrs.insert("mailctlstate".into(), vec![account.state.as_str().to_string()]);
    let extra = [("maillocaladdress", &account.aliases), ("mailctlforward", &account.forward)];
    for (attr, values) in extra.into_iter().filter(|(_, v)| !v.is_empty()) {
        entry.attrs.insert(attr.into(), values.clone());
    }
    if account.keep_copy {
        entry.attrs.insert("mailctlforwardkeepcopy".into(), vec!["TRUE".into()]);
    }
    let attrs: Vec<(&str, Vec<&str>)> =
        entry.attrs.iter().map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())).collect();
    ldap.add(&entry.dn, attrs).await.with_context(|| format!("adding {}", account.address.full))?;
    Ok(())
}

/// The mailbox host a name given by the user stands for ("auto" or empty: None).
pub fn mailbox_choice(cluster: &Cluster, name: &str) -> Result<Option<String>, String> {
    match name.trim() {
        "" | "auto" => Ok(None),
        n => match cluster.host(n) {
            Some(h) if h.has(Role::Mailbox) => Ok(Some(h.name.clone())),
            Some(_) => Err(format!("host {n} is not a mailbox host")),
            None => {
                let known: Vec<&str> = cluster.hosts_with(Role::Mailbox).map(|h| h.name.as_str()).collect();
                Err(format!("no mailbox host {n} (mailbox hosts: {})", known.join(", ")))
            }
        },
    }
}

/// The columns an import file may have (`account export` writes them all).
pub const CSV_COLUMNS: [&str; 11] = [
    "address",
    "name",
    "mailbox",
    "password_file",
    "password_hash",
    "class",
    "quota",
    "status",
    "aliases",
    "forward",
    "keep_copy",
];

/// Reads an import file: a CSV with a header naming `address` and any of the other
/// `CSV_COLUMNS`: `mailbox` is a host or `auto`, `password_file` is relative to the CSV,
/// `aliases` and `forward` hold addresses separated by spaces or `;`. Every row is checked
/// before anything is written; all problems come back at once, each as `file:line: …`.
pub fn read_csv(path: &Path, cluster: &Cluster) -> Result<Vec<NewAccount>, Vec<String>> {
    let shown = path.display().to_string();
    let mut reader = match csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_path(path) {
        Ok(r) => r,
        Err(e) => return Err(vec![format!("{shown}: {e}")]),
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("{shown}:1: {e}")]),
    };
    let mut problems: Vec<String> = headers
        .iter()
        .filter(|h| !CSV_COLUMNS.iter().any(|k| k.eq_ignore_ascii_case(h)))
        .map(|h| format!("{shown}:1: unknown column `{h}` (columns: {})", CSV_COLUMNS.join(", ")))
        .collect();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("address")) {
        problems.push(format!("{shown}:1: the header has no `address` column"));
        return Err(problems);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("{shown}:{line}: {e}"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let at = format!("{shown}:{line}");
        let row: BTreeMap<String, String> =
            headers.iter().zip(record.iter()).map(|(h, v)| (h.to_ascii_lowercase(), v.to_string())).collect();
        match csv_row(&row, cluster, base) {
            Ok(mut account) if seen.insert(account.address.full.clone()) => {
                account.origin = at;
                out.push(account);
            }
            Ok(account) => problems.push(format!("{at}: {} appears twice", account.address.full)),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// One row of an import file, every field checked.
fn csv_row(row: &BTreeMap<String, String>, cluster: &Cluster, base: &Path) -> Result<NewAccount, String> {
    let field = |name: &str| row.get(name).map(String::as_str).unwrap_or("");
    let address = address::parse(field("address"), cluster)?;
    let mailbox = mailbox_choice(cluster, field("mailbox"))?;
    let password = match (field("password_file"), field("password_hash")) {
        ("", "") => None,
        (f, "") => Some(Password::Plain(read_password(&base.join(f)).map_err(|e| format!("password_file {f}: {e}"))?)),
        ("", h) => Some(Password::Hash(password_hash(h).map_err(|e| format!("password_hash: {e}"))?)),
        _ => return Err("give password_file or password_hash, not both".into()),
    };
    let class = Some(field("class").to_string()).filter(|c| !c.is_empty());
    if let Some(c) = &class {
        cluster
            .class(c)
            .ok_or_else(|| format!("class: no class of service `{}` in the inventory", c.escape_debug()))?;
    }
    let quota = match field("quota") {
        "" => None,
        q => Some(super::quota::parse_size(q).map_err(|e| format!("quota: {e}"))?),
    };
    let state = match field("status") {
        "" => AccountState::Active,
        s => AccountState::settable(s).map_err(|e| format!("status: {e}"))?,
    };
    let aliases = addresses(field("aliases"), |a| address::parse(a, cluster).map(|a| a.full))
        .map_err(|e| format!("aliases: {e}"))?;
    let forward = addresses(field("forward"), |a| crate::inventory::address::parse(a).map(|a| a.full))
        .map_err(|e| format!("forward: {e}"))?;
    let keep_copy = match field("keep_copy").to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => false,
        "true" | "yes" | "1" => true,
        other => return Err(format!("keep_copy: `{}` is not true or false", other.escape_debug())),
    };
    let name = Some(field("name").to_string()).filter(|n| !n.is_empty());
    Ok(NewAccount {
        address,
        name,
        mailbox,
        password,
        class,
        quota,
        state,
        aliases,
        forward,
        keep_copy,
        origin: String::new(),
    })
}

/// Addresses separated by spaces or `;`, each checked by `parse`.
fn addresses(text: &str, parse: impl Fn(&str) -> Result<String, String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> =
        text.split([' ', ';', '\t']).filter(|a| !a.is_empty()).map(parse).collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// A password file's first line (without its newline); an empty one is refused.
pub fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() { Err("the file is empty".into()) } else { Ok(pw) }
}

/// The inventory host of a mailHost value, for messages.
pub fn host_name(cluster: &Cluster, fqdn: &str) -> String {
    cluster.host_by_fqdn(fqdn).map(|h| h.name.clone()).unwrap_or_else(|| fqdn.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/lab.yaml");
        crate::inventory::load(&path).unwrap().cluster
    }

    #[test]
    fn csv_rows_are_all_checked_with_their_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pw"), "secret\n").unwrap();
        let csv = dir.path().join("new.csv");
        std::fs::write(
            &csv,
            "address,name,mailbox,password_file\n\
             ani@tgg.net.id,Ani,auto,a.pw\n\
             bayu@tgg.net.id,Bayu,mbox-2,\n\
             x)(uid=*@tgg.net.id,Evil,,\n\
             cici@example.com,Cici,,\n\
             dedi@tgg.net.id,Dedi,mbox-9,\n\
             ANI@tgg.net.id,Again,,\n\
             eko@tgg.net.id,Eko,,missing.pw\n",
        )
        .unwrap();
        let problems = read_csv(&csv, &cluster()).unwrap_err();
        let lines: Vec<&str> =
            problems.iter().map(|p| p.split(": ").next().unwrap().rsplit(':').next().unwrap()).collect();
        assert_eq!(lines, ["4", "5", "6", "7", "8"], "{problems:#?}");
        assert!(problems[0].contains("`)`"), "{}", problems[0]);
        assert!(problems[2].contains("mbox-9"));
        assert!(problems[3].contains("twice"));

        std::fs::write(
            &csv,
            "address,name,mailbox,password_file\nani@tgg.net.id,Ani,auto,a.pw\nbayu@tgg.net.id,,mbox-2,\n",
        )
        .unwrap();
        let ok = read_csv(&csv, &cluster()).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(matches!(&ok[0].password, Some(Password::Plain(p)) if p == "secret"));
        assert_eq!(ok[0].mailbox, None);
        assert_eq!(ok[1].mailbox.as_deref(), Some("mbox-2"));
        assert_eq!(ok[1].name, None);
    }

    #[test]
    fn an_export_row_reads_back_with_its_hash_status_class_quota_and_routing() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("export.csv");
        std::fs::write(
            &csv,
            "address,name,mailbox,password_hash,class,quota,status,aliases,forward,keep_copy\n\
             ani@tgg.net.id,Ani,mbox-2,{SSHA}IVgp+ZXXD6dTqDUbLrxcA1YXfdelEFD5kkqw2w==,staff,10G,locked,info@tgg.net.id halo@gec-course.com,ani@example.org,true\n\
             bayu@tgg.net.id,,,,,,,,,\n",
        )
        .unwrap();
        let rows = read_csv(&csv, &cluster()).unwrap();
        let ani = &rows[0];
        assert!(matches!(&ani.password, Some(Password::Hash(h)) if h.starts_with("{SSHA}IVgp")));
        assert_eq!(ani.class.as_deref(), Some("staff"));
        assert_eq!(ani.quota, Some(10 << 30));
        assert_eq!(ani.state, AccountState::Locked);
        assert_eq!(ani.aliases, ["halo@gec-course.com", "info@tgg.net.id"]);
        assert_eq!(ani.forward, ["ani@example.org"]);
        assert!(ani.keep_copy);
        assert!(rows[1].password.is_none() && rows[1].class.is_none() && rows[1].state == AccountState::Active);
    }

    #[test]
    fn bad_export_fields_are_refused_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("export.csv");
        std::fs::write(
            &csv,
            "address,password_hash,class,quota,status,aliases,keep_copy\n\
             a@tgg.net.id,{CLEARTEXT}hunter2,,,,,\n\
             b@tgg.net.id,hunter2,,,,,\n\
             c@tgg.net.id,,teachers,,,,\n\
             d@tgg.net.id,,,2X,,,\n\
             e@tgg.net.id,,,,moving,,\n\
             f@tgg.net.id,,,,,info@example.com,\n\
             g@tgg.net.id,,,,,,maybe\n",
        )
        .unwrap();
        let problems = read_csv(&csv, &cluster()).unwrap_err();
        assert_eq!(problems.len(), 7, "{problems:#?}");
        for (p, what) in problems.iter().zip([
            "plaintext",
            "not a password hash",
            "teachers",
            "unit",
            "moving",
            "example.com",
            "maybe",
        ]) {
            assert!(p.contains(what), "{p} should mention {what}");
        }
        assert!(!problems.iter().any(|p| p.contains("hunter2")), "a password was echoed: {problems:#?}");
    }

    #[test]
    fn unknown_columns_and_a_missing_address_column_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("new.csv");
        std::fs::write(&csv, "mail,password\nani@tgg.net.id,x\n").unwrap();
        let problems = read_csv(&csv, &cluster()).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("unknown column `password`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("no `address` column")));
    }
}
