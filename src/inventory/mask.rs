//! Plaintext secrets masked out of inventory lines before any of them is printed.

/// Keys whose value, when it is not an `env:`/`file:` reference, is a plaintext secret.
const SECRET_KEYS: [&str; 4] = ["password", "token_secret", "key", "secret"];

/// The line with any plaintext secret replaced by `********`: the value after a secret key
/// (`password:`, `token_secret:`, `key:`, `secret:`), unless it is an `env:`/`file:`
/// reference. Works on block (`key: v`) and flow (`{ key: v, … }`) lines alike, so every
/// diagnostic on the line, a parse error included, is safe to print.
pub fn mask_secrets(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(value_start) = next_secret_value(rest) {
        out.push_str(&rest[..value_start]);
        let tail = &rest[value_start..];
        let end = value_end(tail);
        let value = tail[..end].trim();
        let bare = value.trim_matches(|c| c == '"' || c == '\'');
        if bare.is_empty() || bare.starts_with("env:") || bare.starts_with("file:") {
            out.push_str(&tail[..end]);
        } else {
            let lead = &tail[..tail.len() - tail.trim_start().len()];
            out.push_str(lead);
            out.push_str("********");
            if tail[..end].ends_with(' ') {
                out.push(' ');
            }
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Where the value of the next `secretkey:` begins.
fn next_secret_value(s: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(i) = s[from..].find(key).map(|i| i + from) {
            let before_ok = s[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let after = &s[i + key.len()..];
            if before_ok && after.starts_with(':') {
                let value_start = i + key.len() + 1;
                if best.is_none_or(|(b, _)| i < b) {
                    best = Some((i, value_start));
                }
                break;
            }
            from = i + key.len();
        }
    }
    best.map(|(_, value_start)| value_start)
}

/// A value runs to the end of the line, or in a flow mapping to the next `,` or `}` outside
/// quotes; a `#` after a space starts a comment, which may quote the secret too, so it is
/// masked with the value.
fn value_end(s: &str) -> usize {
    let trimmed = s.trim_start();
    let lead = s.len() - trimmed.len();
    let mut quote: Option<char> = None;
    for (i, c) in trimmed.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if i == 0 => quote = Some(c),
            (None, ',' | '}' | ']') => return lead + i,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plaintext_secrets_in_block_and_flow_lines() {
        assert_eq!(mask_secrets("    password: hunter2"), "    password: ********");
        assert_eq!(
            mask_secrets("  - { address: a@b.c, password: \"hunter2\", bogus: 1 }"),
            "  - { address: a@b.c, password: ********, bogus: 1 }"
        );
        assert_eq!(mask_secrets("  password: env:PW"), "  password: env:PW");
        assert_eq!(mask_secrets("  token_secret: 'abc' # abc"), "  token_secret: ********");
        assert_eq!(mask_secrets("  keyboard: x, key: file:k.pem"), "  keyboard: x, key: file:k.pem");
        assert_eq!(mask_secrets("  name: Siti"), "  name: Siti");
    }
}
