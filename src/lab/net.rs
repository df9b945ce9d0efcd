//! Lab networking with iproute2: one bridge in the root namespace, one network namespace
//! per host joined to it by a veth pair. Hosts get no default route: they reach each other
//! and this machine, nothing else.

use std::net::IpAddr;
use std::process::Command;

use ipnet::IpNet;

use super::{LabError, run};
use crate::inventory::Host;

/// Network namespace of a lab host (also the container's machine name).
pub fn netns(cluster: &str, host: &str) -> String {
    format!("{cluster}-{host}")
}

/// Host-side veth name: derived from the address so it is unique and within 15 characters.
pub fn veth(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) => format!("mcv{:08x}", u32::from(a)),
        IpAddr::V6(a) => format!("mcv{:012x}", u128::from(a) & 0xffff_ffff_ffff),
    }
}

/// A fixed MAC from the address: a random one left stale ARP entries after restarts.
pub fn mac(address: IpAddr) -> String {
    let o = match address {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let b = a.octets();
            [b[12], b[13], b[14], b[15]]
        }
    };
    format!("02:6d:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

fn link_exists(name: &str) -> bool {
    Command::new("ip").args(["link", "show", "dev", name]).output().map(|o| o.status.success()).unwrap_or(false)
}

pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Creates the bridge with the subnet's first address, unless it is there.
pub fn ensure_bridge(bridge: &str, subnet: IpNet) -> Result<(), LabError> {
    if link_exists(bridge) {
        return Ok(());
    }
    let gateway = subnet
        .hosts()
        .next()
        .ok_or_else(|| LabError::Step { step: "bridge".into(), message: format!("subnet {subnet} has no room") })?;
    run("create bridge", Command::new("ip").args(["link", "add", bridge, "type", "bridge"]))?;
    run(
        "address bridge",
        Command::new("ip").args(["addr", "add", &format!("{gateway}/{}", subnet.prefix_len()), "dev", bridge]),
    )?;
    run("bring bridge up", Command::new("ip").args(["link", "set", bridge, "up"]))?;
    Ok(())
}

pub fn remove_bridge(bridge: &str) -> Result<(), LabError> {
    if link_exists(bridge) {
        run("remove bridge", Command::new("ip").args(["link", "del", bridge]))?;
    }
    Ok(())
}

/// The host's namespace with `eth0` at its address, plugged into the bridge.
pub fn ensure_host_network(cluster: &str, host: &Host, bridge: &str, prefix_len: u8) -> Result<(), LabError> {
    let ns = netns(cluster, &host.name);
    let step = |s: &str| format!("{s} ({})", host.name);
    if !netns_exists(&ns) {
        run(&step("create netns"), Command::new("ip").args(["netns", "add", &ns]))?;
    }
    let outer = veth(host.address);
    if !link_exists(&outer) {
        run(
            &step("create veth"),
            Command::new("ip").args(["link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns]),
        )?;
        run(
            &step("set MAC"),
            Command::new("ip").args(["-n", &ns, "link", "set", "eth0", "address", &mac(host.address)]),
        )?;
        run(
            &step("address eth0"),
            Command::new("ip").args([
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/{prefix_len}", host.address),
                "dev",
                "eth0",
            ]),
        )?;
        run(&step("eth0 up"), Command::new("ip").args(["-n", &ns, "link", "set", "eth0", "up"]))?;
        run(&step("lo up"), Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
        run(&step("attach veth"), Command::new("ip").args(["link", "set", &outer, "master", bridge, "up"]))?;
    }
    Ok(())
}

/// Removes the veth pair first, then the namespace. The kernel also drops the pair when the
/// namespace goes, but asynchronously, so a link seen a moment ago may vanish under us: only a
/// link that is still there after a failed delete is an error.
pub fn remove_host_network(cluster: &str, host: &Host) -> Result<(), LabError> {
    let outer = veth(host.address);
    if link_exists(&outer)
        && let Err(e) = run(&format!("remove veth ({})", host.name), Command::new("ip").args(["link", "del", &outer]))
        && link_exists(&outer)
    {
        return Err(e);
    }
    let ns = netns(cluster, &host.name);
    if netns_exists(&ns) {
        run(&format!("remove netns ({})", host.name), Command::new("ip").args(["netns", "del", &ns]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_macs_are_stable() {
        let a: IpAddr = "10.99.0.3".parse().unwrap();
        assert_eq!(veth(a), "mcv0a630003");
        assert!(veth("fd00::1:2:3".parse().unwrap()).len() <= 15);
        assert_eq!(mac(a), "02:6d:0a:63:00:03");
    }
}
