//! Apply: the remote scripts that carry out a plan. One command installs a host's missing
//! packages; one command per component stages its files, checks them with the service's
//! own checker in a sandbox, swaps them in (old copy kept as `<file>.mailctl-old`), and
//! reloads or restarts the unit once. A failed check leaves the live files untouched.

use std::time::Duration;

use base64::Engine;

use super::plan::{Change, ComponentPlan, HostPlan, UnitAction};
use crate::remote::{Output, RemoteError, RemoteHost, quote};
use crate::render::sandbox;

/// Exit code of a component script whose checker rejected the new files.
const CHECK_FAILED: u32 = 86;
/// Exit code of a component script whose unit failed with the new files (they were rolled back).
const UNIT_FAILED: u32 = 87;
const PACKAGES_TIMEOUT: Duration = Duration::from_secs(1800);

/// Why a host stopped, in words for the summary.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize)]
#[error("{step}: {message}")]
pub struct StepError {
    pub step: String,
    pub message: String,
}

impl From<RemoteError> for StepError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Ssh { step, message, .. } => StepError { step, message },
            RemoteError::Timeout { step, secs, .. } => StepError { step, message: format!("timed out after {secs} s") },
            other => StepError { step: "ssh".into(), message: other.to_string() },
        }
    }
}

pub fn packages_script(plan: &HostPlan) -> String {
    let pkgs: Vec<String> = plan.packages.iter().map(|p| quote(p)).collect();
    let mut s = String::from("set -e\nexport DEBIAN_FRONTEND=noninteractive\n");
    if !plan.debconf.is_empty() {
        s += &format!("debconf-set-selections <<'MAILCTL_EOF'\n{}\nMAILCTL_EOF\n", plan.debconf.join("\n"));
    }
    let install = format!(
        "apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
         install --no-install-recommends {}",
        pkgs.join(" ")
    );
    // Fresh package lists only when there are none or the install cannot find something.
    s += "ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get -q update >/dev/null\n";
    s += &format!("{install} >/tmp/mailctl-apt.log 2>&1 || {{ apt-get -q update >/dev/null && {install}; }}\n");
    s
}

pub async fn install_packages(session: &dyn RemoteHost, plan: &HostPlan) -> Result<(), StepError> {
    let out = session.run_for("install packages", &packages_script(plan), PACKAGES_TIMEOUT).await?;
    if out.success() {
        Ok(())
    } else {
        Err(StepError { step: "install packages".into(), message: tail(&out.message(), 15) })
    }
}

