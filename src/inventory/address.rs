//! What a mail address may be, wherever one comes from (the inventory, the command line, a
//! CSV import): `local@domain`, lower-cased, with nothing a shell, an LDAP filter or a DN
//! would read specially. Checked once here; everything after uses `Address`.

/// A checked address, lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// The address's syntax; the message says what is wrong, with the text escaped.
pub fn parse(text: &str) -> Result<Address, String> {
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
    if !is_hostname(domain) || !domain.contains('.') {
        return Err(format!("`{shown}`: `{}` is not a domain name", domain.escape_debug()));
    }
    let (local, domain) = (local.to_ascii_lowercase(), domain.to_ascii_lowercase());
    Ok(Address { full: format!("{local}@{domain}"), local, domain })
}

/// A DNS host name: dot-separated labels of letters, digits and inner hyphens.
pub fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Address {
    /// Whether the domain is one of `domains`.
    pub fn served_by(&self, domains: &[String]) -> bool {
        domains.iter().any(|d| d.eq_ignore_ascii_case(&self.domain))
    }
}
