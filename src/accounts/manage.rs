//! Adding, importing and removing accounts in the directory: entries built by the same code
//! deploy uses (`directory::account_entry`), written with ldap3.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;

use super::address::{self, Address};
use crate::directory::Layout;
use crate::directory::client::DirectoryClient;
use crate::inventory::model::{Account, Cluster, Host, Role};

/// An account to create, checked against the cluster.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub address: Address,
    pub name: Option<String>,
    /// The mailbox host's inventory name; None places it automatically.
    pub mailbox: Option<String>,
    /// Plaintext, hashed (SSHA) before it reaches the directory; None: no login until set.
    pub password: Option<String>,
    /// Where it came from (`file:line`), for messages.
    pub origin: String,
}

/// Writes one account's entry on `host`.
pub async fn add(
    ldap: &mut dyn DirectoryClient,
    layout: &Layout,
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
    };
    let entry = crate::directory::account_entry(layout, &model, host, account.password.as_ref());
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

/// Reads an import file: a CSV with a header naming `address` and optionally `name`,
/// `mailbox` (a host or `auto`), `password_file` (relative to the CSV). Every row is checked
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
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let known = ["address", "name", "mailbox", "password_file"];
    let mut problems: Vec<String> = headers
        .iter()
        .filter(|h| !known.iter().any(|k| k.eq_ignore_ascii_case(h)))
        .map(|h| format!("{shown}:1: unknown column `{h}` (columns: {})", known.join(", ")))
        .collect();
    let Some(address_col) = column("address") else {
        problems.push(format!("{shown}:1: the header has no `address` column"));
        return Err(problems);
    };
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
        let field = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_string();
        let address = match address::parse(&field(Some(address_col)), cluster) {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        if !seen.insert(address.full.clone()) {
            problems.push(format!("{at}: {} appears twice", address.full));
            continue;
        }
        let mailbox = match mailbox_choice(cluster, &field(column("mailbox"))) {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        let password = match field(column("password_file")) {
            f if f.is_empty() => None,
            f => match read_password(&base.join(&f)) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("{at}: password_file {f}: {e}"));
                    continue;
                }
            },
        };
        let name = Some(field(column("name"))).filter(|n| !n.is_empty());
        out.push(NewAccount { address, name, mailbox, password, origin: at });
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
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
        assert_eq!(ok[0].password.as_deref(), Some("secret"));
        assert_eq!(ok[0].mailbox, None);
        assert_eq!(ok[1].mailbox.as_deref(), Some("mbox-2"));
        assert_eq!(ok[1].name, None);
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
