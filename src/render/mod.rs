//! Renders every host's files from templates/ as the playbook lists them. No network.

pub mod context;
pub mod sandbox;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::inventory::{Cluster, Host};
use crate::playbook::{Handler, Playbook, Stage};
use crate::state::LocalState;
use context::SharedContext;

/// The templates shipped inside the binary.
static BUILTIN_TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Marks a directory as render output, so a later render may replace what it wrote.
const OUTPUT_MARKER: &str = ".mailctl-render";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Cluster(String),
    // Plain Display only: the alternate form lists the template's variables, secrets included.
    #[error("host {host}: {what}: {cause}")]
    Template { host: String, what: String, cause: minijinja::Error },
    #[error("templates: {0}")]
    Templates(String),
    #[error("{path}: {message}")]
    Output { path: PathBuf, message: String },
}

/// One file as it should be on a host.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedFile {
    pub dest: String,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub component: String,
}

/// One component as it applies to a host: what deploy installs, checks and restarts.
#[derive(Debug, Clone, Serialize)]
pub struct HostComponent {
    pub name: String,
    pub stage: Stage,
    pub packages: Vec<String>,
    pub debconf: Vec<String>,
    pub users: Vec<crate::playbook::SystemUser>,
    pub directories: Vec<crate::playbook::Directory>,
    pub unit: Option<String>,
    pub on_change: Option<Handler>,
    pub check: Option<String>,
    pub setup: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderedHost {
    pub host: String,
    pub components: Vec<HostComponent>,
    pub files: Vec<RenderedFile>,
}

pub struct Renderer {
    env: Environment<'static>,
    playbook: Playbook,
}

impl Renderer {
    /// Templates from `dir` when given (an admin's edited copy), else the built-in ones.
    pub fn new(playbook: Playbook, templates: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| RenderError::Templates(e.to_string()))?,
        );
        env.add_filter("short", |name: String| name.split('.').next().unwrap_or_default().to_string());
        // Dovecot 2.4 sizes: bytes, or `unlimited` for no quota (2.3 wrote 0 for that).
        env.add_function("quota_size", |bytes: Option<u64>| match bytes {
            None | Some(0) => "unlimited".to_string(),
            Some(b) => format!("{b}B"),
        });
        match templates {
            Some(dir) => load_dir(&mut env, dir, dir)?,
            None => load_builtin(&mut env, &BUILTIN_TEMPLATES)?,
        }
        for c in &playbook.components {
            for f in &c.files {
                // A name that differs by release (`dovecot/{{ release.dovecot }}/…`) must exist for each.
                for os in crate::release::Os::ALL {
                    let release = minijinja::context! { release => Value::from(minijinja::value::Serde(os.release())) };
                    env.render_str(&f.template, release).and_then(|name| env.get_template(&name).map(|_| ())).map_err(
                        |e| RenderError::Templates(format!("component {}: template {}: {e}", c.name, f.template)),
                    )?;
                }
            }
        }
        Ok(Renderer { env, playbook })
    }

    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    /// One template that belongs to no host (the edge router's NAT plan), on `ctx`.
    pub fn render_template(&self, name: &str, ctx: Value) -> Result<String, RenderError> {
        let template = self.env.get_template(name).map_err(|e| RenderError::Templates(format!("{name}: {e}")))?;
        template.render(ctx).map_err(|e| RenderError::Templates(format!("{name}: {e}")))
    }

    /// Renders the named hosts (all when `only` is empty). Generated secrets and
    /// certificates are added to `state`; the caller saves it.
    pub fn render(
        &self,
        cluster: &Cluster,
        state: &mut LocalState,
        only: &[String],
    ) -> Result<Vec<RenderedHost>, RenderError> {
        for name in only {
            if cluster.host(name).is_none() {
                let known: Vec<&str> = cluster.hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(RenderError::Cluster(format!(
                    "no host `{name}` in the inventory (hosts: {})",
                    known.join(", ")
                )));
            }
        }
        let shared = SharedContext::build(cluster, state)?;
        cluster
            .hosts
            .iter()
            .filter(|h| only.is_empty() || only.contains(&h.name))
            .map(|h| self.render_host(h, &context::conditions(cluster, h), &shared.for_host(cluster, h)))
            .collect()
    }

    fn render_host(&self, host: &Host, conditions: &Value, ctx: &Value) -> Result<RenderedHost, RenderError> {
        let err = |what: String| move |cause| RenderError::Template { host: host.name.clone(), what, cause };
        let mut components = Vec::new();
        let mut files = Vec::new();
        let mut comps: Vec<_> =
            self.playbook.components.iter().filter_map(|c| self.playbook.stage_for(c, host).map(|s| (s, c))).collect();
        comps.sort_by_key(|(s, _)| self.playbook.stage_index(*s));
        for (stage, c) in comps {
            if !crate::playbook::applies(&c.when, conditions).map_err(err(format!("component {} `when`", c.name)))? {
                continue;
            }
            for f in &c.files {
                if !crate::playbook::applies(&f.when, ctx).map_err(err(format!("{} `when`", f.dest)))? {
                    continue;
                }
                let items: Vec<Value> = match &f.foreach {
                    None => vec![Value::UNDEFINED],
                    Some(list) => {
                        let v = self
                            .env
                            .compile_expression(list)
                            .and_then(|e| e.eval(ctx))
                            .map_err(err(format!("{} foreach", f.dest)))?;
                        v.try_iter().map_err(err(format!("{} foreach", f.dest)))?.collect()
                    }
                };
                for item in items {
                    let fctx = if item.is_undefined() {
                        ctx.clone()
                    } else {
                        minijinja::context! { item => item, ..ctx.clone() }
                    };
                    let dest = self.env.render_str(&f.dest, &fctx).map_err(err(format!("path {}", f.dest)))?;
                    let name =
                        crate::playbook::per_release(&f.template, conditions).map_err(err(f.template.clone()))?;
                    let tmpl = self.env.get_template(&name).map_err(err(f.template.clone()))?;
                    let content = tmpl.render(&fctx).map_err(err(format!("{dest} (template {})", f.template)))?;
                    files.push(RenderedFile {
                        dest,
                        content: content.into_bytes(),
                        mode: u32::from_str_radix(&f.mode, 8).unwrap_or(0o644),
                        owner: f.owner.clone(),
                        group: f.group.clone(),
                        component: c.name.clone(),
                    });
                }
            }
            if let Some(setup) = &c.setup {
                files.push(setup_marker(&c.name, setup, &files));
            }
            components.push(HostComponent {
                name: c.name.clone(),
                stage,
                packages: c.packages.clone(),
                debconf: c.debconf.clone(),
                users: c.users.clone(),
                directories: c.directories.clone(),
                unit: c
                    .service
                    .as_ref()
                    .map(|s| crate::playbook::per_release(&s.unit, conditions))
                    .transpose()
                    .map_err(err(format!("component {} unit", c.name)))?,
                on_change: c.service.as_ref().map(|s| s.on_change),
                check: c
                    .service
                    .as_ref()
                    .and_then(|s| s.check.as_ref())
                    .map(|ch| crate::playbook::per_release(ch, conditions))
                    .transpose()
                    .map_err(err(format!("component {} check", c.name)))?,
                setup: c.setup.clone(),
            });
        }
        Ok(RenderedHost { host: host.name.clone(), components, files })
    }
}

