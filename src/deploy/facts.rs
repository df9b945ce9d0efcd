//! Facts: what a host has now, read in one command. Checksum, mode and owner of every
//! managed file and directory, which packages are installed, each unit's state, each
//! system user's groups. Read-only.

use std::collections::{BTreeMap, BTreeSet};

use crate::remote::{RemoteError, RemoteHost, quote};
use crate::render::RenderedHost;
use crate::systemd::UnitState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFact {
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Files only.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub paths: BTreeMap<String, PathFact>,
    pub installed: BTreeSet<String>,
    pub units: BTreeMap<String, UnitState>,
    /// A user's groups; absent when the user does not exist.
    pub user_groups: BTreeMap<String, Vec<String>>,
    /// `ID` and `VERSION_ID` from /etc/os-release, compared with the inventory's `os:`.
    pub os_release: (String, String),
}

/// The one command that reads a host's facts.
pub fn script(host: &RenderedHost) -> String {
    let files: Vec<String> = host.files.iter().map(|f| quote(&f.dest)).collect();
    let dirs: Vec<String> = host.components.iter().flat_map(|c| c.directories.iter()).map(|d| quote(&d.path)).collect();
    let packages: Vec<String> = host.components.iter().flat_map(|c| c.packages.iter()).map(|p| quote(p)).collect();
    let units: Vec<&str> = host.components.iter().filter_map(|c| c.unit.as_deref()).collect();
    let users: Vec<String> = host.components.iter().flat_map(|c| c.users.iter()).map(|u| quote(&u.name)).collect();
    let mut s = String::from("export LC_ALL=C\n");
    s += "(. /etc/os-release 2>/dev/null; echo \"O ${ID:-?} ${VERSION_ID:-?}\")\n";
    let paths = [files.as_slice(), dirs.as_slice()].concat();
    if !paths.is_empty() {
        s += &format!("stat -c 'S %a %U %G %n' -- {} 2>/dev/null\n", paths.join(" "));
    }
    if !files.is_empty() {
        s += &format!("sha256sum -- {} 2>/dev/null | sed 's/^/H /'\n", files.join(" "));
    }
    if !packages.is_empty() {
        s += &format!(
            "dpkg-query -W -f='P ${{db:Status-Abbrev}} ${{Package}}\\n' -- {} 2>/dev/null\n",
            packages.join(" ")
        );
    }
    if !units.is_empty() {
        s += &format!("echo @@units\n{}\necho @@end\n", crate::systemd::show_command(&units));
    }
    if !users.is_empty() {
        s += &format!(
            "for u in {}; do g=$(id -nG \"$u\" 2>/dev/null) && printf 'G %s %s\\n' \"$u\" \"$g\"; done\n",
            users.join(" ")
        );
    }
    s += "exit 0\n";
    s
}

pub fn parse(text: &str) -> HostFacts {
    let mut facts = HostFacts::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "@@units" {
            facts.units = crate::systemd::parse_show(&mut lines).0;
            continue;
        }
        let mut f = line.splitn(2, ' ');
        let (kind, rest) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
        match kind {
            "S" => {
                let parts: Vec<&str> = rest.splitn(4, ' ').collect();
                if let [mode, owner, group, path] = parts[..] {
                    let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
                    let fact = PathFact { mode, owner: owner.into(), group: group.into(), sha256: None };
                    facts.paths.insert(path.to_string(), fact);
                }
            }
            "H" => {
                if let Some((sum, path)) = rest.split_once("  ")
                    && let Some(p) = facts.paths.get_mut(path)
                {
                    p.sha256 = Some(sum.to_string());
                }
            }
            "P" => {
                // "ii  name": installed and configured; anything else needs apt.
                if let Some(name) = rest.strip_prefix("ii ") {
                    facts.installed.insert(name.trim().to_string());
                }
            }
            "O" => {
                let (id, version) = rest.split_once(' ').unwrap_or((rest, ""));
                facts.os_release = (id.to_string(), version.trim().to_string());
            }
            "G" => {
                let mut parts = rest.split_whitespace();
                if let Some(user) = parts.next() {
                    facts.user_groups.insert(user.to_string(), parts.map(str::to_string).collect());
                }
            }
            _ => {}
        }
    }
    facts
}

pub async fn gather(session: &dyn RemoteHost, host: &RenderedHost) -> Result<HostFacts, RemoteError> {
    let out = session.run_ok("facts", &script(host)).await?;
    Ok(parse(&out.stdout_text()))
}

/// Refuses a host whose /etc/os-release is not the release the inventory says it runs: its
/// files would be rendered in the wrong dialect (Dovecot 2.3 settings on 2.4, say).
pub fn check_release(host: &crate::inventory::Host, facts: &HostFacts) -> Result<(), String> {
    let (id, version) = &facts.os_release;
    let found = crate::release::Os::from_os_release(id, version);
    if found == Some(host.os) {
        return Ok(());
    }
    let runs = match found {
        Some(os) => format!("runs {os}"),
        None => format!("runs {id} {version}, which mailctl does not support (debian-12, debian-13)"),
    };
    let fix = match found {
        Some(os) => format!("; set `os: {os}` on host {} (or under cluster:) in the inventory", host.name),
        None => String::new(),
    };
    Err(format!("the host {runs} (/etc/os-release) and the inventory says {}{fix}", host.os))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_of_line() {
        let text = "S 644 root root /etc/hosts\nS 750 openldap openldap /var/lib/ldap\n\
                    H abc123  /etc/hosts\nP ii  slapd\nP un  postfix\n@@units\n\
                    Id=postfix.service\nActiveState=active\nUnitFileState=enabled\nConditionResult=yes\n\n\
                    Id=slapd.service\nActiveState=inactive\nUnitFileState=\n\n\
                    Id=chrony.service\nActiveState=inactive\nUnitFileState=enabled\nConditionResult=no\n@@end\n\
                    G openldap openldap ssl-cert\nO debian 13\n";
        let f = parse(text);
        assert_eq!(f.paths["/etc/hosts"].sha256.as_deref(), Some("abc123"));
        assert_eq!(f.paths["/var/lib/ldap"].mode, 0o750);
        assert!(f.installed.contains("slapd") && !f.installed.contains("postfix"));
        assert!(f.units["postfix"].is_active() && f.units["postfix"].is_enabled());
        assert!(!f.units["chrony"].condition_met);
        assert!(!f.units["slapd"].is_enabled());
        assert_eq!(f.units["slapd"].active, "inactive");
        assert_eq!(f.user_groups["openldap"], ["openldap", "ssl-cert"]);
        assert_eq!(f.os_release, ("debian".to_string(), "13".to_string()));
    }

    #[test]
    fn a_host_on_another_release_is_refused_with_the_fix() {
        let cluster =
            crate::inventory::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/inventories/lab.yaml")))
                .unwrap()
                .cluster;
        let host = cluster.host("mbox-1").unwrap();
        let on = |id: &str, v: &str| HostFacts { os_release: (id.into(), v.into()), ..Default::default() };
        assert!(check_release(host, &on("debian", "12")).is_ok());
        let err = check_release(host, &on("debian", "13")).unwrap_err();
        assert!(err.contains("runs debian-13") && err.contains("`os: debian-13` on host mbox-1"), "{err}");
        let err = check_release(host, &on("ubuntu", "24.04")).unwrap_err();
        assert!(err.contains("ubuntu 24.04") && err.contains("does not support"), "{err}");
    }
}
