//! Secret references: `env:NAME` or `file:PATH`, never the secret itself.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum SecretRef {
    Env(String),
    /// Relative paths are taken from the inventory's directory.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {reference}: environment variable is not set")]
    EnvMissing { reference: String },
    #[error("secret {reference}: cannot read {path}: {cause}")]
    FileUnreadable { reference: String, path: PathBuf, cause: std::io::Error },
    #[error("secret {reference} is empty")]
    Empty { reference: String },
}

impl SecretRef {
    /// Parses a reference; `None` means the text is not a reference (so, a plaintext secret).
    pub fn parse(text: &str) -> Option<SecretRef> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            return valid.then(|| SecretRef::Env(name.to_string()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            return (!path.is_empty()).then(|| SecretRef::File(PathBuf::from(path)));
        }
        None
    }

    /// Reads the secret. A trailing newline in a file is not part of it.
    pub fn resolve(&self, base_dir: &Path) -> Result<String, SecretError> {
        let value = match self {
            SecretRef::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::EnvMissing { reference: self.to_string() })?
            }
            SecretRef::File(path) => {
                let full = base_dir.join(path);
                let text = std::fs::read_to_string(&full).map_err(|cause| SecretError::FileUnreadable {
                    reference: self.to_string(),
                    path: full.clone(),
                    cause,
                })?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty { reference: self.to_string() });
        }
        Ok(value)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl From<SecretRef> for String {
    fn from(r: SecretRef) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_refuses_plaintext() {
        assert_eq!(SecretRef::parse("env:PVE_TOKEN"), Some(SecretRef::Env("PVE_TOKEN".into())));
        assert_eq!(SecretRef::parse("file:a/b.pw"), Some(SecretRef::File("a/b.pw".into())));
        assert_eq!(SecretRef::parse("hunter2"), None);
        assert_eq!(SecretRef::parse("env:"), None);
        assert_eq!(SecretRef::parse("env:9X"), None);
        assert_eq!(SecretRef::parse("file:"), None);
    }

    #[test]
    fn file_secret_drops_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("mailctl-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cret\n").unwrap();
        let value = SecretRef::File("pw".into()).resolve(&dir).unwrap();
        assert_eq!(value, "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
