//! `mailctl dns`: the records the public DNS must carry for the cluster's domains (MX, the
//! mail name's address, SPF, DKIM, DMARC, and the PTR to ask the ISP for); `--check` asks a
//! resolver whether it says the same; `--rotate-dkim` gives a domain a new signing key.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::support::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format, Globals};
use crate::mailauth::{self, PublicRecord};
use crate::state::LocalState;

/// The records to publish at the registrar for mail to arrive and be trusted.
#[derive(clap::Args, Debug)]
#[command(after_help = "DKIM and DMARC records appear once the inventory has a `filter:` block; \
each domain's DKIM key is generated on first use and kept in the state file. After \
--rotate-dkim, deploy (the MTAs sign with the new key) and publish the new record; the old \
key stays published until the next rotation, for mail still in flight.\n\n\
Examples:\n  mailctl dns inventories/tgg.yaml                       # paste into the registrar's zone\n  \
mailctl dns inventories/tgg.yaml --check               # compare with what the resolver answers\n  \
mailctl dns lab.yaml --check --resolver 10.99.0.2     # ask one name server\n  \
mailctl dns inventories/tgg.yaml --rotate-dkim tgg.net.id && mailctl deploy inventories/tgg.yaml")]
pub struct Args {
    /// Inventory file [default: -i / MAILCTL_INVENTORY / ./inventory.yaml]
    #[arg(id = "inventory_file", value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Ask the resolver for each record and say where it differs (exit 1).
    #[arg(long)]
    pub check: bool,
    /// The name server --check asks (repeatable) [default: the system's resolvers].
    #[arg(long = "resolver", value_name = "IP", requires = "check")]
    pub resolvers: Vec<IpAddr>,
    /// Generate a new DKIM key for DOMAIN under a new selector, then print the records.
    #[arg(long, value_name = "DOMAIN", conflicts_with = "check")]
    pub rotate_dkim: Option<String>,
}

pub fn exec(cli: &Globals, args: &Args) -> anyhow::Result<u8> {
    let path = super::support::inventory_path(cli, &args.inventory);
    let cluster = match super::support::load_inventory(&path) {
        Ok(l) => l.cluster,
        Err(code) => return Ok(code),
    };
    let _lock = crate::lock::acquire_within(&path, std::time::Duration::from_secs(30))?;
    let state_path = cli.state.clone().unwrap_or_else(|| LocalState::default_path(&path));
    let mut state = match super::support::open_state(&state_path) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Some(domain) = &args.rotate_dkim {
        let domain = domain.to_ascii_lowercase();
        if !cluster.domains.contains(&domain) {
            eprintln!(
                "error: `{}` is not a domain of this cluster ({})",
                domain.escape_debug(),
                cluster.domains.join(", ")
            );
            return Ok(EXIT_USAGE);
        }
        if cluster.filter.is_none() {
            eprintln!("error: {}: no `filter:` block, so nothing signs with DKIM", path.display());
            return Ok(EXIT_USAGE);
        }
        let selector = mailauth::rotate(&mut state, &domain)?;
        state.save().context("saving the new key")?;
        eprintln!(
            "{domain} now signs with selector {selector}: deploy to the MTAs, then publish {selector}._domainkey.{domain} below"
        );
    }
    let records = mailauth::public_records(&cluster, &mut state)?;
    state.save().context("saving generated DKIM keys")?;
    if !args.check {
        print_records(cli, &records)?;
        return Ok(EXIT_OK);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let verdicts = runtime.block_on(check(&records, &args.resolvers))?;
    let Some(verdicts) = verdicts else {
        eprintln!("error: no resolver answered (offline?): the records could not be checked; they are printed below");
        print_records(cli, &records)?;
        return Ok(EXIT_FAILED);
    };
    let bad = verdicts.iter().filter(|v| !v.ok).count();
    if cli.format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "ok": bad == 0, "records": verdicts }))?);
    } else {
        for v in &verdicts {
            let mark = if v.ok { "ok     " } else { "WRONG  " };
            outln!("{mark}{} {} {}", v.record.name, v.record.kind, v.record.value);
            if !v.ok {
                outln!("       the resolver says: {}", v.found);
            }
        }
        outln!("{} of {} records as they should be", verdicts.len() - bad, verdicts.len());
    }
    Ok(if bad == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn print_records(cli: &Globals, records: &[PublicRecord]) -> anyhow::Result<()> {
    if cli.format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(records)?);
        return Ok(());
    }
    outln!("; The public DNS records for mail, in zone-file form.");
    let mut last_why = "";
    for r in records {
        if r.why != last_why {
            outln!("; {}", r.why);
            last_why = r.why;
        }
        outln!("{}\tIN\t{}\t{}", r.name, r.kind, r.value);
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Verdict<'a> {
    record: &'a PublicRecord,
    ok: bool,
    /// What the resolver answered, one value per answer, or why there was none.
    found: String,
}

/// None when no query got any answer at all (no network, no resolver).
async fn check<'a>(records: &'a [PublicRecord], servers: &[IpAddr]) -> anyhow::Result<Option<Vec<Verdict<'a>>>> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if servers.is_empty() {
        hickory_resolver::Resolver::builder(provider).context("reading the system's resolver configuration")?
    } else {
        let config =
            ResolverConfig::from_name_servers(servers.iter().map(|ip| NameServerConfig::udp_and_tcp(*ip)).collect());
        hickory_resolver::Resolver::builder_with_config(config, provider)
    };
    builder.options_mut().timeout = std::time::Duration::from_secs(3);
    builder.options_mut().attempts = 1;
    let resolver = builder.build()?;
    let mut out = Vec::new();
    let mut answered = false;
    for r in records {
        let kind = match r.kind {
            "MX" => RecordType::MX,
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "PTR" => RecordType::PTR,
            _ => RecordType::TXT,
        };
        let (values, found) = match resolver.lookup(r.name.as_str(), kind).await {
            Ok(lookup) => {
                answered = true;
                let values: Vec<String> = lookup.answers().iter().map(|a| as_zone_value(&a.data)).collect();
                let shown = values.join(" | ");
                (values, shown)
            }
            Err(e) => {
                // A DNS answer (no such record, NXDOMAIN, refused) is an answer; a timeout or
                // a socket error is not.
                answered |= matches!(e, NetError::Dns(_));
                (Vec::new(), e.to_string())
            }
        };
        let ok = values.iter().any(|v| same(r, v));
        out.push(Verdict { record: r, ok, found });
    }
    Ok(answered.then_some(out))
}

/// A TXT record's strings joined (how receivers read it); other data as the zone file has it.
fn as_zone_value(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt.txt_data.iter().map(|s| String::from_utf8_lossy(s).to_string()).collect::<String>(),
        other => other.to_string(),
    }
}

fn same(expected: &PublicRecord, found: &str) -> bool {
    if expected.kind == "TXT" {
        let joined: String = expected.value.split('"').skip(1).step_by(2).collect();
        return joined == found;
    }
    expected.value.trim_end_matches('.').eq_ignore_ascii_case(found.trim_end_matches('.'))
}
