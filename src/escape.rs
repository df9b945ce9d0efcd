//! Text that came from a remote host (a banner, a journal line, a checker's complaint) made
//! safe to print: control characters shown as escapes, so a hostile or broken peer cannot
//! move the cursor, recolour the terminal or forge lines of our output.

/// One line: every control character escaped, line breaks included.
pub fn line(text: &str) -> String {
    escape(text, false)
}

/// A block of lines: line breaks and tabs kept, every other control character escaped.
pub fn block(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, keep_layout: bool) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_layout => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(super::line("220 ok\x1b[2J\r\nfake"), "220 ok\\u{1b}[2J\\r\\nfake");
        assert_eq!(super::block("a\n\tb\x07"), "a\n\tb\\u{7}");
        assert_eq!(super::line("plain"), "plain");
    }
}
