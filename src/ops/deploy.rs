//! `deploy`: render every host from the inventory and the state's secrets, then bring the
//! hosts to it (`crate::deploy`), the directory's accounts included.

use std::path::Path;

use anyhow::Context;

use super::Ops;
use crate::conventions::secret;
use crate::deploy::{self, DeployOptions, DeployReport, DirectoryInput, diff::Masker};
use crate::directory::{self, ServicePasswords};
use crate::playbook::Playbook;
use crate::render::Renderer;
use crate::state::LocalState;

/// Renders with `playbook` and `templates` (the built-in ones when None), saves any secret
/// generated on the way, deploys. Secrets are masked in everything the report carries.
pub async fn run(
    ops: &Ops<'_>,
    state: &mut LocalState,
    playbook: Playbook,
    templates: Option<&Path>,
    opts: &DeployOptions,
) -> anyhow::Result<DeployReport> {
    let renderer = Renderer::new(playbook, templates)?;
    let rendered = renderer.render(ops.cluster, state, &[])?;
    let input = DirectoryInput {
        services: ServicePasswords {
            reader: state.secret(secret::LDAP_READER.0, secret::LDAP_READER.1),
            replicator: state.secret(secret::LDAP_REPLICATOR.0, secret::LDAP_REPLICATOR.1),
        },
        passwords: directory::resolve_passwords(ops.cluster)?,
    };
    state.save().context("saving generated secrets")?;
    let masker = Masker::new(deploy::secrets_to_mask(state, &input));
    let stages = renderer.playbook().stages.clone();
    Ok(deploy::deploy(ops.connector, ops.cluster, &rendered, &stages, &input, &masker, opts, ops.observer).await)
}
