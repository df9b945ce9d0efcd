//! How `mailctl status` shows a report: once, or again and again with `--watch`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use crate::cli::support::{EXIT_FAILED, EXIT_OK, Format};
use crate::deploy::diff::Masker;
use crate::inventory::model::Cluster;
use crate::status::{self, Connections, StatusOptions, StatusReport, format};

pub async fn watch(
    fmt: Format,
    cluster: &Cluster,
    opts: &StatusOptions,
    masker: &Masker,
    connections: &mut Connections<'_>,
    every: f64,
    output: Option<&Path>,
) -> anyhow::Result<u8> {
    // Listening from the start: a Ctrl-C during the first round ends the watch after it,
    // instead of being lost (or killing the process mid-write).
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let redraw = output.is_none() && std::io::stdout().is_terminal();
    let mut code;
    loop {
        let mut report = status::check(cluster, opts, connections).await?;
        status::mask(&mut report, masker);
        if redraw {
            // Home the cursor and clear the screen, as watch(1) does.
            out!("\x1b[H\x1b[2J");
            outln!("Every {every} s: mailctl status {}    {}\n", cluster.name, report.checked_at);
        }
        code = emit(fmt, &report, output)?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(every)) => {}
            _ = interrupt.recv() => return Ok(code),
        }
    }
}

/// Prints (or writes) the report in `fmt`; gives the exit code.
pub fn emit(fmt: Format, report: &StatusReport, output: Option<&Path>) -> anyhow::Result<u8> {
    let terminal = output.is_none() && std::io::stdout().is_terminal();
    let text = match fmt {
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Zmcontrol => format::zmcontrol(report),
        Format::Table => format::table(report),
        Format::Text if terminal => format::table(report),
        Format::Text => format::zmcontrol(report),
        Format::Nagios => format::nagios(report),
        Format::Prometheus => format::prometheus(report),
    };
    match output {
        Some(path) => crate::state::replace_file(path, text.as_bytes(), 0o644)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(match fmt {
        Format::Nagios => format::nagios_state(report) as u8,
        _ if report.ok() => EXIT_OK,
        _ => EXIT_FAILED,
    })
}
