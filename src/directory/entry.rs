//! A directory entry as deploy plans with it: a DN and its attributes, names lower-cased.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub dn: String,
    /// Attribute names lower-cased for lookup.
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

impl From<&ldap3::SearchEntry> for Entry {
    fn from(e: &ldap3::SearchEntry) -> Entry {
        let mut attrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &e.attrs {
            attrs.entry(k.to_ascii_lowercase()).or_default().extend(v.iter().cloned());
        }
        Entry { dn: e.dn.clone(), attrs }
    }
}