/// Where deploy keeps the proof that a component's setup ran for its current files.
pub fn setup_marker_path(component: &str) -> String {
    format!("/var/lib/mailctl/setup/{component}.done")
}

/// A file that changes whenever the setup command or the component's other files do, so a
/// change runs the setup; deploy removes it when the setup fails, so the next deploy runs the
/// setup again even though the other files are already in place.
fn setup_marker(component: &str, setup: &str, files: &[RenderedFile]) -> RenderedFile {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    digest.update(setup.as_bytes());
    for f in files.iter().filter(|f| f.component == component) {
        digest.update(f.dest.as_bytes());
        digest.update(&f.content);
    }
    let hex: String = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
    RenderedFile {
        dest: setup_marker_path(component),
        content: format!("# mailctl: the setup of {component} ran for these files\n{hex}\n").into_bytes(),
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        component: component.to_string(),
    }
}

fn load_builtin(env: &mut Environment<'static>, dir: &'static Dir<'static>) -> Result<(), RenderError> {
    for entry in dir.entries() {
        match entry {
            include_dir::DirEntry::Dir(d) => load_builtin(env, d)?,
            include_dir::DirEntry::File(f) => {
                let name = f.path().to_string_lossy().to_string();
                let text = f.contents_utf8().ok_or_else(|| RenderError::Templates(format!("{name} is not UTF-8")))?;
                env.add_template(leak(name.clone()), text)
                    .map_err(|e| RenderError::Templates(format!("{name}: {e}")))?;
            }
        }
    }
    Ok(())
}

fn load_dir(env: &mut Environment<'static>, root: &Path, dir: &Path) -> Result<(), RenderError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RenderError::Templates(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry.map_err(|e| RenderError::Templates(e.to_string()))?.path();
        if path.is_dir() {
            load_dir(env, root, &path)?;
            continue;
        }
        let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().to_string();
        let text =
            std::fs::read_to_string(&path).map_err(|e| RenderError::Templates(format!("{}: {e}", path.display())))?;
        env.add_template_owned(name.clone(), text).map_err(|e| RenderError::Templates(format!("{name}: {e}")))?;
    }
    Ok(())
}

/// Built-in template names live as long as the program; leaking them once is the simplest
/// way to give minijinja the `'static` names it wants.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Writes `OUT/<host>/<dest>` for every file, with its mode, and `OUT/manifest.json`
/// describing owners, components, checkers and handlers. Refuses to write into a non-empty
/// directory that is not an earlier render, and replaces only the hosts it renders.
pub fn write_tree(out: &Path, hosts: &[RenderedHost]) -> Result<(), RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| RenderError::Output { path, message: e.to_string() }
    };
    if out.exists() {
        let is_ours = out.join(OUTPUT_MARKER).exists();
        let empty = std::fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !is_ours && !empty {
            return Err(RenderError::Output {
                path: out.to_path_buf(),
                message: "directory is not empty and is not an earlier `mailctl render` output; choose another --out"
                    .to_string(),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    std::fs::write(out.join(OUTPUT_MARKER), "written by mailctl render\n").map_err(io(out))?;
    let mut manifest = load_manifest(out);
    for h in hosts {
        let root = out.join(&h.host);
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(io(&root))?;
        }
        for f in &h.files {
            let path = root.join(f.dest.trim_start_matches('/'));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, &f.content).map_err(io(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).map_err(io(&path))?;
        }
        manifest.insert(h.host.clone(), serde_json::to_value(h).unwrap_or_default());
    }
    let path = out.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(())
}

fn load_manifest(out: &Path) -> BTreeMap<String, serde_json::Value> {
    std::fs::read_to_string(out.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}
