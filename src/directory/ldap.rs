//! The directory through ldap3, over slapd's ldapi socket forwarded by the LDAP host's SSH
//! session (OpenSSH direct-streamlocal). slapd sees the peer credentials of the SSH login
//! (root) and SASL EXTERNAL maps them to its manager identity: no LDAP password exists on
//! this side or crosses the wire, and the path works wherever SSH does (jump hosts included).

use std::collections::HashSet;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, StdStream};

use super::DirectoryError;
use super::client::DirectoryClient;
use crate::remote::RemoteHost;
use crate::remote::host::BoxFuture;

/// Where Debian's slapd listens for `ldapi:///`.
pub const LDAPI_SOCKET: &str = "/var/run/slapd/ldapi";

/// An open, bound connection to the directory.
pub struct Ldap {
    ldap: ldap3::Ldap,
}

fn err(step: &str) -> impl Fn(ldap3::LdapError) -> DirectoryError + '_ {
    move |e| DirectoryError::Ldap { step: step.to_string(), message: e.to_string() }
}

impl Ldap {
    pub async fn connect(session: &dyn RemoteHost) -> Result<Box<dyn DirectoryClient>, DirectoryError> {
        let mut remote = session.open_unix_socket(LDAPI_SOCKET).await?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| DirectoryError::Ldap { step: "socket pair".into(), message: e.to_string() })?;
        theirs
            .set_nonblocking(true)
            .map_err(|e| DirectoryError::Ldap { step: "socket pair".into(), message: e.to_string() })?;
        let mut theirs = tokio::net::UnixStream::from_std(theirs)
            .map_err(|e| DirectoryError::Ldap { step: "socket pair".into(), message: e.to_string() })?;
        tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut theirs, &mut remote).await;
        });
        let settings =
            LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10)).set_std_stream(StdStream::Unix(ours));
        let (conn, mut ldap) =
            LdapConnAsync::with_settings(settings, "ldapi:///").await.map_err(err("connect over ldapi"))?;
        ldap3::drive!(conn);
        ldap.sasl_external_bind()
            .await
            .and_then(|r| r.success())
            .map_err(err("SASL EXTERNAL bind as root over ldapi"))?;
        Ok(Box::new(Ldap { ldap }))
    }

    /// Entries under `base` matching `filter` (the caller escapes values with
    /// `ldap3::ldap_escape`). An absent base is no entries.
    async fn search_op(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        match self.ldap.search(base, Scope::Subtree, filter, attrs.to_vec()).await {
            Ok(result) => match result.success() {
                Ok((entries, _)) => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(Vec::new()),
                Err(e) => Err(err("search")(e)),
            },
            Err(e) => Err(err("search")(e)),
        }
    }

    /// The entry at `dn`, if it exists.
    async fn read_op(&mut self, dn: &str, attrs: &[&str]) -> Result<Option<SearchEntry>, DirectoryError> {
        match self.ldap.search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec()).await.and_then(|r| r.success()) {
            Ok((entries, _)) => Ok(entries.into_iter().next().map(SearchEntry::construct)),
            Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(None),
            Err(e) => Err(err("read")(e)),
        }
    }

    async fn add_op(&mut self, dn: &str, attrs: Vec<(&str, Vec<&str>)>) -> Result<(), DirectoryError> {
        let attrs: Vec<(&str, HashSet<&str>)> = attrs.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect();
        self.ldap.add(dn, attrs).await.and_then(|r| r.success()).map_err(err("add"))?;
        Ok(())
    }

    /// Replaces each attribute's values (an empty list deletes the attribute).
    async fn replace_op(&mut self, dn: &str, changes: &[(&str, Vec<&str>)]) -> Result<(), DirectoryError> {
        let mods: Vec<Mod<&str>> =
            changes.iter().map(|(attr, values)| Mod::Replace(*attr, values.iter().copied().collect())).collect();
        self.ldap.modify(dn, mods).await.and_then(|r| r.success()).map_err(err("modify"))?;
        Ok(())
    }

    /// `replace`, carried out only while the entry matches `assertion` (RFC 4528, one atomic
    /// operation on the server): Ok(false) when it did not match and nothing changed.
    async fn replace_if_op(
        &mut self,
        dn: &str,
        changes: &[(&str, Vec<&str>)],
        assertion: &str,
    ) -> Result<bool, DirectoryError> {
        use ldap3::controls::{Assertion, MakeCritical};
        // Critical: a server that ignored the assertion would make this a blind write.
        let mods: Vec<Mod<&str>> =
            changes.iter().map(|(attr, values)| Mod::Replace(*attr, values.iter().copied().collect())).collect();
        let result = self.ldap.with_controls(Assertion { filter: assertion }.critical()).modify(dn, mods).await;
        match result.and_then(|r| r.success()) {
            Ok(_) => Ok(true),
            // 122: assertionFailed.
            Err(ldap3::LdapError::LdapResult { result }) if result.rc == 122 => Ok(false),
            Err(e) => Err(err("modify")(e)),
        }
    }

    async fn rename_op(&mut self, dn: &str, new_rdn: &str) -> Result<(), DirectoryError> {
        self.ldap.modifydn(dn, new_rdn, true, None).await.and_then(|r| r.success()).map_err(err("modrdn"))?;
        Ok(())
    }

    async fn delete_op(&mut self, dn: &str) -> Result<(), DirectoryError> {
        self.ldap.delete(dn).await.and_then(|r| r.success()).map_err(err("delete"))?;
        Ok(())
    }
}

impl DirectoryClient for Ldap {
    fn search<'a>(
        &'a mut self,
        base: &'a str,
        filter: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<SearchEntry>, DirectoryError>> {
        Box::pin(self.search_op(base, filter, attrs))
    }

    fn read<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Option<SearchEntry>, DirectoryError>> {
        Box::pin(self.read_op(dn, attrs))
    }

    fn add<'a>(
        &'a mut self,
        dn: &'a str,
        attrs: Vec<(&'a str, Vec<&'a str>)>,
    ) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(self.add_op(dn, attrs))
    }

    fn replace<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
    ) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(self.replace_op(dn, changes))
    }

    fn replace_if<'a>(
        &'a mut self,
        dn: &'a str,
        changes: &'a [(&'a str, Vec<&'a str>)],
        assertion: &'a str,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        Box::pin(self.replace_if_op(dn, changes, assertion))
    }

    fn delete<'a>(&'a mut self, dn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(self.delete_op(dn))
    }

    fn rename<'a>(&'a mut self, dn: &'a str, new_rdn: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(self.rename_op(dn, new_rdn))
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.ldap.unbind().await;
        })
    }
}

pub use super::client::first_values;
