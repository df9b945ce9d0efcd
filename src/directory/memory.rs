//! An in-memory directory for tests of account operations: entries by DN, searches and
//! assertions with the filter forms mailctl sends (`&`, `|`, `!`, `attr=value`, `attr=*`),
//! attribute names and values compared without case, as slapd does for these attributes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::DirectoryError;
use super::client::{DirectoryClient, SearchEntry};
use crate::remote::host::BoxFuture;

type Attrs = BTreeMap<String, Vec<String>>;

/// Cloning shares the entries: a test keeps one handle to look at what an operation did.
#[derive(Clone, Default)]
pub struct MemoryDirectory {
    entries: Arc<Mutex<BTreeMap<String, Attrs>>>,
}

impl MemoryDirectory {
    pub fn insert(&self, dn: &str, attrs: &[(&str, &str)]) {
        let mut a = Attrs::new();
        for (k, v) in attrs {
            a.entry(k.to_string()).or_default().push(v.to_string());
        }
        self.entries.lock().unwrap().insert(dn.to_ascii_lowercase(), a);
    }

    /// The first value of `attr` at `dn`.
    pub fn get(&self, dn: &str, attr: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap();
        let attrs = entries.get(&dn.to_ascii_lowercase())?;
        attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)).and_then(|(_, v)| v.first().cloned())
    }

    pub fn client(&self) -> Box<dyn DirectoryClient> {
        Box::new(self.clone())
    }

    fn entry(dn: &str, attrs: &Attrs, wanted: &[&str]) -> SearchEntry {
        let attrs: HashMap<String, Vec<String>> = attrs
            .iter()
            .filter(|(k, _)| wanted.is_empty() || wanted.iter().any(|w| *w == "*" || w.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        SearchEntry { dn: dn.to_string(), attrs, bin_attrs: HashMap::new() }
    }

    fn apply(attrs: &mut Attrs, changes: &[(&str, Vec<&str>)]) {
        for (attr, values) in changes {
            attrs.retain(|k, _| !k.eq_ignore_ascii_case(attr));
            if !values.is_empty() {
                attrs.insert(attr.to_string(), values.iter().map(|v| v.to_string()).collect());
            }
        }
    }

    fn no_such(dn: &str, step: &str) -> DirectoryError {
        DirectoryError::Ldap { step: step.into(), message: format!("noSuchObject: {dn}") }
    }
}

impl DirectoryClient for MemoryDirectory {
    fn search<'a>(
        &'a mut self,
        base: &'a str,
        filter: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<SearchEntry>, DirectoryError>> {
        Box::pin(async move {
            let suffix = format!(",{}", base.to_ascii_lowercase());
            let entries = self.entries.lock().unwrap();
            Ok(entries
                .iter()
                .filter(|(dn, _)| dn.ends_with(&suffix) || **dn == base.to_ascii_lowercase())
                .filter(|(_, a)| matches(filter, a))
                .map(|(dn, a)| Self::entry(dn, a, attrs))
                .collect())
        })
    }

    fn read<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Option<SearchEntry>, DirectoryError>> {
        Box::pin(async move {
            let entries = self.entries.lock().unwrap();
            Ok(entries.get(&dn.to_ascii_lowercase()).map(|a| Self::entry(dn, a, attrs)))
        })
    }

    fn add<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: Vec<(&'a str, Vec<&'a str>)>,
    ) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            if entries.contains_key(&dn.to_ascii_lowercase()) {
                return Err(DirectoryError::Ldap { step: "add".into(), message: format!("entryAlreadyExists: {dn}") });
            }
            let mut a = Attrs::new();
            Self::apply(&mut a, &attrs);
            entries.insert(dn.to_ascii_lowercase(), a);
            Ok(())
        })
    }

    fn replace<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
    ) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            let attrs = entries.get_mut(&dn.to_ascii_lowercase()).ok_or_else(|| Self::no_such(dn, "modify"))?;
            Self::apply(attrs, changes);
            Ok(())
        })
    }

    fn replace_if<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
        assertion: &'a str,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            let attrs = entries.get_mut(&dn.to_ascii_lowercase()).ok_or_else(|| Self::no_such(dn, "modify"))?;
            if !matches(assertion, attrs) {
                return Ok(false);
            }
            Self::apply(attrs, changes);
            Ok(true)
        })
    }

    fn delete<'a>(&'a mut self, dn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move {
            let removed = self.entries.lock().unwrap().remove(&dn.to_ascii_lowercase());
            removed.map(drop).ok_or_else(|| Self::no_such(dn, "delete"))
        })
    }

    fn rename<'a>(&'a mut self, dn: &'a str, new_rdn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move {
            let mut entries = self.entries.lock().unwrap();
            let (old_rdn, parent) = dn.split_once(',').unwrap_or((dn, ""));
            let new_dn = format!("{new_rdn},{parent}");
            if entries.contains_key(&new_dn.to_ascii_lowercase()) {
                return Err(DirectoryError::Ldap {
                    step: "modrdn".into(),
                    message: format!("entryAlreadyExists: {new_dn}"),
                });
            }
            let mut attrs = entries.remove(&dn.to_ascii_lowercase()).ok_or_else(|| Self::no_such(dn, "modrdn"))?;
            let (old_attr, old_value) = old_rdn.split_once('=').unwrap_or_default();
            let (new_attr, new_value) = new_rdn.split_once('=').unwrap_or_default();
            for (k, values) in attrs.iter_mut() {
                if k.eq_ignore_ascii_case(old_attr) {
                    values.retain(|v| !v.eq_ignore_ascii_case(old_value));
                }
            }
            attrs.retain(|_, v| !v.is_empty());
            let key = attrs.keys().find(|k| k.eq_ignore_ascii_case(new_attr)).cloned().unwrap_or(new_attr.to_string());
            attrs.entry(key).or_default().push(new_value.to_string());
            entries.insert(new_dn.to_ascii_lowercase(), attrs);
            Ok(())
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Whether `attrs` match an LDAP filter of the forms mailctl sends. A filter it cannot read
/// matches nothing.
fn matches(filter: &str, attrs: &Attrs) -> bool {
    let Some(inner) = filter.trim().strip_prefix('(').and_then(|f| f.strip_suffix(')')) else { return false };
    match inner.chars().next() {
        Some('&') => split_terms(&inner[1..]).iter().all(|t| matches(t, attrs)),
        Some('|') => split_terms(&inner[1..]).iter().any(|t| matches(t, attrs)),
        Some('!') => !matches(&inner[1..], attrs),
        _ => {
            let Some((attr, value)) = inner.split_once('=') else { return false };
            let values = attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)).map(|(_, v)| v);
            match (values, value) {
                (None, _) => false,
                (Some(v), "*") => !v.is_empty(),
                (Some(v), want) => v.iter().any(|have| have.eq_ignore_ascii_case(&unescape(want))),
            }
        }
    }
}

/// The parenthesised terms of an `&` or `|` list.
fn split_terms(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.push(&list[start..=i]);
                }
            }
            _ => {}
        }
    }
    out
}

/// Undoes `ldap3::ldap_escape` (`\2a` → `*`).
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&value[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_mailctl_sends() {
        let mut a = Attrs::new();
        a.insert("mailctlState".into(), vec!["active".into()]);
        a.insert("mailHost".into(), vec!["mbox-1.tgg.net.id".into()]);
        assert!(matches("(&(mailctlState=active)(!(mailctlMoveTarget=*)))", &a));
        assert!(matches("(mailhost=MBOX-1.tgg.net.id)", &a));
        assert!(!matches("(|(mailHost=x)(mailctlState=moving))", &a));
        a.insert("mailctlMoveTarget".into(), vec!["mbox-2".into()]);
        assert!(!matches("(&(mailctlState=active)(!(mailctlMoveTarget=*)))", &a));
        assert_eq!(unescape(r"a\2ab"), "a*b");
    }
}
