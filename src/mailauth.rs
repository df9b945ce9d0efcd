//! The cluster's good name: DKIM keys (generated once, kept in the state file, rotated on
//! demand) and the SPF, DKIM and DMARC records every served domain publishes. The lab's and
//! the cluster's bind zones carry them, and `mailctl dns` prints them for the registrar.

use std::net::IpAddr;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
use base64::Engine as _;

use crate::inventory::{Cluster, Role};
use crate::state::{DkimKey, LocalState};

#[derive(Debug, thiserror::Error)]
#[error("cannot generate a DKIM key: the crypto library refused ({0})")]
pub struct KeyError(String);

/// One DNS record to publish, relative to its zone (`@` for the apex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    pub name: String,
    pub kind: &'static str,
    /// The record's data as a zone file writes it (TXT already quoted and split).
    pub value: String,
}

/// The key that signs a domain's mail now, generated on first use.
pub fn signing_key<'s>(state: &'s mut LocalState, domain: &str) -> Result<&'s DkimKey, KeyError> {
    if state.data.dkim.get(domain).is_none_or(Vec::is_empty) {
        let key = new_key(&selector_for_today(&[]))?;
        state.data.dkim.insert(domain.to_string(), vec![key]);
    }
    let keys = &state.data.dkim[domain];
    Ok(&keys[keys.len() - 1])
}

/// The keys to publish for a domain: the signing key and the one it replaced.
pub fn published_keys(state: &LocalState, domain: &str) -> Vec<DkimKey> {
    let keys = state.data.dkim.get(domain).cloned().unwrap_or_default();
    let skip = keys.len().saturating_sub(2);
    keys.into_iter().skip(skip).collect()
}

/// Replaces a domain's signing key with a new one under a new selector. The old key stays
/// published until the next rotation; older ones are dropped. Returns the new selector.
pub fn rotate(state: &mut LocalState, domain: &str) -> Result<String, KeyError> {
    let keys = state.data.dkim.entry(domain.to_string()).or_default();
    let taken: Vec<String> = keys.iter().map(|k| k.selector.clone()).collect();
    let key = new_key(&selector_for_today(&taken))?;
    let selector = key.selector.clone();
    keys.push(key);
    let excess = keys.len().saturating_sub(2);
    keys.drain(..excess);
    Ok(selector)
}

/// `mYYYYMMDD`, with a letter after it when that is taken (a second rotation the same day).
fn selector_for_today(taken: &[String]) -> String {
    let d = time::OffsetDateTime::now_utc().date();
    let base = format!("m{:04}{:02}{:02}", d.year(), d.month() as u8, d.day());
    std::iter::once(base.clone())
        .chain(('b'..='z').map(|c| format!("{base}{c}")))
        .find(|s| !taken.contains(s))
        .unwrap_or_else(|| format!("{base}-{}", crate::state::random_hex(6)))
}

