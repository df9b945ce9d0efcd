//! What an account address may be: `local@domain`, the domain one the cluster serves, and
//! nothing a shell, an LDAP filter or a DN would read specially.

use crate::inventory::model::Cluster;

/// A checked address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub full: String,
    pub local: String,
    pub domain: String,
}

/// Characters a local part may hold: letters, digits and `. _ + -` (RFC 5322's atext minus
/// everything a shell, an LDAP filter or a DN treats specially).
fn local_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')
}

pub fn parse(text: &str, cluster: &Cluster) -> Result<Address, String> {
    let shown = text.escape_debug().to_string();
    let Some((local, domain)) = text.split_once('@') else {
        return Err(format!("`{shown}` is not an address: it has no @"));
    };
    if domain.contains('@') {
        return Err(format!("`{shown}` has more than one @"));
    }
    if local.is_empty() || local.len() > 64 {
        return Err(format!("`{shown}`: the part before @ must be 1 to 64 characters"));
    }
    if let Some(bad) = local.chars().find(|c| !local_char_ok(*c)) {
        return Err(format!(
            "`{shown}`: `{}` is not allowed before the @ (letters, digits and . _ + - only)",
            bad.escape_debug()
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(format!("`{shown}`: dots may not start, end or repeat in the part before @"));
    }
    let domain = domain.to_ascii_lowercase();
    if !cluster.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
        return Err(format!(
            "`{shown}`: the cluster does not serve {} (it serves {})",
            domain.escape_debug(),
            cluster.domains.join(", ")
        ));
    }
    let local = local.to_ascii_lowercase();
    Ok(Address { full: format!("{local}@{domain}"), local, domain })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/tgg.yaml");
        crate::inventory::load(&path).unwrap().cluster
    }

    #[test]
    fn good_addresses_are_lower_cased() {
        let c = cluster();
        let a = parse("Budi.Santoso+news@TGG.net.id", &c).unwrap();
        assert_eq!(a.full, "budi.santoso+news@tgg.net.id");
        assert_eq!((a.local.as_str(), a.domain.as_str()), ("budi.santoso+news", "tgg.net.id"));
    }

    #[test]
    fn bad_addresses_say_why() {
        let c = cluster();
        for (text, why) in [
            ("budi", "no @"),
            ("budi@@tgg.net.id", "more than one @"),
            ("@tgg.net.id", "1 to 64"),
            ("budi@example.com", "does not serve example.com"),
            ("bu di@tgg.net.id", "` ` is not allowed"),
            ("budi*@tgg.net.id", "`*` is not allowed"),
            ("x)(uid=*@tgg.net.id", "`)` is not allowed"),
            ("budi;rm -rf /@tgg.net.id", "`;` is not allowed"),
            ("$(reboot)@tgg.net.id", "`$` is not allowed"),
            ("a\\,b@tgg.net.id", "`\\\\` is not allowed"),
            (".budi@tgg.net.id", "dots may not"),
            ("bu..di@tgg.net.id", "dots may not"),
        ] {
            let e = parse(text, &c).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
