//! Progress on a terminal: one line per host saying what it is doing. Off the terminal (cron,
//! pipes) or with JSON output, nothing is drawn.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bars: BTreeMap<String, ProgressBar>,
    _multi: MultiProgress,
}

impl Progress {
    /// Bars for `hosts` when `enabled` and stderr is a terminal; silent otherwise.
    pub fn new<'a>(hosts: impl IntoIterator<Item = &'a str>, enabled: bool) -> Progress {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let hosts: Vec<&str> = hosts.into_iter().collect();
        let width = hosts.iter().map(|h| h.len()).max().unwrap_or(4);
        let style = ProgressStyle::with_template(&format!("{{spinner}} {{prefix:<{width}}}  {{msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = hosts
            .into_iter()
            .map(|h| {
                let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()).with_prefix(h.to_string()));
                bar.enable_steady_tick(Duration::from_millis(120));
                (h.to_string(), bar)
            })
            .collect();
        Progress { bars, _multi: multi }
    }

    pub fn set(&self, host: &str, message: impl Into<String>) {
        if let Some(bar) = self.bars.get(host) {
            bar.set_message(message.into());
        }
    }

    pub fn finish(&self, host: &str, message: impl Into<String>) {
        if let Some(bar) = self.bars.get(host) {
            bar.finish_with_message(message.into());
        }
    }

    /// Removes every bar, so a summary printed after starts on a clean screen.
    pub fn clear(&self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
    }
}

/// A table in the house style.
pub fn table<const N: usize>(header: [&str; N]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(header);
    t
}
