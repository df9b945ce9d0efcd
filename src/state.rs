//! Local state kept beside the inventory (mode 0600): secrets mailctl generated, the
//! cluster CA and host certificates, DNS zone serials. Generated once, reused on every run,
//! so re-renders are byte-identical and deploys stay idempotent.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha1::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("state file {path} is damaged: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write state file {path}: {cause}")]
    Write { path: PathBuf, cause: std::io::Error },
    #[error("state file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "state file {path} is a symbolic link; mailctl reads and writes only a regular file it owns (give its real path with --state)"
    )]
    Symlink { path: PathBuf },
    #[error("state file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "state file {path} belongs to uid {owner}, not to the user running mailctl (uid {me}); secrets are kept only in a file of one's own"
    )]
    Foreign { path: PathBuf, owner: u32, me: u32 },
}

#[derive(Debug, Default, Serialize, Deserialize, Clone, PartialEq)]
pub struct StateData {
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub pki: Option<Pki>,
    #[serde(default)]
    pub zones: BTreeMap<String, ZoneSerial>,
    /// DKIM keys per mail domain, oldest first: the last one signs, the one before stays
    /// published until the next rotation (mail signed with it may still be in flight).
    #[serde(default)]
    pub dkim: BTreeMap<String, Vec<DkimKey>>,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct DkimKey {
    /// The DNS label under `_domainkey` that names this key.
    pub selector: String,
    /// PKCS#8 PEM, RSA 2048.
    pub private_key: String,
    /// The SubjectPublicKeyInfo DER in base64: the TXT record's `p=`.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    #[serde(default)]
    pub hosts: BTreeMap<String, HostCert>,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct HostCert {
    /// The names the certificate was issued for; a change re-issues it.
    pub names: Vec<String>,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct ZoneSerial {
    /// Digest of the zone's records without the serial; a change bumps the serial.
    pub digest: String,
    pub serial: u32,
}

pub struct LocalState {
    path: PathBuf,
    pub data: StateData,
    saved: StateData,
}

impl LocalState {
    /// `tgg.yaml` keeps its state in `tgg.state.yaml` unless a path is given.
    pub fn default_path(inventory: &Path) -> PathBuf {
        let inventory = resolve_inventory(inventory);
        let stem = inventory.file_stem().and_then(|s| s.to_str()).unwrap_or("inventory");
        inventory.with_file_name(format!("{stem}.state.yaml"))
    }

    pub fn open(path: &Path) -> Result<LocalState, StateError> {
        let data = match read_private(path) {
            Ok(text) => {
                // Only the position: the parser's message may quote a value, and every value
                // in this file is a secret.
                serde_saphyr::from_str(&text).map_err(|e| StateError::Parse {
                    path: path.to_path_buf(),
                    message: match e.location() {
                        Some(l) => format!("unreadable YAML at line {}, column {}", l.line(), l.column()),
                        None => "unreadable YAML".to_string(),
                    },
                })?
            }
            Err(StateError::Read { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => StateData::default(),
            Err(e) => return Err(e),
        };
        Ok(LocalState { path: path.to_path_buf(), saved: data.clone(), data })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A generated password, created on first use.
    pub fn secret(&mut self, name: &str, len: usize) -> String {
        self.data.secrets.entry(name.to_string()).or_insert_with(|| random_token(len)).clone()
    }

    /// The `{SSHA}` hash of a generated secret, salted once so the hash is stable across runs.
    pub fn secret_ssha(&mut self, name: &str, len: usize) -> String {
        let password = self.secret(name, len);
        let key = format!("{name}.ssha");
        self.data.secrets.entry(key).or_insert_with(|| ssha(&password)).clone()
    }

    /// Writes the file if anything was generated, so that a crash leaves either the old or
    /// the new file: a temporary file of a random name created exclusively (mode 0600, never
    /// through a symlink), synced, renamed over the state file, then the directory synced.
    pub fn save(&mut self) -> Result<(), StateError> {
        if self.data == self.saved {
            return Ok(());
        }
        let err = |cause| StateError::Write { path: self.path.clone(), cause };
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StateError::Symlink { path: self.path.clone() });
        }
        let text = serde_saphyr::to_string(&self.data).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(err)?;
        let f = tmp.as_file_mut();
        f.write_all(b"# mailctl state: generated secrets and certificates. Keep private, keep backed up.\n")
            .map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        tmp.persist(&self.path).map_err(|e| err(e.error))?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(err)?;
        self.saved = self.data.clone();
        Ok(())
    }
}

/// The file an inventory path leads to, symlinks resolved: every path to one inventory shares
/// its lock, state and move journals, which live beside the real file.
pub fn resolve_inventory(inventory: &Path) -> PathBuf {
    std::fs::canonicalize(inventory).unwrap_or_else(|_| inventory.to_path_buf())
}

/// The state file's text, if it is a regular file of ours that no one else can read. Opened
/// without following a symlink, and judged by what was opened (no race with a swap).
fn read_private(path: &Path) -> Result<String, StateError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StateError::Symlink { path: path.to_path_buf() });
        }
        Err(cause) => return Err(StateError::Read { path: path.to_path_buf(), cause }),
    };
    let meta = file.metadata().map_err(|cause| StateError::Read { path: path.to_path_buf(), cause })?;
    if !meta.is_file() {
        return Err(StateError::NotAFile { path: path.to_path_buf() });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(StateError::Foreign { path: path.to_path_buf(), owner: meta.uid(), me });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StateError::Exposed { path: path.to_path_buf(), mode });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|cause| StateError::Read { path: path.to_path_buf(), cause })?;
    Ok(text)
}

