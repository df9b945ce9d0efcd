//! Checks on the inventory as text, before and beside the schema: a size cap, UTF-8, no
//! control character in any value (free text included), and masking of plaintext secrets in
//! every snippet a diagnostic quotes.
//!
//! A control character in a value is how a string escapes the config line it is rendered into
//! (a newline and `notify_master "…"` in keepalived.conf, say), so no value may hold one.

use std::io::Read;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Location;

use super::diagnostic::Reporter;

/// An inventory describes servers, not mailboxes: a few hundred KB at most in practice.
pub const MAX_INVENTORY_BYTES: u64 = 4 * 1024 * 1024;

pub enum ReadError {
    Io(std::io::Error),
    TooLarge,
    /// Not UTF-8: the 1-based line and column of the first bad byte.
    NotUtf8 {
        line: u64,
        column: u64,
    },
}

/// Reads at most `MAX_INVENTORY_BYTES` (so `/dev/zero` or a runaway file cannot eat memory)
/// and insists on UTF-8.
pub fn read_capped(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_INVENTORY_BYTES + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let column = good.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
        ReadError::NotUtf8 { line, column }
    })
}

/// Any YAML value, keeping where each one starts: what the control-character check walks.
enum Node {
    Text(String),
    List(Vec<serde_saphyr::Spanned<Node>>),
    Map(Vec<(String, serde_saphyr::Spanned<Node>)>),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Text(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            entries.push((key.0, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text, whatever its YAML type (`80: x` has an integer key).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reports every value holding a control character (tabs included: no config we render
/// wants one inside a value). Returns false when the text does not parse as YAML at all;
/// the schema parse then reports that.
pub fn control_characters(text: &str, rep: &mut Reporter) -> bool {
    let Ok(root) = serde_saphyr::from_str::<serde_saphyr::Spanned<Node>>(text) else { return false };
    walk(&root, "", rep);
    true
}

fn walk(node: &serde_saphyr::Spanned<Node>, path: &str, rep: &mut Reporter) {
    match &node.value {
        Node::Text(t) => {
            if let Some(c) = t.chars().find(|c| c.is_control()) {
                rep.error(
                    node.referenced,
                    format!("`{}` holds a control character ({})", display_path(path), describe(c)),
                    Some("a value is one line of printable text; remove the line break or escape".to_string()),
                );
            }
        }
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), rep);
            }
        }
        Node::Map(entries) => {
            for (key, value) in entries {
                if key.chars().any(char::is_control) {
                    rep.error(value.referenced, "a key holds a control character", None);
                    continue;
                }
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                walk(value, &child, rep);
            }
        }
        Node::Other => {}
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "the document" } else { path }
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a line break".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        c => format!("U+{:04X}", c as u32),
    }
}

/// The line a location points into, for callers outside the reporter.
pub fn line_of(text: &str, at: Location) -> Option<&str> {
    (at.line() > 0).then(|| text.lines().nth((at.line() - 1) as usize)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_characters_with_their_place() {
        let text = "a:\n  b: \"x\\nnotify_master y\"\n  c: [ok, \"\\u0007\"]\n  d: |\n    two\n    lines\n";
        let path = Path::new("t.yaml");
        let mut rep = Reporter::new(path, text);
        assert!(control_characters(text, &mut rep));
        let found: Vec<(u64, &str)> = rep.diagnostics.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0], (2, "`a.b` holds a control character (a line break)"));
        assert_eq!(found[1].0, 3);
        assert!(found[2].1.starts_with("`a.d`"));
    }
}