/// RSA 2048: what every receiver verifies (Ed25519 DKIM is not yet widely checked).
fn new_key(selector: &str) -> Result<DkimKey, KeyError> {
    let err = |e: aws_lc_rs::error::Unspecified| KeyError(e.to_string());
    let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(err)?;
    let pkcs8: Pkcs8V1Der = key.as_der().map_err(err)?;
    let spki: PublicKeyX509Der = key.public_key().as_der().map_err(err)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(DkimKey {
        selector: selector.to_string(),
        private_key: pem("PRIVATE KEY", pkcs8.as_ref()),
        public_key: b64.encode(spki.as_ref()),
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A TXT record's data, in strings of at most 255 characters as DNS requires.
pub fn txt(text: &str) -> String {
    text.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect::<Vec<_>>().join(" ")
}

/// The addresses mail leaves the cluster from: the NAT's public address when there is one
/// (every MTA's mail goes out through it), and every MTA's own address that is routable.
pub fn sending_addresses(cluster: &Cluster) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = cluster.nat.iter().map(|n| n.public_address).collect();
    let behind_nat = cluster.nat.is_some();
    for h in cluster.hosts_with(Role::Mta) {
        let hidden = behind_nat && is_private(h.address);
        if !hidden && !out.contains(&h.address) {
            out.push(h.address);
        }
    }
    out
}

fn is_private(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

pub fn spf(cluster: &Cluster) -> String {
    let mut parts = vec!["v=spf1".to_string(), "mx".to_string()];
    for a in sending_addresses(cluster) {
        parts.push(match a {
            IpAddr::V4(_) => format!("ip4:{a}"),
            IpAddr::V6(_) => format!("ip6:{a}"),
        });
    }
    parts.push("~all".into());
    parts.join(" ")
}

pub fn dmarc(cluster: &Cluster, domain: &str) -> Option<String> {
    let f = cluster.filter.as_ref()?;
    let report = f.dmarc_report.clone().unwrap_or_else(|| format!("postmaster@{domain}"));
    Some(format!("v=DMARC1; p={}; rua=mailto:{report}; adkim=r; aspf=r", f.dmarc_policy))
}

pub fn dkim_txt(key: &DkimKey) -> String {
    format!("v=DKIM1; k=rsa; p={}", key.public_key)
}

/// SPF always; DKIM and DMARC where the cluster filters and signs (`filter:`).
pub fn records(cluster: &Cluster, state: &mut LocalState, domain: &str) -> Result<Vec<Record>, KeyError> {
    let mut out = vec![Record { name: "@".into(), kind: "TXT", value: txt(&spf(cluster)) }];
    if cluster.filter.is_none() {
        return Ok(out);
    }
    signing_key(state, domain)?;
    for key in published_keys(state, domain) {
        out.push(Record { name: format!("{}._domainkey", key.selector), kind: "TXT", value: txt(&dkim_txt(&key)) });
    }
    if let Some(d) = dmarc(cluster, domain) {
        out.push(Record { name: "_dmarc".into(), kind: "TXT", value: txt(&d) });
    }
    for other in reports_received_for(cluster, domain) {
        out.push(Record { name: format!("{other}._report._dmarc"), kind: "TXT", value: txt("v=DMARC1") });
    }
    Ok(out)
}

/// The other served domains whose DMARC reports go to an address in `domain`: receivers
/// send them only where `domain` says it takes them (RFC 7489, 7.1).
fn reports_received_for<'c>(cluster: &'c Cluster, domain: &str) -> Vec<&'c str> {
    let Some(report) = cluster.filter.as_ref().and_then(|f| f.dmarc_report.as_deref()) else { return Vec::new() };
    let report_domain = report.rsplit('@').next().unwrap_or_default();
    if report_domain != domain {
        return Vec::new();
    }
    cluster.domains.iter().map(String::as_str).filter(|d| *d != domain).collect()
}

/// A record for the public DNS, by its full name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicRecord {
    pub name: String,
    pub kind: &'static str,
    /// As a zone file writes it (TXT quoted).
    pub value: String,
    /// What it is for, in a few words.
    pub why: &'static str,
}

/// What the registrar's zones must say for mail to reach the cluster and be trusted: MX, the
/// names' addresses, SPF, DKIM, DMARC; and the PTR records the address owner must set.
pub fn public_records(cluster: &Cluster, state: &mut LocalState) -> Result<Vec<PublicRecord>, KeyError> {
    let mut out = Vec::new();
    let rec =
        |name: String, kind: &'static str, value: String, why: &'static str| PublicRecord { name, kind, value, why };
    // Behind a NAT, the world reaches every MX through the public name; otherwise each MX by
    // its own name.
    let mx: Vec<(u16, String, IpAddr)> = match &cluster.nat {
        Some(nat) => vec![(10, cluster.public_name.clone(), nat.public_address)],
        None => cluster
            .hosts_with(Role::Mta)
            .filter(|h| h.mta.mx)
            .map(|h| (h.mta.mx_priority, h.fqdn.clone(), h.address))
            .collect(),
    };
    for domain in &cluster.domains {
        for (prio, name, _) in &mx {
            out.push(rec(format!("{domain}."), "MX", format!("{prio} {name}."), "where mail for the domain goes"));
        }
        // The same records the cluster's own zones carry, by their full names.
        for r in records(cluster, state, domain)? {
            let name = if r.name == "@" { format!("{domain}.") } else { format!("{}.{domain}.", r.name) };
            out.push(rec(name, r.kind, r.value, purpose(&r.name)));
        }
    }
    let mut named: Vec<(String, IpAddr)> = mx.into_iter().map(|(_, n, a)| (n, a)).collect();
    named.sort();
    named.dedup();
    for (name, addr) in &named {
        let kind = if addr.is_ipv4() { "A" } else { "AAAA" };
        out.push(rec(format!("{name}."), kind, addr.to_string(), "the mail name's address"));
    }
    for addr in sending_addresses(cluster) {
        let name = named
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| cluster.public_name.clone());
        out.push(rec(reverse_name(addr), "PTR", format!("{name}."), "reverse name: ask the address's owner (the ISP)"));
    }
    Ok(out)
}

