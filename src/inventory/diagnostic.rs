//! Errors and warnings about an inventory, each tied to a place in the file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding: where it is, what is wrong, and what to do about it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; 0 when the finding concerns the file as a whole.
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub help: Option<String>,
    /// The source line the position points into, for the snippet under the message.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line > 0 {
            write!(f, "{}:{}:{}: {kind}: {}", self.file.display(), self.line, self.column, self.message)?;
        } else {
            write!(f, "{}: {kind}: {}", self.file.display(), self.message)?;
        }
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret_at = self.column.saturating_sub(1) as usize;
            // Keep tabs in the caret line so the caret lands under the right character.
            let lead: String = src.chars().take(caret_at).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            write!(f, "\n{pad} |\n{gutter} | {src}\n{pad} | {lead}^")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Collects findings for one inventory file and fills in positions and snippets.
pub struct Reporter<'a> {
    file: &'a Path,
    source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Reporter { file, source, diagnostics: Vec::new() }
    }

    pub fn error(&mut self, at: Location, message: impl Into<String>, help: impl Into<Option<String>>) {
        self.push(Severity::Error, at, message.into(), help.into());
    }

    pub fn warning(&mut self, at: Location, message: impl Into<String>, help: impl Into<Option<String>>) {
        self.push(Severity::Warning, at, message.into(), help.into());
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn push(&mut self, severity: Severity, at: Location, message: String, help: Option<String>) {
        self.diagnostics.push(self.diagnostic(severity, at.line(), at.column(), message, help));
    }

    pub fn diagnostic(
        &self,
        severity: Severity,
        line: u64,
        column: u64,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let raw_line = (line > 0).then(|| self.source.lines().nth((line - 1) as usize)).flatten();
        // Whatever is wrong on a line, a plaintext secret on it is never echoed: neither in
        // the snippet nor in a parser message that quotes the value.
        let source_line = raw_line.map(super::mask::mask_secrets);
        let message = match (raw_line, &source_line) {
            (Some(raw), Some(masked)) if raw != masked => mask_quoted_values(&message, raw, masked),
            _ => message,
        };
        Diagnostic { severity, file: self.file.to_path_buf(), line, column, message, help, source_line }
    }
}

/// Removes from `message` every word of the raw line that the masked line hides.
fn mask_quoted_values(message: &str, raw: &str, masked: &str) -> String {
    let kept: std::collections::HashSet<&str> =
        masked.split(|c: char| c.is_whitespace() || ",{}[]".contains(c)).collect();
    let mut out = message.to_string();
    for word in raw.split(|c: char| c.is_whitespace() || ",{}[]".contains(c)) {
        let bare = word.trim_matches(|c| c == '"' || c == '\'' || c == '`');
        if bare.len() >= 3 && !kept.contains(word) && !kept.contains(bare) {
            out = out.replace(bare, "********");
        }
    }
    out
}
