//! An account address from the command line or an import: its syntax
//! (`inventory::address`), and a domain the cluster serves.

use crate::inventory::model::Cluster;

pub use crate::inventory::address::Address;

pub fn parse(text: &str, cluster: &Cluster) -> Result<Address, String> {
    let address = crate::inventory::address::parse(text)?;
    if !address.served_by(&cluster.domains) {
        return Err(format!(
            "`{}`: the cluster does not serve {} (it serves {})",
            text.escape_debug(),
            address.domain,
            cluster.domains.join(", ")
        ));
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/tgg.yaml");
        crate::inventory::load(&path).unwrap().cluster
    }

    #[test]
    fn good_addresses_are_lower_cased() {
        let c = cluster();
        let a = parse("Budi.Santoso+news@TGG.net.id", &c).unwrap();
        assert_eq!(a.full, "budi.santoso+news@tgg.net.id");
        assert_eq!((a.local.as_str(), a.domain.as_str()), ("budi.santoso+news", "tgg.net.id"));
    }

    #[test]
    fn bad_addresses_say_why() {
        let c = cluster();
        for (text, why) in [
            ("budi", "no @"),
            ("budi@@tgg.net.id", "more than one @"),
            ("@tgg.net.id", "1 to 64"),
            ("budi@example.com", "does not serve example.com"),
            ("bu di@tgg.net.id", "` ` is not allowed"),
            ("budi*@tgg.net.id", "`*` is not allowed"),
            ("x)(uid=*@tgg.net.id", "`)` is not allowed"),
            ("budi;rm -rf /@tgg.net.id", "`;` is not allowed"),
            ("$(reboot)@tgg.net.id", "`$` is not allowed"),
            ("a\\,b@tgg.net.id", "`\\\\` is not allowed"),
            (".budi@tgg.net.id", "dots may not"),
            ("bu..di@tgg.net.id", "dots may not"),
        ] {
            let e = parse(text, &c).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