/// The script for one component. Prints `@@step NAME` before each step so a failure can be
/// named; exits CHECK_FAILED or UNIT_FAILED with the service's words on stderr.
pub fn component_script(c: &ComponentPlan) -> String {
    let mut s = String::from("set -e\nstep() { echo \"@@step $1\"; }\n");
    for u in &c.users {
        s += &format!("step {}\n", quote(&format!("user {}", u.name)));
        if let Some(uid) = u.uid {
            let home = u.home.as_deref().unwrap_or("/nonexistent");
            s += &format!(
                "id -u {n} >/dev/null 2>&1 || useradd --system --uid {uid} --user-group --home-dir {h} \
                 --no-create-home --shell /usr/sbin/nologin {n}\n",
                n = quote(&u.name),
                h = quote(home)
            );
        }
        for g in &u.groups {
            s += &format!("usermod -a -G {} {}\n", quote(g), quote(&u.name));
        }
    }
    for d in &c.directories {
        s += &format!("step {}\n", quote(&format!("directory {}", d.path)));
        s += &format!(
            "install -d -m {} -o {} -g {} {}\n",
            quote(&d.mode),
            quote(&d.owner),
            quote(&d.group),
            quote(&d.path)
        );
    }
    let (content, attrs): (Vec<_>, Vec<_>) = c.files.iter().partition(|f| f.change != Change::Attributes);
    for f in &attrs {
        s += &format!("step {}\n", quote(&format!("attributes {}", f.file.dest)));
        s += &owner_mode(&quote(&f.file.dest), &f.file.owner, &f.file.group, f.file.mode);
    }
    if !content.is_empty() {
        // A name chosen here, not by mktemp, so the checker's sandbox can name it literally;
        // under /run, because overlayfs refuses a layer inside the directory it covers (/var).
        let stage = format!("/run/mailctl-stage.{}", crate::state::random_hex(16));
        s += &format!("step 'stage files'\nstage={stage}\nmkdir -m 700 \"$stage\"\ntrap 'rm -rf \"$stage\"' EXIT\n");
        for f in &content {
            let staged = format!("\"$stage\"{}", quote(&f.file.dest));
            let dir = f.file.dest.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            s += &format!("mkdir -p \"$stage\"{}\n", quote(if dir.is_empty() { "/" } else { dir }));
            s += &format!(
                "base64 -d > {staged} <<'MAILCTL_EOF'\n{}\nMAILCTL_EOF\n",
                wrap(&base64::engine::general_purpose::STANDARD.encode(&f.file.content))
            );
            s += &owner_mode(&staged, &f.file.owner, &f.file.group, f.file.mode);
        }
        if let Some(check) = &c.check {
            let dirs = sandbox::top_dirs(content.iter().map(|f| f.file.dest.as_str()));
            let checker = sandbox::check_script(&stage, &dirs, check);
            s += &format!(
                "step check\nif ! out=$( {{\n{checker}\n}} 2>&1 ); then printf '%s\\n' \"$out\" >&2; exit {CHECK_FAILED}; fi\n"
            );
        }
        s += "step 'install files'\ninstalled=''\n";
        for f in &content {
            let dest = quote(&f.file.dest);
            s += &format!(
                "mkdir -p \"$(dirname {dest})\"\ncp -p \"$stage\"{dest} {dest}.mailctl-new\n\
                 if [ -e {dest} ]; then ln -f {dest} {dest}.mailctl-old; fi\nmv -f {dest}.mailctl-new {dest}\n\
                 installed=\"$installed {dest}\"\n"
            );
        }
        // A unit's drop-in counts only once systemd has read it again.
        if content.iter().any(|f| f.file.dest.starts_with("/etc/systemd/system/")) {
            s += "step 'reload systemd'\nsystemctl daemon-reload\n";
        }
    }
    if let Some(unit) = &c.unit {
        let u = quote(unit);
        if c.enable {
            s += &format!("step {}\nsystemctl enable -q {u} 2>&1\n", quote(&format!("enable {unit}")));
        }
        if let Some(action) = c.action {
            let verb = match action {
                UnitAction::Start => "start",
                UnitAction::Reload => "reload",
                UnitAction::Restart => "restart",
            };
            // A unit systemd skips on purpose (ConditionResult=no, e.g. chrony without
            // CAP_SYS_TIME in a container) is not a failure: it is reported as skipped.
            s += &format!(
                "step {step}\nif systemctl {verb} {u} 2>/dev/null; then rc=0; else rc=$?; fi\n\
                 if [ \"$(systemctl show -P ConditionResult {u})\" = no ]; then\n\
                 \x20 echo \"@@skipped {unit}\"\n\
                 elif [ $rc != 0 ] || ! {{ systemctl is-active -q {u} || {{ sleep 1; systemctl is-active -q {u}; }}; }}; then\n\
                 \x20 echo \"{unit} failed to {verb}:\" >&2\n\
                 \x20 journalctl -u {u} -n 12 --no-pager -o cat >&2 2>/dev/null || systemctl status -n 12 --no-pager {u} >&2 || true\n\
                 \x20 for f in ${{installed:-}}; do [ -e \"$f.mailctl-old\" ] && mv -f \"$f.mailctl-old\" \"$f\"; done\n\
                 \x20 if [ -n \"${{installed:-}}\" ]; then echo \"the previous files are restored\" >&2; systemctl restart {u} >/dev/null 2>&1 || true; fi\n\
                 \x20 exit {UNIT_FAILED}\nfi\n",
                step = quote(&format!("{verb} {unit}")),
            );
        }
    }
    if let Some(setup) = &c.setup {
        let marker = quote(&crate::render::setup_marker_path(&c.name));
        s += &format!("step setup\nif ! ( {setup} ); then rm -f {marker}; exit 1; fi\n");
    }
    s
}

