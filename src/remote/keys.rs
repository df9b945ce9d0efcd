//! Private keys from files, loaded once per run and shared by every connection. An encrypted
//! key is asked for its passphrase on the terminal (one prompt at a time), never from argv;
//! without a terminal it is skipped with a hint to load it into ssh-agent.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::PrivateKey;
use tokio::sync::Mutex;

#[derive(Default)]
pub struct KeyStore {
    loaded: Mutex<HashMap<PathBuf, Result<Arc<PrivateKey>, String>>>,
}

impl KeyStore {
    /// The key at `path`, or why it cannot be used. Missing files are `Err("missing")`.
    pub async fn get(&self, path: &Path) -> Result<Arc<PrivateKey>, String> {
        // Holding the lock across the prompt keeps parallel connections from prompting at once.
        let mut loaded = self.loaded.lock().await;
        if let Some(found) = loaded.get(path) {
            return found.clone();
        }
        let owned = path.to_path_buf();
        let result = tokio::task::spawn_blocking(move || load(&owned)).await.unwrap_or_else(|e| Err(e.to_string()));
        loaded.insert(path.to_path_buf(), result.clone());
        result
    }
}

fn load(path: &Path) -> Result<Arc<PrivateKey>, String> {
    if !path.exists() {
        return Err("missing".into());
    }
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => Ok(Arc::new(key)),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
                return Err("encrypted and no terminal to ask: add it to ssh-agent".into());
            }
            let passphrase = rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                .map_err(|e| e.to_string())?;
            russh::keys::load_secret_key(path, Some(&passphrase)).map(Arc::new).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}
