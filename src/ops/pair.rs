//! `mailctl failover HOST` and `mailctl failback HOST`: which member of a mailbox pair serves
//! HOST's accounts (docs/pairs.md).
//!
//! A pair member's accounts are reached at its pair address (`mailbox.<fqdn>`), which
//! keepalived puts on the owner or on its partner. Each member may hold an address only while
//! its gate file for it holds 0 (templates/keepalived/keepalived.conf), and an address never
//! moves back by itself (nopreempt). So:
//! - failover: the partner's gate opens; when HOST still answers (a planned failover) its
//!   copies are merged into the partner first and HOST's own gate closes, so it lets go;
//! - failback: HOST's gate opens, both copies are merged, the partner's gate closes so it lets
//!   go and HOST takes the address, the copies are merged again (what was written in between)
//!   and, in an automatic pair, the partner's gate opens again for the next failure.
//!
//! Every step finds out whether it was done already, so either command can be run again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use super::Ops;
use crate::accounts::replica::holds_script;
use crate::inventory::{Host, Pair};
use crate::remote::{HostConn, quote};
use crate::render::context::{REPLICA_PORT, REPLICA_TUNNEL_PORT, pair_gate_path, pair_instance};

/// How long an address may take to move: keepalived notices a gate within a second and
/// hands over in three adverts (0.9 s).
const MOVE_LIMIT: Duration = Duration::from_secs(15);
/// A merge of every account of the pair: dsync of each account in turn.
const SYNC_LIMIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize)]
pub struct Switched {
    /// The host whose accounts were switched.
    pub host: String,
    pub partner: String,
    /// Where those accounts are reached.
    pub address: String,
    /// Who serves them now.
    pub served_by: String,
    /// Both copies were merged before the switch (HOST answered).
    pub merged: bool,
    /// Nothing had to move: the address was already where it was asked to be.
    pub already: bool,
    pub seconds: f64,
}

/// The pair, HOST and its partner, or an error that says what the inventory lacks.
fn members<'a>(ops: &Ops<'a>, host: &str) -> anyhow::Result<(&'a Pair, &'a Host, &'a Host)> {
    let cluster = ops.cluster;
    let h = cluster.host(host).with_context(|| format!("no host `{host}` in the inventory"))?;
    let pair = cluster
        .pair_of(host)
        .with_context(|| format!("{host} is in no mailbox pair: failover needs a `pairs:` entry (docs/pairs.md)"))?;
    let partner = cluster.partner_of(host).context("the pair's other host")?;
    Ok((pair, h, partner))
}

fn lock(ops: &Ops<'_>) -> anyhow::Result<crate::lock::Lock> {
    let mut path = crate::lock::inventory_lock_path(ops.inventory).into_os_string();
    path.push(".pairs");
    crate::lock::lock_file(std::path::Path::new(&path), Duration::ZERO, "another failover or failback is running")
}

pub async fn failover(ops: &Ops<'_>, host: &str) -> anyhow::Result<Switched> {
    let (pair, h, partner) = members(ops, host)?;
    let _lock = lock(ops)?;
    let started = Instant::now();
    let address = pair.address_of(host).context("the pair address")?;
    let instance = pair_instance(pair, host);
    let p = ops
        .connector
        .connect(partner)
        .await
        .with_context(|| format!("{}: cannot take over {host}'s accounts without reaching it", partner.name))?;
    ops.observer.step(host, &format!("asking {host} (a planned failover merges its copies first)"));
    let own = ops.connector.connect(h).await.ok();
    let result = async {
        let already = holds(&p, address).await?;
        let mut merged = false;
        if let Some(own) = own.as_ref().filter(|_| !already) {
            ops.observer.step(host, &format!("merging {host}'s copies into {}", partner.name));
            drop_stale_syncs(&p, h).await?;
            drop_stale_syncs(own, partner).await?;
            merge(own).await?;
            merged = true;
        }
        ops.observer.step(host, &format!("{} takes {address}", partner.name));
        set_gate(&p, &instance, Gate::Open).await?;
        if let Some(own) = &own {
            set_gate(own, &instance, Gate::Closed).await?;
        }
        wait_for_holder(&p, address, &partner.name).await?;
        Ok(Switched {
            host: host.to_string(),
            partner: partner.name.clone(),
            address: address.to_string(),
            served_by: partner.name.clone(),
            merged,
            already,
            seconds: crate::status::round_ms(started.elapsed().as_secs_f64()),
        })
    }
    .await;
    p.close().await;
    if let Some(own) = own {
        own.close().await;
    }
    result
}

