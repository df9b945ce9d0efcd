//! What account operations need from the directory, whatever carries it: `ldap::Ldap` (ldap3
//! over slapd's ldapi socket) for real hosts, `memory::MemoryDirectory` for tests.

use std::collections::HashMap;

pub use ldap3::SearchEntry;

use super::DirectoryError;
use crate::remote::host::BoxFuture;

pub trait DirectoryClient: Send {
    /// Entries under `base` matching `filter` (values escaped with `ldap3::ldap_escape`).
    /// An absent base is no entries.
    fn search<'a>(
        &'a mut self,
        base: &'a str,
        filter: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<SearchEntry>, DirectoryError>>;

    /// The entry at `dn`, if it exists.
    fn read<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Option<SearchEntry>, DirectoryError>>;

    fn add<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: Vec<(&'a str, Vec<&'a str>)>,
    ) -> BoxFuture<'a, Result<(), DirectoryError>>;

    /// Replaces each attribute's values (an empty list deletes the attribute).
    fn replace<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
    ) -> BoxFuture<'a, Result<(), DirectoryError>>;

    /// `replace`, carried out only while the entry matches `assertion`, atomically (RFC 4528):
    /// Ok(false) when it did not match and nothing changed.
    fn replace_if<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
        assertion: &'a str,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>>;

    fn delete<'a>(&'a mut self, dn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>>;

    /// Gives the entry at `dn` the RDN `new_rdn` under the same parent, in one operation
    /// (modrdn): the old RDN value is dropped, the new one set.
    fn rename<'a>(&'a mut self, dn: &'a str, new_rdn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>>;

    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The first value of each attribute, by lower-case name.
pub fn first_values(entry: &SearchEntry) -> HashMap<String, String> {
    entry.attrs.iter().filter_map(|(k, v)| v.first().map(|first| (k.to_ascii_lowercase(), first.clone()))).collect()
}
