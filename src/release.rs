//! The Debian releases mailctl deploys to, and what differs between them that templates,
//! the playbook and the lab need to know: the suite name, the versions that appear in paths
//! and unit names, and Dovecot's configuration dialect (2.3 and 2.4 differ in most settings).

use serde::{Deserialize, Serialize};

/// A host's operating system, as the inventory names it (`os: debian-13`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize, clap::ValueEnum,
)]
pub enum Os {
    #[default]
    #[serde(rename = "debian-12")]
    #[value(name = "debian-12")]
    Debian12,
    #[serde(rename = "debian-13")]
    #[value(name = "debian-13")]
    Debian13,
}

/// What a template or a playbook string sees as `release`.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// `debian-12`, as in the inventory.
    pub os: &'static str,
    /// `/etc/os-release` ID and VERSION_ID.
    pub id: &'static str,
    pub version_id: &'static str,
    pub suite: &'static str,
    /// Dovecot's configuration dialect: "2.3" or "2.4".
    pub dovecot: &'static str,
    /// php-fpm's unit and binary carry PHP's version.
    pub php: &'static str,
    /// PostgreSQL's cluster lives under /etc/postgresql/<version>/main.
    pub postgresql: &'static str,
    /// The unit Postfix's daemons run in: Debian 12 starts the default instance as
    /// postfix@-, Debian 13 runs it in postfix.service itself.
    pub postfix_unit: &'static str,
    /// Rspamd 3.8 and later can turn off its built-in GTUBE reject (`gtube_patterns`), which
    /// is decided before any rule, the allow list included (3.4 on Debian 12 cannot).
    pub rspamd_gtube_switch: bool,
}

impl Os {
    pub const ALL: [Os; 2] = [Os::Debian12, Os::Debian13];

    pub fn release(self) -> Release {
        match self {
            Os::Debian12 => Release {
                os: "debian-12",
                id: "debian",
                version_id: "12",
                suite: "bookworm",
                dovecot: "2.3",
                php: "8.2",
                postgresql: "15",
                postfix_unit: "postfix@-",
                rspamd_gtube_switch: false,
            },
            Os::Debian13 => Release {
                os: "debian-13",
                id: "debian",
                version_id: "13",
                suite: "trixie",
                dovecot: "2.4",
                php: "8.4",
                postgresql: "17",
                postfix_unit: "postfix",
                rspamd_gtube_switch: true,
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        self.release().os
    }

    /// The release whose /etc/os-release says `id` and `version_id`, if mailctl knows it.
    pub fn from_os_release(id: &str, version_id: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|os| {
            let r = os.release();
            r.id == id && r.version_id == version_id
        })
    }
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ID` and `VERSION_ID` out of an /etc/os-release text (values may be quoted).
pub fn parse_os_release(text: &str) -> (String, String) {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    (value("ID"), value("VERSION_ID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_the_release() {
        let text =
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nID=debian\n";
        let (id, version) = parse_os_release(text);
        assert_eq!((id.as_str(), version.as_str()), ("debian", "13"));
        assert_eq!(Os::from_os_release(&id, &version), Some(Os::Debian13));
        assert_eq!(Os::from_os_release("ubuntu", "24.04"), None);
    }

    #[test]
    fn inventory_names_round_trip() {
        for os in Os::ALL {
            let yaml = serde_saphyr::to_string(&os).unwrap();
            assert_eq!(yaml.trim(), os.as_str());
            assert_eq!(serde_saphyr::from_str::<Os>(os.as_str()).unwrap(), os);
        }
    }
}
