//! Deploy: connect → facts (one command per host) → plan (the difference) → apply, stage by
//! stage (base, ldap, mailbox, mta, proxy, dns), hosts of a stage in parallel. A host that
//! fails stops its own later steps, not the others'.

pub mod apply;
pub mod diff;
pub mod facts;
pub mod plan;

use std::time::Instant;

use serde::Serialize;

use crate::directory::{self, AccountPasswords, DirectoryPlan, Layout, ServicePasswords};
use crate::inventory::model::{Cluster, Role};
use crate::observe::Observer;
use crate::playbook::Stage;
use crate::remote::{Connector, HostConn, RemoteHost, fan_out};
use crate::render::RenderedHost;
use apply::StepError;
use plan::{HostPlan, UnitAction};

#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Plan only: change nothing.
    pub check: bool,
    /// Print unified diffs of the files that change (secrets masked).
    pub diff: bool,
    /// Only these hosts (empty: all).
    pub limit: Vec<String>,
    /// Only hosts with one of these roles (empty: all).
    pub roles: Vec<Role>,
    pub forks: usize,
}

/// What the directory needs to be brought to the inventory.
pub struct DirectoryInput {
    pub services: ServicePasswords,
    pub passwords: AccountPasswords,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostReport {
    pub host: String,
    pub ok: bool,
    /// Set when the host failed: the step and what went wrong.
    pub failed: Option<StepError>,
    pub packages: Vec<String>,
    pub changed_files: Vec<String>,
    /// e.g. "postfix reload".
    pub units: Vec<String>,
    pub directory: Option<DirectoryPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub check: bool,
    pub hosts: Vec<HostReport>,
    pub warnings: Vec<String>,
    pub seconds: f64,
    /// Unified diffs (masked), when asked for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

/// Counts for the summary line.
pub struct Totals {
    pub hosts: usize,
    pub failed: usize,
    pub files: usize,
    pub units: usize,
}

impl DeployReport {
    pub fn ok(&self) -> bool {
        self.hosts.iter().all(|h| h.ok)
    }

    pub fn totals(&self) -> Totals {
        Totals {
            hosts: self.hosts.len(),
            failed: self.hosts.iter().filter(|h| !h.ok).count(),
            files: self.hosts.iter().map(|h| h.changed_files.len()).sum(),
            units: self.hosts.iter().map(|h| h.units.len()).sum(),
        }
    }
}

/// One host's run: its session and plan once connected, and what happened so far.
struct HostRun {
    session: Option<HostConn>,
    plan: Option<HostPlan>,
    report: HostReport,
}

impl HostRun {
    fn live(&self) -> Option<(&dyn RemoteHost, &HostPlan)> {
        if self.report.failed.is_some() {
            return None;
        }
        Some((self.session.as_deref()?, self.plan.as_ref()?))
    }

    fn fail(&mut self, e: StepError) {
        self.report.ok = false;
        self.report.failed.get_or_insert(e);
    }
}

/// Deploys `rendered` stage by stage in the playbook's order.
#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    connector: &dyn Connector,
    cluster: &Cluster,
    rendered: &[RenderedHost],
    stages: &[Stage],
    dir_input: &DirectoryInput,
    masker: &diff::Masker,
    opts: &DeployOptions,
    progress: &dyn Observer,
) -> DeployReport {
    let started = Instant::now();
    let selected: Vec<&RenderedHost> = rendered.iter().filter(|h| selected(cluster, h, opts)).collect();
    let mut runs = fan_out(selected, opts.forks, |h| prepare(connector, cluster, h, opts, progress)).await;
    let mut warnings = Vec::new();
    let diff = if opts.diff { diffs(&runs, masker, opts.forks).await } else { String::new() };
    if !opts.check {
        install_packages(&mut runs, opts.forks, progress).await;
        for &stage in stages {
            apply_stage(&mut runs, stage, opts.forks, progress).await;
            if stage == Stage::Ldap {
                warnings.extend(sync_directory(connector, cluster, &mut runs, dir_input, false, progress).await);
            }
        }
    } else {
        warnings.extend(sync_directory(connector, cluster, &mut runs, dir_input, true, progress).await);
    }
    let mut hosts = Vec::new();
    for mut run in runs {
        progress.finish(&run.report.host, if run.report.ok { "done" } else { "failed" });
        // A checker may quote the line it rejects, and that line may hold a password.
        if let Some(failed) = run.report.failed.as_mut() {
            failed.message = masker.mask(&failed.message);
        }
        if let Some(s) = run.session {
            s.close().await;
        }
        hosts.push(run.report);
    }
    DeployReport { check: opts.check, hosts, warnings, seconds: started.elapsed().as_secs_f64(), diff }
}

fn selected(cluster: &Cluster, h: &RenderedHost, opts: &DeployOptions) -> bool {
    let in_limit = opts.limit.is_empty() || opts.limit.iter().any(|l| l == &h.host);
    let host = cluster.host(&h.host);
    let has_role = opts.roles.is_empty() || host.is_some_and(|host| opts.roles.iter().any(|r| host.has(*r)));
    in_limit && has_role
}

/// Connect, read facts, plan: the part that is the same for `--check` and a real run.
async fn prepare(
    connector: &dyn Connector,
    cluster: &Cluster,
    rendered: &RenderedHost,
    opts: &DeployOptions,
    progress: &dyn Observer,
) -> HostRun {
    let mut run = HostRun {
        session: None,
        plan: None,
        report: HostReport { host: rendered.host.clone(), ok: true, ..Default::default() },
    };
    progress.step(&rendered.host, "connecting");
    let Some(host) = cluster.host(&rendered.host) else {
        run.fail(StepError { step: "inventory".into(), message: "host not in the inventory".into() });
        return run;
    };
    let connected =
        connector.connect(host).await.map_err(|e| StepError { step: "connect".into(), message: e.to_string() });
    let session = match connected {
        Ok(s) => s,
        Err(e) => {
            run.fail(e);
            return run;
        }
    };
    progress.step(&rendered.host, "reading facts");
    let gathered = facts::gather(session.as_ref(), rendered).await.map_err(StepError::from).and_then(|f| {
        facts::check_release(host, &f).map(|_| f).map_err(|message| StepError { step: "os".into(), message })
    });
    match gathered {
        Ok(f) => {
            let plan = plan::plan(rendered, &f);
            run.report.packages = plan.packages.clone();
            run.report.changed_files =
                plan.components.iter().flat_map(|c| c.files.iter()).map(|f| f.file.dest.clone()).collect();
            run.report.units = plan.components.iter().filter_map(unit_summary).collect();
            run.plan = Some(plan);
        }
        Err(e) => run.fail(e),
    }
    run.session = Some(session);
    progress.step(&rendered.host, if opts.check { "planned" } else { "waiting" });
    run
}

fn unit_summary(c: &plan::ComponentPlan) -> Option<String> {
    let unit = c.unit.as_ref()?;
    let verb = match c.action {
        Some(UnitAction::Start) => "start",
        Some(UnitAction::Reload) => "reload",
        Some(UnitAction::Restart) => "restart",
        None if c.enable => "enable",
        None => return None,
    };
    Some(format!("{unit} {verb}"))
}

async fn diffs(runs: &[HostRun], masker: &diff::Masker, forks: usize) -> String {
    let parts = fan_out(runs.iter(), forks, |run| async move {
        let (session, plan) = run.live()?;
        let old = diff::fetch_old(session, plan).await.ok()?;
        Some(diff::render(plan, &old, masker))
    })
    .await;
    parts.into_iter().flatten().collect()
}

async fn install_packages(runs: &mut [HostRun], forks: usize, progress: &dyn Observer) {
    let outcomes = fan_out(runs.iter(), forks, |run| async move {
        let (session, plan) = run.live()?;
        if plan.packages.is_empty() {
            return None;
        }
        progress.step(session.name(), &format!("installing {} packages", plan.packages.len()));
        apply::install_packages(session, plan).await.err()
    })
    .await;
    for (run, failure) in runs.iter_mut().zip(outcomes) {
        if let Some(e) = failure {
            run.fail(e);
        }
    }
}

async fn apply_stage(runs: &mut [HostRun], stage: Stage, forks: usize, progress: &dyn Observer) {
    let outcomes = fan_out(runs.iter(), forks, |run| async move {
        let (session, plan) = run.live()?;
        for c in plan.components.iter().filter(|c| c.stage == stage && !c.is_noop()) {
            progress.step(session.name(), &format!("{stage:?}: {}", c.name).to_lowercase());
            if let Err(e) = apply::apply_component(session, c).await {
                return Some(e);
            }
        }
        None
    })
    .await;
    for (run, failure) in runs.iter_mut().zip(outcomes) {
        if let Some(e) = failure {
            run.fail(e);
        }
    }
}

/// Brings the directory on the LDAP provider to the inventory (or, in check mode, says what
/// that would change). Returns warnings for the summary.
async fn sync_directory(
    connector: &dyn Connector,
    cluster: &Cluster,
    runs: &mut [HostRun],
    input: &DirectoryInput,
    check: bool,
    progress: &dyn Observer,
) -> Vec<String> {
    let provider = cluster.ldap_provider();
    let Some(run) = provider.and_then(|p| runs.iter_mut().find(|r| r.report.host == p.name)) else {
        return Vec::new();
    };
    let Some((session, plan)) = run.live() else { return Vec::new() };
    if check && !plan.packages.is_empty() {
        return vec![format!("{}: the directory is planned once slapd is installed", run.report.host)];
    }
    progress.step(session.name(), "directory");
    let layout = Layout::new(cluster);
    let result = async {
        let mut dir = connector.directory(session).await?;
        let outcome = async {
            let plan = directory::plan(dir.as_mut(), &layout, cluster, &input.services, &input.passwords).await?;
            if !check && !plan.is_empty() {
                directory::apply(dir.as_mut(), &plan).await?;
            }
            Ok::<DirectoryPlan, directory::DirectoryError>(plan)
        }
        .await;
        dir.close().await;
        outcome
    }
    .await;
    match result {
        Ok(plan) => {
            let warnings = plan.warnings.clone();
            if !plan.added.is_empty() || !plan.changed.is_empty() {
                run.report.directory = Some(plan);
            }
            warnings
        }
        Err(e) => {
            run.fail(StepError { step: "directory".into(), message: e.to_string() });
            Vec::new()
        }
    }
}

/// Every secret mailctl knows for this cluster, for masking.
pub fn secrets_to_mask(state: &crate::state::LocalState, input: &DirectoryInput) -> Vec<String> {
    let mut all: Vec<String> = state.data.secrets.values().cloned().collect();
    // The service users' passwords are state secrets already; account passwords are not.
    all.extend(input.passwords.values().cloned());
    all.extend(private_key_lines(state));
    all
}

/// The base64 lines of every private key in the state (the CA's, the hosts', DKIM's): a diff
/// hunk may show a key's middle without the BEGIN line the masker otherwise goes by.
fn private_key_lines(state: &crate::state::LocalState) -> Vec<String> {
    let pki = state.data.pki.iter().flat_map(|p| std::iter::once(&p.ca_key).chain(p.hosts.values().map(|h| &h.key)));
    let dkim = state.data.dkim.values().flatten().map(|k| &k.private_key);
    pki.chain(dkim).flat_map(|pem| pem.lines().filter(|l| !l.starts_with("-----")).map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_private_key_shown_without_its_begin_line_is_still_masked() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = crate::state::LocalState::open(&dir.path().join("s.yaml")).unwrap();
        let key = crate::mailauth::signing_key(&mut state, "a.test").unwrap().private_key.clone();
        let middle: Vec<&str> = key.lines().skip(3).take(2).collect();
        let hunk = format!("@@ -4,2 +4,2 @@\n-{}\n+{}\n", middle[0], middle[1]);
        let masked = crate::deploy::diff::Masker::new(super::private_key_lines(&state)).mask(&hunk);
        assert!(!masked.contains(middle[0]) && !masked.contains(middle[1]), "{masked}");
    }
}
