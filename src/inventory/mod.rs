//! The inventory: the YAML file an admin writes, checked into a `Cluster`.
//!
//! `schema` is the file's shape, `validate` the semantic checks, `model` the result.

pub mod address;
pub mod diagnostic;
pub mod mask;
pub mod model;
pub mod scan;
pub mod schema;
pub mod secret;
pub mod validate;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
pub use model::*;
pub use secret::SecretRef;

use diagnostic::Reporter;

/// A cluster that passed validation, and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub cluster: Cluster,
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {path}: {cause}")]
    Unreadable { path: PathBuf, cause: std::io::Error },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
}

impl InventoryError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            InventoryError::Invalid(d) => d,
            InventoryError::Unreadable { .. } => &[],
        }
    }
}

fn render_all(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let mut text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    text.push(format!("{errors} error{} in the inventory", if errors == 1 { "" } else { "s" }));
    text.join("\n\n")
}

pub fn load(path: &Path) -> Result<Loaded, InventoryError> {
    let text = scan::read_capped(path).map_err(|e| {
        let invalid = |line, column, message: String, help: &str| {
            let d = Reporter::new(path, "").diagnostic(Severity::Error, line, column, message, Some(help.to_string()));
            InventoryError::Invalid(vec![d])
        };
        match e {
            scan::ReadError::Io(cause) => InventoryError::Unreadable { path: path.to_path_buf(), cause },
            scan::ReadError::TooLarge => invalid(
                0,
                0,
                format!("the inventory is larger than {} MiB", scan::MAX_INVENTORY_BYTES >> 20),
                "an inventory lists hosts and accounts; import large account lists with `mailctl account import`",
            ),
            scan::ReadError::NotUtf8 { line, column } => {
                invalid(line, column, "the inventory is not UTF-8 text".to_string(), "save the file as UTF-8")
            }
        }
    })?;
    parse(&text, path)
}

/// Parses and validates inventory text; `path` is used for messages and relative references.
pub fn parse(text: &str, path: &Path) -> Result<Loaded, InventoryError> {
    let mut rep = Reporter::new(path, text);
    if scan::control_characters(text, &mut rep) && rep.has_errors() {
        return Err(InventoryError::Invalid(rep.diagnostics));
    }
    let file: schema::InventoryFile = match serde_saphyr::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let message = bare_message(&e.without_snippet().to_string());
            let help = help_for_parse_error(&message);
            let d = rep.diagnostic(Severity::Error, line, column, message, help);
            return Err(InventoryError::Invalid(vec![d]));
        }
    };
    let cluster = validate::validate(file, path, &mut rep);
    match cluster {
        Some(cluster) => Ok(Loaded { cluster, warnings: rep.diagnostics }),
        None => Err(InventoryError::Invalid(rep.diagnostics)),
    }
}

/// serde-saphyr prefixes its messages with "error: line N column M: "; we print our own.
fn bare_message(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or(rendered);
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, msg)) if pos.contains("column") => msg,
        _ => rest,
    };
    // Some messages repeat the position at their end; we already print it in front.
    match msg.rsplit_once(" at line ") {
        Some((head, tail)) if tail.contains(", column ") => head.to_string(),
        _ => msg.to_string(),
    }
}

fn help_for_parse_error(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("check the spelling; README.md lists every inventory key".to_string())
    } else if message.starts_with("unknown variant") {
        Some("use one of the listed values".to_string())
    } else if message.starts_with("missing field") {
        Some("this key is required here".to_string())
    } else {
        None
    }
}
