//! Quotas: sizes as admins write them, the limits an account ends up with (its own quota, else
//! its class of service's, else the cluster's), and what `doveadm quota get` reports.
//!
//! The directory carries each account's effective limits (`mailctlStorageLimit`,
//! `mailctlMessageLimit`) only when they differ from the cluster default; Dovecot's userdb
//! returns them as `quota_rule`s and falls back to the default the templates render
//! (templates/dovecot/2.3/ and 2.4/dovecot-ldap.conf.ext).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inventory::model::Cluster;
use crate::remote::quote;

/// A size written as `500M`, `2G`, `1T`, `100K` (binary units, as Dovecot reads them) or a
/// plain number of bytes; `unlimited` (or 0) is no limit, returned as 0.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("unlimited") {
        return Ok(0);
    }
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("`{t}`: unknown unit `{unit}` (use K, M, G or T)")),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{t}` is not a size (e.g. 500M, 2G or unlimited)"));
    }
    let n: u64 = digits.parse().map_err(|_| format!("`{t}` is too large"))?;
    n.checked_mul(1 << shift).filter(|b| *b < 1 << 60).ok_or_else(|| format!("`{t}` is too large"))
}

/// Bytes as an admin would write them: `2G`, `1536M`, `unlimited`.
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "unlimited".into();
    }
    for (shift, unit) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Bytes for people to read: `0`, `812K`, `12.3M`, `1.9G`.
pub fn human_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["", "K", "M", "G", "T"] {
        if value < 1024.0 || unit == "T" {
            return if unit.is_empty() || value >= 100.0 {
                format!("{value:.0}{unit}")
            } else {
                format!("{value:.1}{unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!()
}

/// The limits an account ends up with, and where they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Bytes; 0 is unlimited.
    pub storage: u64,
    /// Messages; 0 is unlimited.
    pub messages: u64,
    /// `account`, `class <name>` or `cluster`.
    pub from: String,
}

/// An account's limits from its own quota, its class and the cluster default, in that order.
/// An unknown class is the error (the inventory no longer defines it).
pub fn limits(cluster: &Cluster, class: Option<&str>, own: Option<u64>) -> Result<Limits, String> {
    let class = match class {
        Some(name) => Some(cluster.class(name).ok_or_else(|| {
            let known: Vec<&str> = cluster.classes.iter().map(|c| c.name.as_str()).collect();
            format!("no class of service `{name}` in the inventory (classes: {})", or_none(&known))
        })?),
        None => None,
    };
    let messages = class.and_then(|c| c.messages).unwrap_or(0);
    let (storage, from) = match (own, class.and_then(|c| c.quota.map(|q| (q, &c.name)))) {
        (Some(q), _) => (q, "account".to_string()),
        (None, Some((q, name))) => (q, format!("class {name}")),
        (None, None) => (cluster.quota.unwrap_or(0), "cluster".to_string()),
    };
    Ok(Limits { storage, messages, from })
}

fn or_none(names: &[&str]) -> String {
    if names.is_empty() { "none defined".into() } else { names.join(", ") }
}

/// The directory values that make Dovecot apply `limits`: none where the cluster default
/// (rendered into dovecot.conf) already says the same.
pub fn directory_values(cluster: &Cluster, limits: &Limits) -> [(&'static str, Vec<String>); 2] {
    let storage = limits.storage != cluster.quota.unwrap_or(0);
    [
        ("mailctlStorageLimit", if storage { vec![limits.storage.to_string()] } else { Vec::new() }),
        ("mailctlMessageLimit", if limits.messages != 0 { vec![limits.messages.to_string()] } else { Vec::new() }),
    ]
}

/// One mailbox's use, as `doveadm quota get` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
    /// Bytes; None: unlimited.
    pub storage_limit: Option<u64>,
    pub message_limit: Option<u64>,
}

impl Usage {
    /// Percent of the storage limit in use (None: unlimited).
    pub fn percent(&self) -> Option<u64> {
        self.storage_limit.filter(|l| *l > 0).map(|l| self.bytes * 100 / l)
    }
}

/// The use of every mail home a mailbox host has, in one call. Only existing homes are asked
/// about: doveadm would create a home for an account that has none (an account never written
/// to is empty, and reported so by the caller).
pub const USAGE_SCRIPT: &str = r#"cd /var/vmail 2>/dev/null || exit 0
list=$(mktemp) || exit 1
trap 'rm -f "$list"' EXIT
for d in */*; do [ -d "$d" ] && printf '%s@%s\n' "${d#*/}" "${d%%/*}"; done > "$list"
[ -s "$list" ] || exit 0
doveadm -f tab quota get -F "$list""#;

/// One account's use, asked of its mailbox host; no output when it has no mail home there
/// (doveadm would create one).
pub fn usage_script_for(user: &str) -> anyhow::Result<String> {
    let home = super::mailstore::home_dir(user)?;
    Ok(format!("[ -d {} ] || exit 0; doveadm -f tab quota get -u {}", quote(&home), quote(user)))
}

/// Reads `usage_script_for`'s output (no Username column); nothing is an empty mailbox.
pub fn parse_usage_of(text: &str, user: &str) -> Result<Option<Usage>, String> {
    if text.trim().is_empty() {
        return Ok(Some(Usage::default()));
    }
    let prefixed: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("Username\t{l}\n") } else { format!("{user}\t{l}\n") })
        .collect();
    Ok(parse_usage(&prefixed)?.remove(user))
}

/// Reads `doveadm -f tab quota get -A` (or `-F`): `Username, Quota name, Type, Value, Limit, %`, one
/// line per user and type; storage in kibibytes, `-` for no limit.
pub fn parse_usage(text: &str) -> Result<BTreeMap<String, Usage>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("doveadm quota get: no `{name}` column in {header:?}"))
    };
    let (user, kind, value, limit) = (col("username")?, col("type")?, col("value")?, col("limit")?);
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let field = |i: usize| f.get(i).copied().unwrap_or_default();
        let number = |i: usize| -> Result<Option<u64>, String> {
            match field(i) {
                "-" => Ok(None),
                v => v.parse().map(Some).map_err(|_| format!("doveadm quota get: `{v}` is not a number in {line:?}")),
            }
        };
        let usage = out.entry(field(user).to_string()).or_default();
        match field(kind) {
            "STORAGE" => {
                usage.bytes = number(value)?.unwrap_or(0) * 1024;
                usage.storage_limit = number(limit)?.map(|kib| kib * 1024);
            }
            "MESSAGE" => {
                usage.messages = number(value)?.unwrap_or(0);
                usage.message_limit = number(limit)?;
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print_the_way_admins_write_them() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("500m"), Ok(500 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("unlimited"), Ok(0));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "G", "2X", "1.5G", "-1G", "2 G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(2 << 30), "2G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(0), "unlimited");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(human_size(0), "0");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(300 << 20), "300M");
    }

    #[test]
    fn doveadm_quota_output_is_read_per_user() {
        let out = "Username\tQuota name\tType\tValue\tLimit\t%\n\
                   siti@tgg.net.id\tUser quota\tSTORAGE\t128454\t1048576\t12\n\
                   siti@tgg.net.id\tUser quota\tMESSAGE\t6\t-\t0\n\
                   budi@tgg.net.id\tUser quota\tSTORAGE\t0\t-\t0\n\
                   budi@tgg.net.id\tUser quota\tMESSAGE\t0\t1000\t0\n";
        let u = parse_usage(out).unwrap();
        assert_eq!(u["siti@tgg.net.id"].bytes, 128454 * 1024);
        assert_eq!(u["siti@tgg.net.id"].storage_limit, Some(1 << 30));
        assert_eq!(u["siti@tgg.net.id"].percent(), Some(12));
        assert_eq!(u["siti@tgg.net.id"].message_limit, None);
        assert_eq!(u["budi@tgg.net.id"].storage_limit, None);
        assert_eq!(u["budi@tgg.net.id"].message_limit, Some(1000));
        assert!(parse_usage("Username\tType\n").is_err());
        assert!(parse_usage("").unwrap().is_empty(), "no mail homes at all");
        assert!(parse_usage("Username\tType\tValue\tLimit\nx\tSTORAGE\tlots\t-\n").is_err());
    }
}
