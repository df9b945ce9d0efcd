//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mailctl::inventory::{self, Cluster};
use mailctl::playbook::Playbook;
use mailctl::render::{RenderedHost, Renderer};
use mailctl::state::LocalState;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub const SHIPPED: [&str; 6] = ["tgg", "lvlogistics", "hudedu", "excellent", "smknh", "lab"];

pub fn shipped(name: &str) -> PathBuf {
    repo().join("inventories").join(format!("{name}.yaml"))
}

pub fn load(path: &Path) -> Cluster {
    match inventory::load(path) {
        Ok(l) => l.cluster,
        Err(e) => panic!("{} does not load:\n{e}", path.display()),
    }
}

/// Renders a cluster with its state in `state_dir` (never beside the shipped inventories).
pub fn render(cluster: &Cluster, state_dir: &Path) -> Vec<RenderedHost> {
    let mut state = LocalState::open(&state_dir.join(format!("{}.state.yaml", cluster.name))).unwrap();
    let renderer = Renderer::new(Playbook::builtin().unwrap(), None).unwrap();
    let hosts = renderer.render(cluster, &mut state, &[]).unwrap();
    state.save().unwrap();
    hosts
}

pub fn file<'a>(hosts: &'a [RenderedHost], host: &str, dest: &str) -> &'a str {
    let h = hosts.iter().find(|h| h.host == host).unwrap_or_else(|| panic!("no host {host}"));
    let f = h.files.iter().find(|f| f.dest == dest).unwrap_or_else(|| panic!("{host} has no {dest}"));
    std::str::from_utf8(&f.content).unwrap()
}

pub fn mailctl() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailctl"))
}