const TOKEN_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Letters and digits only: safe unquoted in every config syntax we render.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| TOKEN_CHARS[rng.random_range(0..TOKEN_CHARS.len())] as char).collect()
}

/// OpenLDAP's salted SHA-1 scheme, which slapd verifies without extra modules.
pub fn ssha(password: &str) -> String {
    let salt: [u8; 8] = rand::rng().random();
    let mut h = sha1::Sha1::new();
    h.update(password.as_bytes());
    h.update(salt);
    let mut bytes = h.finalize().to_vec();
    bytes.extend_from_slice(&salt);
    format!("{{SSHA}}{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Whether an `{SSHA}` hash is of `password` (so a converged directory is left alone).
pub fn ssha_matches(hash: &str, password: &str) -> bool {
    let Some(b64) = hash.strip_prefix("{SSHA}").or_else(|| hash.strip_prefix("{ssha}")) else { return false };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else { return false };
    if bytes.len() <= 20 {
        return false;
    }
    let (digest, salt) = bytes.split_at(20);
    let mut h = sha1::Sha1::new();
    h.update(password.as_bytes());
    h.update(salt);
    h.finalize().as_slice() == digest
}

/// Random lower-case hex, e.g. for machine-ids.
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

/// Replaces `path` with `bytes` at `mode` so that a reader (node_exporter, say) never sees a
/// half-written file: written beside it, then renamed over it.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssha_verifies() {
        let hash = ssha("secret");
        let raw = base64::engine::general_purpose::STANDARD.decode(hash.trim_start_matches("{SSHA}")).unwrap();
        let (digest, salt) = raw.split_at(20);
        let mut h = sha1::Sha1::new();
        h.update(b"secret");
        h.update(salt);
        assert_eq!(h.finalize().as_slice(), digest);
    }

    #[test]
    fn state_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("mailctl-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.state.yaml");
        let mut s = LocalState::open(&path).unwrap();
        let a = s.secret("doveadm", 24);
        let h = s.secret_ssha("ldap_admin", 24);
        s.save().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut again = LocalState::open(&path).unwrap();
        assert_eq!(again.secret("doveadm", 24), a);
        assert_eq!(again.secret_ssha("ldap_admin", 24), h);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(LocalState::open(&path), Err(StateError::Exposed { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
