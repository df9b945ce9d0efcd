//! `--diff`: unified diffs of what deploy would change, with secrets masked.

use std::collections::BTreeMap;

use base64::Engine;

use super::plan::{Change, HostPlan};
use crate::remote::{RemoteError, RemoteHost, quote};

const MASK: &str = "********";

/// Replaces every known secret, and the body of any PEM private key, with a mask.
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Masker {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Masker { secrets }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut in_key = false;
        for line in text.split_inclusive('\n') {
            if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
                in_key = true;
                out.push_str(line);
                continue;
            }
            if line.contains("-----END") && line.contains("PRIVATE KEY") {
                in_key = false;
            } else if in_key {
                out.push_str(MASK);
                out.push('\n');
                continue;
            }
            let mut l = line.to_string();
            for s in &self.secrets {
                if l.contains(s.as_str()) {
                    l = l.replace(s.as_str(), MASK);
                }
            }
            out.push_str(&l);
        }
        out
    }
}

/// The current content of every file the plan changes, in one command.
pub async fn fetch_old(session: &dyn RemoteHost, plan: &HostPlan) -> Result<BTreeMap<String, Vec<u8>>, RemoteError> {
    let paths: Vec<&str> = plan
        .components
        .iter()
        .flat_map(|c| c.files.iter())
        .filter(|f| f.change == Change::Content)
        .map(|f| f.file.dest.as_str())
        .collect();
    if paths.is_empty() {
        return Ok(BTreeMap::new());
    }
    let script: String = paths.iter().map(|p| format!("echo '@@file {p}'; base64 -w0 {}; echo\n", quote(p))).collect();
    let out = session.run_ok("read current files", &script).await?;
    let text = out.stdout_text();
    let mut files = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(path) = line.strip_prefix("@@file ") {
            let body = lines.next().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap_or_default();
            files.insert(path.to_string(), bytes);
        }
    }
    Ok(files)
}

/// Unified diffs for a host's plan, `old` being what `fetch_old` read.
pub fn render(plan: &HostPlan, old: &BTreeMap<String, Vec<u8>>, masker: &Masker) -> String {
    let mut out = String::new();
    for f in plan.components.iter().flat_map(|c| c.files.iter()) {
        let dest = &f.file.dest;
        match f.change {
            Change::Attributes => {
                out += &format!(
                    "--- {host}:{dest}\n    mode/owner -> {:o} {}:{}\n",
                    f.file.mode,
                    f.file.owner,
                    f.file.group,
                    host = plan.host
                );
            }
            Change::Create | Change::Content => {
                // The live file is the host's word: a planted escape sequence is shown, not obeyed.
                let before =
                    old.get(dest).map(|b| crate::escape::block(&String::from_utf8_lossy(b))).unwrap_or_default();
                let after = String::from_utf8_lossy(&f.file.content).into_owned();
                let (before, after) = (masker.mask(&before), masker.mask(&after));
                let old_name =
                    if f.change == Change::Create { "/dev/null".to_string() } else { format!("{}:{dest}", plan.host) };
                let diff = similar::TextDiff::from_lines(&before, &after)
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_name, &format!("{}:{dest}", plan.host))
                    .to_string();
                out += &diff;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_private_keys() {
        let m = Masker::new(["hunter22".to_string(), "ab".to_string()]);
        let text = "dnpass = hunter22\nab stays\n-----BEGIN PRIVATE KEY-----\nMIIEv\nQQ==\n-----END PRIVATE KEY-----\n";
        let masked = m.mask(text);
        assert!(!masked.contains("hunter22") && !masked.contains("MIIEv"));
        assert!(masked.contains("ab stays"), "too short to be a secret: left alone");
        assert!(masked.contains("-----END PRIVATE KEY-----"));
    }
}
