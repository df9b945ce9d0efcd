//! Host-key checking against an OpenSSH known_hosts file: plain, comma-listed, wildcard and
//! hashed (`|1|salt|hash`) host patterns, `[host]:port` entries and `@revoked` markers.
//! A key that differs from every key recorded for the host is a changed key, whatever its type
//! (a man in the middle offering another type must not pass as a new host): always refused.

use std::io::Write;
use std::path::Path;

use hmac::{KeyInit, Mac};
use russh::keys::ssh_key::PublicKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No line names this host.
    Unknown,
    /// Line `line` records another key for this host (of this type or another).
    Changed {
        line: usize,
    },
    /// Line `line` marks this key as revoked.
    Revoked {
        line: usize,
    },
}

/// How a host is written in known_hosts: `host`, or `[host]:port` off port 22.
pub fn host_entry(host: &str, port: u16) -> String {
    if port == 22 { host.to_string() } else { format!("[{host}]:{port}") }
}

pub fn check(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<Verdict> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verdict::Unknown),
        Err(e) => return Err(e),
    };
    Ok(check_text(&text, &host_entry(host, port), key))
}

/// One known_hosts line that names `entry`: its number, its `@marker` if any, and its key.
struct Recorded<'a> {
    line: usize,
    marker: Option<&'a str>,
    key: PublicKey,
}

/// Every line of known_hosts text that names `entry` with a key we can read.
fn recorded_for<'a>(text: &'a str, entry: &'a str) -> impl Iterator<Item = Recorded<'a>> + 'a {
    text.lines().enumerate().filter_map(move |(index, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            first = fields.next()?;
        }
        let (_algorithm, blob) = (fields.next()?, fields.next()?);
        if !patterns_match(first, entry) {
            return None;
        }
        let key = russh::keys::parse_public_key_base64(blob).ok()?;
        Some(Recorded { line: index + 1, marker, key })
    })
}

fn check_text(text: &str, entry: &str, key: &PublicKey) -> Verdict {
    let mut same_type_changed = None;
    let mut other_type = None;
    let mut known = false;
    for Recorded { line: line_no, marker, key: recorded } in recorded_for(text, entry) {
        match marker {
            Some("revoked") if recorded.key_data() == key.key_data() => return Verdict::Revoked { line: line_no },
            Some(_) => continue, // @cert-authority: we do not trust host certificates
            None => {}
        }
        if recorded.key_data() == key.key_data() {
            known = true;
        } else if recorded.algorithm() == key.algorithm() {
            // Same type, other key: changed even if another line also lists this key.
            same_type_changed.get_or_insert(line_no);
        } else {
            other_type.get_or_insert(line_no);
        }
    }
    match (known, same_type_changed, other_type) {
        (_, Some(line), _) => Verdict::Changed { line },
        (true, None, _) => Verdict::Known,
        (false, None, Some(line)) => Verdict::Changed { line },
        (false, None, None) => Verdict::Unknown,
    }
}

/// The key types recorded for a host, so negotiation can ask for one of them first (as
/// OpenSSH does): a host that also has a key of a type we never saw is then not "changed"
/// merely because the server preferred that type.
pub fn recorded_algorithms(path: &Path, host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let entry = host_entry(host, port);
    let mut found = Vec::new();
    for r in recorded_for(&text, &entry).filter(|r| r.marker.is_none()) {
        if !found.contains(&r.key.algorithm()) {
            found.push(r.key.algorithm());
        }
    }
    found
}

/// A comma-separated pattern list matches when some pattern matches and no `!pattern` does.
fn patterns_match(list: &str, entry: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildmatch::WildMatch::new(negated).matches(entry) {
                return false;
            }
        } else if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_matches(hashed, entry);
        } else {
            matched |= wildmatch::WildMatch::new(pattern).matches(entry);
        }
    }
    matched
}

fn hashed_matches(salt_and_hash: &str, entry: &str) -> bool {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = salt_and_hash.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else { return false };
    mac.update(entry.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Appends `host key` to the file (created 0600 if missing).
pub fn learn(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let existing = std::fs::read(path).unwrap_or_default();
    let openssh = key.to_openssh().map_err(std::io::Error::other)?;
    let mut line = format!("{} {openssh}\n", host_entry(host, port));
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        line.insert(0, '\n');
    }
    // One write in append mode, so hosts learning their keys at once cannot interleave.
    let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G2sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(b: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b).unwrap()
    }

    #[test]
    fn known_unknown_changed() {
        let text = format!("# comment\n\n10.0.0.1,mbox-1 ssh-ed25519 {A}\n[10.0.0.2]:2222 ssh-ed25519 {B}\n");
        assert_eq!(check_text(&text, "10.0.0.1", &key(A)), Verdict::Known);
        assert_eq!(check_text(&text, "mbox-1", &key(A)), Verdict::Known);
        assert_eq!(check_text(&text, "10.0.0.9", &key(A)), Verdict::Unknown);
        assert_eq!(check_text(&text, "10.0.0.1", &key(B)), Verdict::Changed { line: 3 });
        assert_eq!(check_text(&text, "[10.0.0.2]:2222", &key(B)), Verdict::Known);
        assert_eq!(check_text(&text, "10.0.0.2", &key(B)), Verdict::Unknown);
    }

    #[test]
    fn a_key_of_another_type_for_a_known_host_is_changed_not_new() {
        const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=";
        let text = format!("10.0.0.1 ecdsa-sha2-nistp256 {ECDSA}\n");
        assert_eq!(check_text(&text, "10.0.0.1", &key(A)), Verdict::Changed { line: 1 });
        assert_eq!(check_text(&text, "10.0.0.1", &key(ECDSA)), Verdict::Known);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(recorded_algorithms(&path, "10.0.0.1", 22), vec![key(ECDSA).algorithm()]);
        assert!(recorded_algorithms(&path, "10.0.0.2", 22).is_empty());
    }

    #[test]
    fn wildcards_negation_and_revocation() {
        let text = format!("10.0.0.*,!10.0.0.5 ssh-ed25519 {A}\n@revoked * ssh-ed25519 {B}\n");
        assert_eq!(check_text(&text, "10.0.0.7", &key(A)), Verdict::Known);
        assert_eq!(check_text(&text, "10.0.0.5", &key(A)), Verdict::Unknown);
        assert_eq!(check_text(&text, "10.0.0.7", &key(B)), Verdict::Revoked { line: 2 });
    }

    #[test]
    fn hashed_entries_match() {
        // ssh-keygen -H output for "10.0.0.1", salt 20 zero bytes.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = [0u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"10.0.0.1");
        let hash = mac.finalize().into_bytes();
        let text = format!("|1|{}|{} ssh-ed25519 {A}\n", b64.encode(salt), b64.encode(hash));
        assert_eq!(check_text(&text, "10.0.0.1", &key(A)), Verdict::Known);
        assert_eq!(check_text(&text, "10.0.0.2", &key(A)), Verdict::Unknown);
    }

    #[test]
    fn learning_appends_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, format!("x ssh-ed25519 {B}")).unwrap();
        learn(&path, "10.0.0.3", 2200, &key(A)).unwrap();
        assert_eq!(check(&path, "10.0.0.3", 2200, &key(A)).unwrap(), Verdict::Known);
        assert_eq!(check(&path, "x", 22, &key(B)).unwrap(), Verdict::Known);
    }
}
