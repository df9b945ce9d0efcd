//! The edge router's NAT plan, from the inventory's `nat:`: port forwards from the public
//! address to the hosts, for nftables, iptables-restore or MikroTik RouterOS, and the records
//! the public DNS must hold. Inside the NAT the cluster's own DNS answers the same names with
//! inside addresses (templates/bind/zone), so the two views make a split horizon. The files
//! are templates (templates/edge/), rendered like every host's.

use minijinja::context;

use crate::inventory::model::Cluster;
use crate::render::{RenderError, Renderer};

/// What the plan is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// An `nft -f` file (one table of its own).
    Nftables,
    /// An `iptables-restore --noflush` file (one chain of its own).
    Iptables,
    /// MikroTik RouterOS commands.
    Routeros,
    /// The records to publish in the public DNS.
    PublicDns,
}

impl Target {
    fn template(self) -> &'static str {
        match self {
            Target::Nftables => "edge/nat.nft",
            Target::Iptables => "edge/nat.iptables",
            Target::Routeros => "edge/nat.rsc",
            Target::PublicDns => "edge/public.zone",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("the inventory has no `nat:` section: nothing is forwarded")]
    NoNat,
    #[error("nat: {host} is at {inside} but the public address {public} is of another family (NAT64 is not done)")]
    Family { host: String, inside: String, public: String },
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// The plan for `target`.
pub fn plan(renderer: &Renderer, cluster: &Cluster, target: Target) -> Result<String, NatError> {
    let nat = cluster.nat.as_ref().ok_or(NatError::NoNat)?;
    let mut forwards = Vec::new();
    for f in &nat.forwards {
        let Some(host) = cluster.host(&f.host) else { continue };
        if host.address.is_ipv4() != nat.public_address.is_ipv4() {
            return Err(NatError::Family {
                host: host.name.clone(),
                inside: host.address.to_string(),
                public: nat.public_address.to_string(),
            });
        }
        forwards.push(context! { host => &host.name, address => host.address.to_string(), ports => &f.ports });
    }
    let mut names = vec![cluster.public_name.clone()];
    names.extend(cluster.domains.iter().map(|d| format!("mail.{d}")));
    names.dedup();
    let ctx = context! {
        cluster => &cluster.name,
        family => if nat.public_address.is_ipv4() { "ip" } else { "ip6" },
        public_address => nat.public_address.to_string(),
        forwards => forwards,
        domains => &cluster.domains,
        public_name => &cluster.public_name,
        names => names,
    };
    Ok(renderer.render_template(target.template(), ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(inventory: &str, target: Target) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("inventories/{inventory}.yaml"));
        let cluster = crate::inventory::load(&path).unwrap().cluster;
        let renderer = Renderer::new(crate::playbook::Playbook::builtin().unwrap(), None).unwrap();
        plan(&renderer, &cluster, target).unwrap()
    }

    #[test]
    fn each_forward_is_one_rule_per_host_in_every_dialect() {
        let nft = plan_of("excellent", Target::Nftables);
        assert!(nft.contains("table ip mailctl_nat {"), "{nft}");
        assert!(nft.contains("ip daddr 198.51.100.40 tcp dport { 25 } dnat to "), "{nft}");
        assert!(nft.contains("tcp dport { 80, 443, 110, 143, 993, 995 } dnat to "), "{nft}");
        assert!(nft.contains("tcp dport { 465, 587 } dnat to "), "{nft}");
        let ipt = plan_of("excellent", Target::Iptables);
        assert!(ipt.starts_with("# Managed by mailctl") && ipt.trim_end().ends_with("COMMIT"), "{ipt}");
        assert!(ipt.contains("-A PREROUTING -d 198.51.100.40 -j MAILCTL-NAT\n"), "{ipt}");
        assert_eq!(ipt.matches("-j DNAT --to-destination").count(), 3);
        let rsc = plan_of("tgg", Target::Routeros);
        assert!(rsc.contains("/ip firewall nat\nremove [find comment~\"^mailctl tgg:\"]\n"), "{rsc}");
        assert!(
            rsc.contains("add chain=dstnat dst-address=203.0.113.25 protocol=tcp dst-port=25,80,110,143,443,465,587,993,995 action=dst-nat to-addresses="),
            "{rsc}"
        );
        let zone = plan_of("tgg", Target::PublicDns);
        assert!(zone.contains("tgg.net.id.\tIN\tMX\t10 mail.tgg.net.id.\n"), "{zone}");
        assert!(zone.contains("mail.gec-course.com.\tIN\tA\t203.0.113.25\n"), "{zone}");
    }

    #[test]
    fn an_inventory_without_nat_says_so() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/lab.yaml");
        let cluster = crate::inventory::load(&path).unwrap().cluster;
        let renderer = Renderer::new(crate::playbook::Playbook::builtin().unwrap(), None).unwrap();
        assert!(matches!(plan(&renderer, &cluster, Target::Nftables), Err(NatError::NoNat)));
    }
}
