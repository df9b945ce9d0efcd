//! How `mailctl provision` asks before destroying, and shows what it did.

use std::io::{BufRead, IsTerminal, Write};

use crate::proxmox::provision::{Action, ProvisionReport, Provisioner};
use crate::proxmox::spec;

/// Asks on the terminal, naming each VM; off a terminal, refuses (scripts pass --yes).
pub fn confirm_destroy(
    runtime: &tokio::runtime::Runtime,
    provisioner: &Provisioner,
    specs: &[spec::VmSpec],
) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!("error: refusing to destroy VMs without confirmation: run on a terminal, or add --yes");
        return Ok(false);
    }
    for s in specs {
        let what = match runtime.block_on(provisioner.find(s)) {
            Ok(Some(vm)) => format!("VM {} `{}` on {} ({}) and all its disks", vm.vmid, vm.name, vm.node, vm.status),
            Ok(None) => continue,
            Err(e) => {
                eprintln!("error: {}: {e}", s.host);
                return Ok(false);
            }
        };
        eprint!("Destroy {what}? Type the host name to confirm: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != s.host {
            eprintln!("not confirmed; nothing destroyed");
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn text(report: &ProvisionReport) {
    let mut table = crate::ui::table(["host", "vmid", "node", "result", "details"]);
    for h in &report.hosts {
        let details = match (&h.failed, h.action) {
            (Some(f), _) => format!("{}: {}", f.step, f.message),
            (None, Action::Differs) => h
                .differences
                .iter()
                .map(|d| format!("{}: inventory {}, Proxmox {}", d.field, one_line(&d.inventory), one_line(&d.proxmox)))
                .collect::<Vec<_>>()
                .join("\n"),
            (None, Action::Absent) => "no such VM; nothing to destroy".into(),
            _ => String::new(),
        };
        let vmid = h.vmid.map(|v| v.to_string()).unwrap_or_else(|| "next free".into());
        table.add_row([h.host.clone(), vmid, h.node.clone(), action_word(h.action).to_string(), details]);
    }
    outln!("{table}");
    let counts: Vec<String> = [
        Action::Created,
        Action::Resumed,
        Action::Unchanged,
        Action::Differs,
        Action::WouldCreate,
        Action::WouldResume,
        Action::Destroyed,
        Action::Absent,
        Action::Failed,
    ]
    .into_iter()
    .filter(|a| report.count(*a) > 0)
    .map(|a| format!("{} {}", report.count(a), action_word(a)))
    .collect();
    outln!(
        "{}: {} VM(s): {} in {:.1}s",
        if report.check { "check" } else { "provision" },
        report.hosts.len(),
        counts.join(", "),
        report.seconds
    );
    if report.count(Action::Differs) > 0 {
        outln!("VMs that differ were left alone: change them in Proxmox (qm set), or the inventory to match.");
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Created => "created",
        Action::Resumed => "resumed",
        Action::Unchanged => "unchanged",
        Action::Differs => "differs",
        Action::WouldCreate => "would create",
        Action::WouldResume => "would resume",
        Action::Failed => "FAILED",
        Action::Destroyed => "destroyed",
        Action::Absent => "absent",
    }
}

fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    match lines.len() {
        0 => "(none)".into(),
        1 => lines[0].to_string(),
        n => format!("{} (+{} more)", lines[0], n - 1),
    }
}
