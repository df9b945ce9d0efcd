//! Deploy: connect → facts (one command per host) → plan (the difference) → apply, stage by
//! stage (base, ldap, mailbox, mta, proxy, dns), hosts of a stage in parallel. A host that
//! fails stops its own later steps, not the others'.

pub mod apply;
pub mod diff;
pub mod facts;
pub mod plan;

use std::time::Instant;

use serde::Serialize;

use crate::directory::{self, AccountPasswords, Directory, DirectoryPlan, Layout, ServicePasswords};
use crate::inventory::model::{Cluster, Role};
use crate::playbook::Stage;
use crate::remote::target::SshConfigFile;
use crate::remote::{ConnectOptions, Session, Target, fan_out, keys::KeyStore};
use crate::render::RenderedHost;
use crate::ui::Progress;
use apply::StepError;
use plan::{HostPlan, UnitAction};

const STAGES: [Stage; 6] = [Stage::Base, Stage::Ldap, Stage::Mailbox, Stage::Mta, Stage::Proxy, Stage::Dns];

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
    pub connect: ConnectOptions,
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
    session: Option<Session>,
    plan: Option<HostPlan>,
    report: HostReport,
}

impl HostRun {
    fn live(&self) -> Option<(&Session, &HostPlan)> {
        if self.report.failed.is_some() {
            return None;
        }
        Some((self.session.as_ref()?, self.plan.as_ref()?))
    }

    fn fail(&mut self, e: StepError) {
        self.report.ok = false;
        self.report.failed.get_or_insert(e);
    }
}

pub async fn deploy(
    cluster: &Cluster,
    rendered: &[RenderedHost],
    dir_input: &DirectoryInput,
    masker: &diff::Masker,
    opts: &DeployOptions,
    progress: &Progress,
) -> DeployReport {
    let started = Instant::now();
    let selected: Vec<&RenderedHost> = rendered.iter().filter(|h| selected(cluster, h, opts)).collect();
    let keys = KeyStore::default();
    let ssh_config = SshConfigFile::load_default();
    let mut runs = fan_out(selected, opts.forks, |h| prepare(cluster, h, &ssh_config, &keys, opts, progress)).await;
    let mut warnings = Vec::new();
    let diff = if opts.diff { diffs(&runs, masker, opts.forks).await } else { String::new() };
    if !opts.check {
        install_packages(&mut runs, opts.forks, progress).await;
        for stage in STAGES {
            apply_stage(&mut runs, stage, opts.forks, progress).await;
            if stage == Stage::Ldap {
                warnings.extend(sync_directory(cluster, &mut runs, dir_input, false, progress).await);
            }
        }
    } else {
        warnings.extend(sync_directory(cluster, &mut runs, dir_input, true, progress).await);
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
    cluster: &Cluster,
    rendered: &RenderedHost,
    ssh_config: &Result<SshConfigFile, crate::remote::RemoteError>,
    keys: &KeyStore,
    opts: &DeployOptions,
    progress: &Progress,
) -> HostRun {
    let mut run = HostRun {
        session: None,
        plan: None,
        report: HostReport { host: rendered.host.clone(), ok: true, ..Default::default() },
    };
    progress.set(&rendered.host, "connecting");
    let connected = async {
        let config =
            ssh_config.as_ref().map_err(|e| StepError { step: "ssh config".into(), message: e.to_string() })?;
        let host = cluster
            .host(&rendered.host)
            .ok_or_else(|| StepError { step: "inventory".into(), message: "host not in the inventory".into() })?;
        let target = Target::for_host(host, &cluster.base_dir(), config)
            .map_err(|e| StepError { step: "ssh target".into(), message: e.to_string() })?;
        let session = Session::connect(&target, &opts.connect, keys)
            .await
            .map_err(|e| StepError { step: "connect".into(), message: e.to_string() })?;
        Ok::<Session, StepError>(session)
    };
    let session = match connected.await {
        Ok(s) => s,
        Err(e) => {
            run.fail(e);
            return run;
        }
    };
    progress.set(&rendered.host, "reading facts");
    match facts::gather(&session, rendered).await {
        Ok(f) => {
            let plan = plan::plan(rendered, &f);
            run.report.packages = plan.packages.clone();
            run.report.changed_files =
                plan.components.iter().flat_map(|c| c.files.iter()).map(|f| f.file.dest.clone()).collect();
            run.report.units = plan.components.iter().filter_map(unit_summary).collect();
            run.plan = Some(plan);
        }
        Err(e) => run.fail(e.into()),
    }
    run.session = Some(session);
    progress.set(&rendered.host, if opts.check { "planned" } else { "waiting" });
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

async fn install_packages(runs: &mut [HostRun], forks: usize, progress: &Progress) {
    let outcomes = fan_out(runs.iter(), forks, |run| async move {
        let (session, plan) = run.live()?;
        if plan.packages.is_empty() {
            return None;
        }
        progress.set(session.host(), format!("installing {} packages", plan.packages.len()));
        apply::install_packages(session, plan).await.err()
    })
    .await;
    for (run, failure) in runs.iter_mut().zip(outcomes) {
        if let Some(e) = failure {
            run.fail(e);
        }
    }
}

async fn apply_stage(runs: &mut [HostRun], stage: Stage, forks: usize, progress: &Progress) {
    let outcomes = fan_out(runs.iter(), forks, |run| async move {
        let (session, plan) = run.live()?;
        for c in plan.components.iter().filter(|c| c.stage == stage && !c.is_noop()) {
            progress.set(session.host(), format!("{stage:?}: {}", c.name).to_lowercase());
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
    cluster: &Cluster,
    runs: &mut [HostRun],
    input: &DirectoryInput,
    check: bool,
    progress: &Progress,
) -> Vec<String> {
    let provider = cluster.hosts_with(Role::Ldap).find(|h| h.ldap_replica_of.is_none());
    let Some(run) = provider.and_then(|p| runs.iter_mut().find(|r| r.report.host == p.name)) else {
        return Vec::new();
    };
    let Some((session, plan)) = run.live() else { return Vec::new() };
    if check && !plan.packages.is_empty() {
        return vec![format!("{}: the directory is planned once slapd is installed", run.report.host)];
    }
    progress.set(session.host(), "directory");
    let dir = Directory { session, layout: Layout::new(cluster) };
    let result = async {
        let plan = directory::plan(&dir, cluster, &input.services, &input.passwords).await?;
        if !check && !plan.is_empty() {
            dir.modify(&plan.records).await?;
        }
        Ok::<DirectoryPlan, directory::DirectoryError>(plan)
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
    all
}