/// What a record of `records` is for, by its name in the zone.
fn purpose(relative: &str) -> &'static str {
    if relative == "@" {
        "SPF: the addresses that send the domain's mail"
    } else if relative.ends_with("._domainkey") {
        "DKIM: the key receivers check signatures with"
    } else if relative.ends_with("._report._dmarc") {
        "DMARC: this domain takes the reports of another"
    } else {
        "DMARC: what receivers do with mail that fails"
    }
}

/// `4.3.2.1.in-addr.arpa.` for 1.2.3.4; nibbles under ip6.arpa for IPv6.
pub fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s: String = v6.octets().iter().rev().map(|b| format!("{:x}.{:x}.", b & 0xf, b >> 4)).collect();
            s.push_str("ip6.arpa.");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_rotation_keeps_the_previous_one_published() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = LocalState::open(&dir.path().join("s.yaml")).unwrap();
        let first = signing_key(&mut state, "a.test").unwrap().clone();
        assert!(first.private_key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(signing_key(&mut state, "a.test").unwrap(), &first);
        let second = rotate(&mut state, "a.test").unwrap();
        assert_ne!(second, first.selector);
        let published: Vec<String> = published_keys(&state, "a.test").into_iter().map(|k| k.selector).collect();
        assert_eq!(published, vec![first.selector.clone(), second.clone()]);
        let third = rotate(&mut state, "a.test").unwrap();
        let published: Vec<String> = published_keys(&state, "a.test").into_iter().map(|k| k.selector).collect();
        assert_eq!(published, vec![second, third]);
    }

    #[test]
    fn the_report_domain_takes_the_other_domains_reports_and_spf_names_the_nat() {
        let text = "cluster: { name: t, domains: [a.example, b.example] }\n\
            hosts:\n\
            \x20 - { name: l, address: 10.0.0.2, fqdn: l.a.example, roles: [ldap, dns] }\n\
            \x20 - { name: m, address: 10.0.0.3, fqdn: m.a.example, roles: [mta, mailbox, proxy] }\n\
            filter: { dmarc: { policy: reject, report: dmarc@a.example } }\n\
            nat: { public_address: 198.51.100.7, forwards: [{ host: m, ports: [25] }] }\n";
        let cluster = crate::inventory::parse(text, std::path::Path::new("t.yaml")).unwrap().cluster;
        let dir = tempfile::tempdir().unwrap();
        let mut state = LocalState::open(&dir.path().join("s.yaml")).unwrap();
        let a = records(&cluster, &mut state, "a.example").unwrap();
        assert!(a.iter().any(|r| r.name == "b.example._report._dmarc" && r.value == "\"v=DMARC1\""), "{a:?}");
        assert!(a.iter().any(|r| r.value.contains("p=reject; rua=mailto:dmarc@a.example")), "{a:?}");
        let b = records(&cluster, &mut state, "b.example").unwrap();
        assert!(!b.iter().any(|r| r.name.contains("_report")), "{b:?}");
        // Behind the NAT the private MTA address is not in SPF; the public one is.
        assert_eq!(spf(&cluster), "v=spf1 mx ip4:198.51.100.7 ~all");
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("203.0.113.25".parse().unwrap()), "25.113.0.203.in-addr.arpa.");
        assert!(reverse_name("2001:db8::1".parse().unwrap()).starts_with("1.0.0.0."));
    }

    #[test]
    fn long_txt_is_split_into_dns_strings() {
        let long = "x".repeat(600);
        let t = txt(&long);
        assert_eq!(t.matches('"').count(), 6);
        assert!(t.split('"').all(|s| s.len() <= 255));
    }
}