fn owner_mode(path: &str, owner: &str, group: &str, mode: u32) -> String {
    format!("chown {}:{} {path}\nchmod {mode:o} {path}\n", quote(owner), quote(group))
}

fn wrap(b64: &str) -> String {
    b64.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n")
}

pub async fn apply_component(session: &dyn RemoteHost, c: &ComponentPlan) -> Result<(), StepError> {
    let out = session.run(&c.name, &component_script(c)).await?;
    if out.success() {
        return Ok(());
    }
    let step = last_step(&out).unwrap_or_else(|| c.name.clone());
    let message = match out.status {
        Some(CHECK_FAILED) => format!("the checker rejected the new files (live files untouched):\n{}", out.message()),
        _ => tail(&out.message(), 15),
    };
    Err(StepError { step: format!("{}: {step}", c.name), message })
}

fn last_step(out: &Output) -> Option<String> {
    out.stdout_text().lines().rev().find_map(|l| l.strip_prefix("@@step ").map(str::to_string))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::plan::FilePlan;
    use crate::playbook::Stage;
    use crate::render::RenderedFile;

    fn component(check: Option<&str>, action: Option<UnitAction>) -> ComponentPlan {
        ComponentPlan {
            name: "postfix".into(),
            stage: Stage::Mta,
            users: vec![],
            directories: vec![],
            files: vec![FilePlan {
                file: RenderedFile {
                    dest: "/etc/postfix/main.cf".into(),
                    content: b"secret-ish content\n".to_vec(),
                    mode: 0o640,
                    owner: "root".into(),
                    group: "postfix".into(),
                    component: "postfix".into(),
                },
                change: Change::Content,
            }],
            check: check.map(str::to_string),
            unit: Some("postfix".into()),
            action,
            enable: false,
            setup: None,
        }
    }

    #[test]
    fn a_failed_setup_removes_its_marker_so_the_next_deploy_runs_it_again() {
        let mut c = component(None, Some(UnitAction::Restart));
        c.setup = Some("psql -f x.sql".into());
        let s = component_script(&c);
        let restart = s.find("step 'restart postfix'").unwrap();
        let setup = s.find("step setup").unwrap();
        assert!(restart < setup, "the setup runs once the unit is up");
        assert!(
            s.contains("if ! ( psql -f x.sql ); then rm -f /var/lib/mailctl/setup/postfix.done; exit 1; fi"),
            "{s}"
        );
    }

    #[test]
    fn content_travels_base64_and_is_checked_before_it_goes_live() {
        let s = component_script(&component(Some("postfix check"), Some(UnitAction::Reload)));
        assert!(!s.contains("secret-ish"), "content is encoded, not pasted");
        let check = s.find("step check").unwrap();
        let install = s.find("step 'install files'").unwrap();
        let reload = s.find("step 'reload postfix'").unwrap();
        assert!(check < install && install < reload);
        assert!(s.contains("chmod 640"));
    }

    #[test]
    fn a_new_drop_in_is_read_by_systemd_before_the_unit_restarts() {
        let plain = component_script(&component(None, Some(UnitAction::Restart)));
        assert!(!plain.contains("daemon-reload"), "only when a unit file changes");
        let mut c = component(None, Some(UnitAction::Restart));
        c.files[0].file.dest = "/etc/systemd/system/clamav-daemon.service.d/mailctl.conf".into();
        let s = component_script(&c);
        let reload = s.find("systemctl daemon-reload").unwrap();
        assert!(s.find("step 'install files'").unwrap() < reload && reload < s.find("step 'restart postfix'").unwrap());
    }

    #[test]
    fn whole_script_is_valid_sh() {
        // Parsed, not run (running needs root and a host): the lab tests run it for real.
        let mut c = component(Some("postfix check"), Some(UnitAction::Restart));
        c.enable = true;
        c.users = vec![crate::playbook::SystemUser {
            name: "vmail".into(),
            uid: Some(5000),
            home: Some("/var/vmail".into()),
            groups: vec!["mail".into()],
        }];
        let s = component_script(&c);
        let out = std::process::Command::new("sh").arg("-n").arg("-c").arg(&s).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
