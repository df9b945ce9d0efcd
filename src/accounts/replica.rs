//! One account's replica on a mailbox pair (docs/pairs.md), as moves need it: whether a host
//! serves its own accounts (a failover moves its pair address to the partner), the partner's
//! copy made at once after a move, and a pair told to forget an account that left it.

use std::net::IpAddr;
use std::time::Duration;

use crate::conventions::{REPLICA_TUNNEL_PORT, REPLICATOR_PORT};
use crate::inventory::model::{Cluster, Host};
use crate::remote::{RemoteHost, quote};

/// A full dsync of one account; a large mailbox takes a while on a first copy.
const COPY_LIMIT: Duration = Duration::from_secs(3600);

/// Exits 0 when this host holds `address` (a pair address is a secondary one on it).
pub fn holds_script(address: IpAddr) -> String {
    format!("ip -o addr show | grep -qF ' {address}/'")
}

/// Whether `host` serves its own accounts: unpaired hosts always do; a paired one while it
/// holds its pair address (after a failover its partner does, until `mailctl failback`).
pub async fn serves_own(cluster: &Cluster, host: &Host, session: &dyn RemoteHost) -> anyhow::Result<bool> {
    let Some(address) = cluster.pair_of(&host.name).and_then(|p| p.address_of(&host.name)) else {
        return Ok(true);
    };
    Ok(session.run("pair address", &holds_script(address)).await?.success())
}

/// Copies `user` in full from `host` (where it now lives) to its pair partner, two-way
/// through the pair's tunnel, and tells 2.3's replicator of it. The replicator would make the
/// copy too, but only at the account's next change or the daily full sync; a move must not
/// leave the account without a replica until then.
pub async fn copy_to_partner(host: &Host, session: &dyn RemoteHost, user: &str) -> anyhow::Result<()> {
    let step = "copy to the pair partner";
    let out = session.run_for(step, &copy_script(host, user), COPY_LIMIT).await?;
    if !out.success() {
        return Err(session.failed(step, &out).into());
    }
    Ok(())
}

/// -f: every folder compared; -l: waits out a replication sync of the same account; -T:
/// gives up on a partner that stalls.
fn copy_script(host: &Host, user: &str) -> String {
    let u = quote(user);
    let sync = format!("doveadm sync -f -u {u} -l 60 -T 60 tcp:127.0.0.1:{REPLICA_TUNNEL_PORT}");
    if has_replicator(host) { format!("{sync} && doveadm replicator add {u}") } else { sync }
}

/// Drops `user` from this paired host's replication. A replicator keeps every account it has
/// seen and retries or resyncs it: for an account that moved to another pair it would make an
/// empty mail home again on both members once `purge-moved` deleted them.
pub async fn forget(host: &Host, session: &dyn RemoteHost, user: &str) -> anyhow::Result<()> {
    session.run_ok("forget in the replicator", &forget_script(host, user)).await?;
    Ok(())
}

/// 2.3's replicator refuses an account it never saw, mailctl's controller on 2.4 (which takes
/// `{"forget": USER}` on its loopback listener) is not up during a restart: either way it
/// has nothing to forget.
fn forget_script(host: &Host, user: &str) -> String {
    if has_replicator(host) {
        return format!("doveadm replicator remove {} 2>/dev/null || true", quote(user));
    }
    let event = serde_json::json!({ "forget": user }).to_string();
    format!(
        "python3 -c 'import sys, urllib.request; urllib.request.urlopen(\"http://127.0.0.1:{REPLICATOR_PORT}/\", \
         sys.argv[1].encode(), timeout=10)' {} 2>/dev/null || true",
        quote(&event)
    )
}

/// Dovecot 2.3's replicator (2.4 has none; mailctl-replicator stands in).
fn has_replicator(host: &Host) -> bool {
    host.os.release().dovecot == "2.3"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(os: &str) -> Host {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/smknh.yaml");
        let mut h = crate::inventory::load(&path).unwrap().cluster.hosts[0].clone();
        h.os = match os {
            "debian-12" => crate::release::Os::Debian12,
            _ => crate::release::Os::Debian13,
        };
        h
    }

    #[test]
    fn the_copy_goes_through_the_tunnel_and_2_3_registers_the_account() {
        assert_eq!(
            copy_script(&host("debian-12"), "budi@x.id"),
            "doveadm sync -f -u budi@x.id -l 60 -T 60 tcp:127.0.0.1:12427 && doveadm replicator add budi@x.id"
        );
        assert_eq!(
            copy_script(&host("debian-13"), "budi@x.id"),
            "doveadm sync -f -u budi@x.id -l 60 -T 60 tcp:127.0.0.1:12427"
        );
        assert_eq!(forget_script(&host("debian-12"), "a@b.c"), "doveadm replicator remove a@b.c 2>/dev/null || true");
        let on_13 = forget_script(&host("debian-13"), "a@b.c");
        assert!(on_13.contains("http://127.0.0.1:12426/") && on_13.contains(r#"'{"forget":"a@b.c"}'"#), "{on_13}");
        assert_eq!(holds_script("10.0.0.21".parse().unwrap()), "ip -o addr show | grep -qF ' 10.0.0.21/'");
    }
}