pub async fn failback(ops: &Ops<'_>, host: &str) -> anyhow::Result<Switched> {
    let (pair, h, partner) = members(ops, host)?;
    let _lock = lock(ops)?;
    let started = Instant::now();
    let address = pair.address_of(host).context("the pair address")?;
    let instance = pair_instance(pair, host);
    let own = ops.connector.connect(h).await.with_context(|| format!("{host} must be up to take its accounts back"))?;
    let p = match ops.connector.connect(partner).await {
        Ok(p) => p,
        Err(e) => {
            own.close().await;
            return Err(e).with_context(|| {
                format!("{}: the copies written there must be merged before {host} serves again", partner.name)
            });
        }
    };
    let result = async {
        let already = holds(&own, address).await?;
        set_gate(&own, &instance, Gate::Open).await?;
        ops.observer.step(host, &format!("merging {}'s copies into {host}", partner.name));
        drop_stale_syncs(&p, h).await?;
        merge(&p).await?;
        if !already {
            ops.observer.step(host, &format!("{host} takes {address} back"));
            set_gate(&p, &instance, Gate::Closed).await?;
            if let Err(e) = wait_for_holder(&own, address, host).await {
                // Nobody may be left without the address: the partner serves on.
                set_gate(&p, &instance, Gate::Open).await?;
                return Err(e.context(format!(
                    "{} serves {host}'s accounts again; see `journalctl -u keepalived` on {host}",
                    partner.name
                )));
            }
            ops.observer.step(host, "merging what was written during the switch");
            merge(&own).await?;
        }
        // The partner's gate ends as the deploy left it: open for the next failure in an
        // automatic pair, closed until `failover` in a manual one (whichever way it was found).
        set_gate(&p, &instance, if pair.automatic { Gate::Open } else { Gate::Closed }).await?;
        Ok(Switched {
            host: host.to_string(),
            partner: partner.name.clone(),
            address: address.to_string(),
            served_by: host.to_string(),
            merged: true,
            already,
            seconds: crate::status::round_ms(started.elapsed().as_secs_f64()),
        })
    }
    .await;
    own.close().await;
    p.close().await;
    result
}

#[derive(Clone, Copy)]
enum Gate {
    /// The host may hold the address.
    Open,
    /// It lets go of it, and does not take it.
    Closed,
}

async fn set_gate(conn: &HostConn, instance: &str, gate: Gate) -> anyhow::Result<()> {
    let value = match gate {
        Gate::Open => 0,
        Gate::Closed => 1,
    };
    // Written in place: keepalived watches the file and reads the number at once.
    let script = format!("printf '%s\\n' {value} > {}", quote(&pair_gate_path(instance)));
    conn.run_ok("pair gate", &script).await?;
    Ok(())
}

async fn holds(conn: &HostConn, address: IpAddr) -> anyhow::Result<bool> {
    let out = conn.run("pair address", &holds_script(address)).await?;
    Ok(out.success())
}

async fn wait_for_holder(conn: &HostConn, address: IpAddr, who: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + MOVE_LIMIT;
    while Instant::now() < deadline {
        if holds(conn, address).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{who} did not take {address} within {} s", MOVE_LIMIT.as_secs())
}

/// Ends every replication connection between this host and `from`, either way. A sync that
/// was under way when `from` died waits for it until Dovecot's 10-minute I/O timeout: here it
/// keeps its accounts locked, and the merge would wait on those locks; on the replicator's
/// side it holds one of its connections. A live sync cut this way is simply retried.
async fn drop_stale_syncs(conn: &HostConn, from: &Host) -> anyhow::Result<()> {
    conn.run_ok("drop stale syncs", &drop_stale_script(from.address)).await?;
    Ok(())
}

fn drop_stale_script(from: IpAddr) -> String {
    let dst = match from {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    format!("ss -K -tn '( dst {dst} and ( sport = :{REPLICA_PORT} or dport = :{REPLICA_PORT} ) )' >/dev/null")
}

/// Two-way dsync of every account of the pair, run on `from` with its partner through the
/// pair's tunnel: what either copy has that the other lacks ends up on both.
async fn merge(from: &HostConn) -> anyhow::Result<()> {
    let out = from.run_for("merge copies", &merge_script(), SYNC_LIMIT).await?;
    if !out.success() {
        return Err(from.failed("merge copies", &out).into());
    }
    Ok(())
}

/// -l: waits out a replication sync of the same account; -T: gives up on a stalled one.
fn merge_script() -> String {
    format!("doveadm sync -A -l 120 -T 60 tcp:127.0.0.1:{REPLICA_TUNNEL_PORT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_address_and_the_partner_listener() {
        assert_eq!(
            drop_stale_script("10.0.0.5".parse().unwrap()),
            "ss -K -tn '( dst 10.0.0.5 and ( sport = :12425 or dport = :12425 ) )' >/dev/null"
        );
        assert!(drop_stale_script("fd00::5".parse().unwrap()).contains("dst [fd00::5] and"));
        assert_eq!(merge_script(), "doveadm sync -A -l 120 -T 60 tcp:127.0.0.1:12427");
    }
}
