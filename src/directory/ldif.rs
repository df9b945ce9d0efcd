//! Just enough LDIF (RFC 2849) to read `ldapsearch -LLL` output and write entries and
//! modifications for `ldapmodify`: folded lines, base64 (`::`) values, comments.

use std::collections::BTreeMap;

use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub dn: String,
    /// Attribute names as the server spelled them, lower-cased for lookup.
    pub attrs: BTreeMap<String, Vec<String>>,
}

impl Entry {
    pub fn new(dn: impl Into<String>) -> Entry {
        Entry { dn: dn.into(), attrs: BTreeMap::new() }
    }

    pub fn with(mut self, attr: &str, values: &[&str]) -> Entry {
        self.attrs.entry(attr.to_ascii_lowercase()).or_default().extend(values.iter().map(|v| v.to_string()));
        self
    }

    pub fn get(&self, attr: &str) -> Option<&str> {
        self.attrs.get(&attr.to_ascii_lowercase()).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs.get(&attr.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }
}

pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut current: Option<Entry> = None;
    for line in unfold(text) {
        if line.is_empty() {
            entries.extend(current.take());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((attr, value)) = split_attr(&line) else { continue };
        if attr.eq_ignore_ascii_case("dn") {
            entries.extend(current.take());
            current = Some(Entry::new(value));
        } else if let Some(entry) = current.as_mut() {
            entry.attrs.entry(attr.to_ascii_lowercase()).or_default().push(value);
        }
    }
    entries.extend(current);
    entries
}

/// Joins continuation lines (a leading space continues the previous line).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        match (raw.strip_prefix(' '), lines.last_mut()) {
            (Some(rest), Some(last)) if !last.is_empty() => last.push_str(rest),
            _ => lines.push(raw.to_string()),
        }
    }
    lines
}

fn split_attr(line: &str) -> Option<(String, String)> {
    let (attr, rest) = line.split_once(':')?;
    let value = if let Some(b64) = rest.strip_prefix(':') {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        rest.trim_start().to_string()
    };
    Some((attr.to_string(), value))
}

/// `attr: value`, or `attr:: base64` when the value is not safe as plain text.
pub fn attr_line(attr: &str, value: &str) -> String {
    let safe = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe || value.is_empty() {
        format!("{attr}: {value}\n")
    } else {
        format!("{attr}:: {}\n", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// An `add` record for ldapmodify.
pub fn add_record(entry: &Entry) -> String {
    let mut out = attr_line("dn", &entry.dn);
    out.push_str("changetype: add\n");
    for (attr, values) in &entry.attrs {
        for v in values {
            out.push_str(&attr_line(attr, v));
        }
    }
    out.push('\n');
    out
}

/// A `modify` record replacing each given attribute's values.
pub fn replace_record(dn: &str, changes: &[(String, Vec<String>)]) -> String {
    let mut out = attr_line("dn", dn);
    out.push_str("changetype: modify\n");
    for (attr, values) in changes {
        out.push_str(&format!("replace: {attr}\n"));
        for v in values {
            out.push_str(&attr_line(attr, v));
        }
        out.push_str("-\n");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_and_base64_values() {
        let text = "dn: uid=budi@tgg.net.id,ou=accounts,dc=tgg,dc=net,dc=id\nmail: budi@tgg.net.id\n\
                    cn:: QnVkaSBTYW50b3Nv\nmailHost: mbox-1.tgg.ne\n t.id\n\n# comment\ndn: ou=accounts,dc=x\n\
                    objectClass: organizationalUnit\n";
        let entries = parse(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].get("cn"), Some("Budi Santoso"));
        assert_eq!(entries[0].get("mailhost"), Some("mbox-1.tgg.net.id"));
        assert_eq!(entries[1].values("objectClass"), ["organizationalUnit"]);
    }

    #[test]
    fn writes_unsafe_values_as_base64_and_reads_them_back() {
        let e = Entry::new("uid=a,dc=x").with("cn", &["Ägnes "]).with("mail", &["a@x"]);
        let text = add_record(&e);
        assert!(text.contains("cn:: "));
        let back = parse(&text.replace("changetype: add\n", ""));
        assert_eq!(back[0].get("cn"), Some("Ägnes "));
    }
}
