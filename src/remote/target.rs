//! Where and as whom to connect to a host: the inventory's SSH settings first, then
//! `~/.ssh/config` (Host, HostName, User, Port, IdentityFile, ProxyJump), then defaults.

use std::path::{Path, PathBuf};

use ssh2_config::{HostParams, ParseRule, SshConfig};

use crate::inventory::model::Host;

use super::RemoteError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory's name for the host (or the jump spec): used in messages.
    pub name: String,
    /// What the TCP connection goes to.
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// Tried in order after the agent's keys; missing files are skipped.
    pub identity_files: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    /// A bastion reached first; the host is then reached through a direct-tcpip channel.
    pub jump: Option<Box<Target>>,
}

/// The user's ~/.ssh/config, read once per run. Missing is fine; unreadable is an error.
#[derive(Default)]
pub struct SshConfigFile(Option<SshConfig>);

impl SshConfigFile {
    pub fn load_default() -> Result<SshConfigFile, RemoteError> {
        match home().map(|h| h.join(".ssh/config")) {
            Some(path) if path.exists() => SshConfigFile::load(&path),
            _ => Ok(SshConfigFile(None)),
        }
    }

    pub fn load(path: &Path) -> Result<SshConfigFile, RemoteError> {
        let file = std::fs::File::open(path).map_err(|e| RemoteError::config(path, e))?;
        let mut reader = std::io::BufReader::new(file);
        let config = SshConfig::default()
            .parse(&mut reader, ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS)
            .map_err(|e| RemoteError::config(path, e))?;
        Ok(SshConfigFile(Some(config)))
    }

    /// Parameters for the first name that has any, falling back name by name.
    fn query(&self, names: &[&str]) -> Option<HostParams> {
        let config = self.0.as_ref()?;
        let mut params = config.query(names[0]);
        for other in &names[1..] {
            params.overwrite_if_none(&config.query(other));
        }
        Some(params)
    }
}

impl Target {
    pub fn for_host(host: &Host, base_dir: &Path, config: &SshConfigFile) -> Result<Target, RemoteError> {
        let address = host.address.to_string();
        let params = config.query(&[&host.name, &address]);
        let params = params.as_ref();
        let known_hosts = match &host.ssh.known_hosts {
            Some(p) => expand(p, base_dir),
            None => home().unwrap_or_default().join(".ssh/known_hosts"),
        };
        let identity_files = identity_files(host.ssh.identity_file.as_deref(), params, base_dir);
        let user =
            host.ssh.user.clone().or_else(|| params.and_then(|p| p.user.clone())).unwrap_or_else(|| "root".to_string());
        let jump_spec = host.ssh.jump.clone().or_else(|| {
            params
                .and_then(|p| p.proxy_jump.as_ref())
                .and_then(|j| j.first().cloned())
                .filter(|j| !j.eq_ignore_ascii_case("none"))
        });
        let jump = match jump_spec {
            Some(spec) => Some(Box::new(jump_target(&spec, &user, &identity_files, &known_hosts, config)?)),
            None => None,
        };
        Ok(Target {
            name: host.name.clone(),
            hostname: params.and_then(|p| p.host_name.clone()).unwrap_or(address),
            port: host.ssh.port.or_else(|| params.and_then(|p| p.port)).unwrap_or(22),
            user,
            identity_files,
            known_hosts,
            jump,
        })
    }
}

/// `[user@]host[:port]` (or `[v6]:port`), completed from ~/.ssh/config for that host name.
fn jump_target(
    spec: &str,
    user: &str,
    identity_files: &[PathBuf],
    known_hosts: &Path,
    config: &SshConfigFile,
) -> Result<Target, RemoteError> {
    let bad = || RemoteError::Jump { spec: spec.to_string() };
    let (spec_user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let (name, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(bad)?;
        let port = p.strip_prefix(':').map(|p| p.parse::<u16>().map_err(|_| bad())).transpose()?;
        (h.to_string(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (rest.to_string(), None),
        }
    };
    if name.is_empty() {
        return Err(bad());
    }
    let params = config.query(&[&name]);
    let params = params.as_ref();
    let mut files = identity_files.to_vec();
    if let Some(own) = params.and_then(|p| p.identity_file.as_ref()) {
        files.extend(own.iter().map(|p| expand(p, Path::new("/"))));
    }
    Ok(Target {
        name: format!("jump {spec}"),
        hostname: params.and_then(|p| p.host_name.clone()).unwrap_or_else(|| name.clone()),
        port: port.or_else(|| params.and_then(|p| p.port)).unwrap_or(22),
        user: spec_user.or_else(|| params.and_then(|p| p.user.clone())).unwrap_or_else(|| user.to_string()),
        identity_files: files,
        known_hosts: known_hosts.to_path_buf(),
        jump: None,
    })
}

fn identity_files(inventory: Option<&Path>, params: Option<&HostParams>, base_dir: &Path) -> Vec<PathBuf> {
    if let Some(p) = inventory {
        return vec![expand(p, base_dir)];
    }
    if let Some(files) = params.and_then(|p| p.identity_file.as_ref()) {
        return files.iter().map(|p| expand(p, Path::new("/"))).collect();
    }
    let ssh_dir = home().unwrap_or_default().join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|f| ssh_dir.join(f)).collect()
}

/// `~/x` under $HOME; a relative path beside the inventory.
pub(crate) fn expand(path: &Path, base_dir: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = home()
    {
        return home.join(rest);
    }
    base_dir.join(path)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfigFile {
        let mut reader = std::io::BufReader::new(text.as_bytes());
        SshConfigFile(Some(SshConfig::default().parse(&mut reader, ParseRule::ALLOW_UNKNOWN_FIELDS).unwrap()))
    }

    #[test]
    fn jump_specs_parse() {
        let c = SshConfigFile::default();
        let kh = Path::new("/kh");
        let t = jump_target("admin@bastion.example:2222", "root", &[], kh, &c).unwrap();
        assert_eq!((t.user.as_str(), t.hostname.as_str(), t.port), ("admin", "bastion.example", 2222));
        let t = jump_target("[2001:db8::1]:22", "root", &[], kh, &c).unwrap();
        assert_eq!((t.user.as_str(), t.hostname.as_str()), ("root", "2001:db8::1"));
        assert!(jump_target("x:notaport", "root", &[], kh, &c).is_err());
        assert!(jump_target("@", "root", &[], kh, &c).is_err());
    }

    #[test]
    fn ssh_config_fills_what_the_inventory_leaves_open() {
        let c = config("Host bastion\n  HostName 192.0.2.1\n  User jumper\n  Port 2022\n");
        let t = jump_target("bastion", "root", &[], Path::new("/kh"), &c).unwrap();
        assert_eq!((t.hostname.as_str(), t.user.as_str(), t.port), ("192.0.2.1", "jumper", 2022));
    }
}
