//! Semantic checks: turns the parsed file into a `Cluster`, reporting every problem found
//! (not just the first) with its position and a hint.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde_saphyr::Location;

use super::address::is_hostname;
use super::diagnostic::Reporter;
use super::model::*;
use super::schema::{self, InventoryFile, S};
use super::secret::SecretRef;

/// Roles a cluster cannot work without.
const REQUIRED_ROLES: [Role; 3] = [Role::Ldap, Role::Mta, Role::Mailbox];

pub fn validate(file: InventoryFile, path: &Path, rep: &mut Reporter) -> Option<Cluster> {
    let mut v = Validator { rep };
    let cluster = v.cluster(file, path);
    (!v.rep.has_errors()).then_some(cluster)
}

struct Validator<'r, 'a> {
    rep: &'r mut Reporter<'a>,
}

impl Validator<'_, '_> {
    fn cluster(&mut self, f: InventoryFile, path: &Path) -> Cluster {
        let c = &f.cluster;
        if !is_name(&c.name.value) {
            self.rep.error(
                c.name.referenced,
                format!("invalid cluster name `{}`", c.name.value),
                Some("use lower-case letters, digits and '-'".to_string()),
            );
        }
        let domains = self.domains(&c.domains);
        let timezone = self.timezone(&c.timezone);
        let ntp_servers: Vec<String> = c.ntp_servers.iter().map(|s| self.ntp_server(s)).collect();
        let first_domain = domains.first().cloned().unwrap_or_default();
        let public_name = match &c.public_name {
            Some(n) => self.hostname(n, "public name"),
            None => format!("mail.{first_domain}"),
        };
        let ldap_suffix = match &c.ldap_suffix {
            Some(s) => self.ldap_suffix(s),
            None => domain_to_suffix(&first_domain),
        };
        let quota = c.quota.as_ref().map(|q| self.quota(q));
        let classes = self.classes(&f.classes_of_service);
        self.in_range(&c.message_size_mb, 1, MAX_MESSAGE_SIZE_MB, "cluster.message_size_mb", "megabytes");

        let os = c.os.as_ref().map(|o| o.value).unwrap_or_default();
        let hosts = self.hosts(&f.hosts, &f.ssh, f.proxmox.as_ref(), os);
        self.required_roles(&hosts, &f);
        self.replicas(&f.hosts.value, &hosts);
        let accounts = self.accounts(&f.accounts, &domains, &hosts, &classes);
        self.capacities(&f.hosts.value, &hosts, &accounts);
        let rate_limit = f.rate_limit.as_ref().map(|r| self.rate_limit(r, &domains, &hosts));
        let filter = f.filter.as_ref().map(|spec| self.filter(spec, &domains));
        self.clamav_needs_filter(&f, &hosts, filter.is_some());
        let vips = self.vips(&f.vips, &hosts);
        let pairs = self.pairs(&f.pairs, &hosts, &vips);
        let nat = f.nat.as_ref().map(|n| self.nat(n, &hosts));
        let tls = self.tls(&f.tls, path);
        let proxmox = f.proxmox.as_ref().map(|p| self.proxmox(p));
        let floating: Vec<IpAddr> =
            vips.iter().map(|v| v.address).chain(pairs.iter().flat_map(|p| p.addresses)).collect();
        let lab = f.lab.as_ref().map(|l| self.lab(l, &f.hosts.value, &floating));

        Cluster {
            source: path.to_path_buf(),
            name: c.name.value.clone(),
            domains,
            timezone,
            ntp_servers,
            public_name,
            ldap_suffix,
            quota,
            classes,
            message_size_mb: c.message_size_mb.value,
            os,
            hosts,
            accounts,
            rate_limit,
            filter,
            vips,
            pairs,
            nat,
            tls,
            proxmox,
            lab,
        }
    }

    fn domains(&mut self, list: &S<Vec<S<String>>>) -> Vec<String> {
        if list.value.is_empty() {
            self.rep.error(
                list.referenced,
                "no mail domain given",
                Some("list at least one domain under cluster.domains".to_string()),
            );
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for d in &list.value {
            let name = d.value.to_ascii_lowercase();
            if !is_hostname(&name) {
                self.rep.error(
                    d.referenced,
                    format!("invalid domain `{}`", d.value),
                    Some("a domain looks like example.com".to_string()),
                );
            } else if !seen.insert(name.clone()) {
                self.rep.error(d.referenced, format!("domain `{name}` is listed twice"), None);
            } else {
                out.push(name);
            }
        }
        out
    }

    fn timezone(&mut self, tz: &S<String>) -> String {
        let zoneinfo = Path::new("/usr/share/zoneinfo");
        let valid_shape = !tz.value.is_empty()
            && !tz.value.contains("..")
            && tz.value.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !valid_shape {
            self.rep.error(
                tz.referenced,
                format!("invalid timezone `{}`", tz.value),
                Some("use an IANA name such as Asia/Jakarta or UTC".to_string()),
            );
        } else if zoneinfo.is_dir() && !zoneinfo.join(&tz.value).is_file() {
            self.rep.warning(
                tz.referenced,
                format!("timezone `{}` is not in this machine's /usr/share/zoneinfo", tz.value),
                Some("check the spelling, e.g. Asia/Jakarta".to_string()),
            );
        }
        tz.value.clone()
    }

    fn ntp_server(&mut self, s: &S<String>) -> String {
        if s.value.parse::<IpAddr>().is_err() && !is_hostname(&s.value) {
            self.rep.error(
                s.referenced,
                format!("invalid NTP server `{}`", s.value),
                Some("give a host name or an IP address".to_string()),
            );
        }
        s.value.clone()
    }

    fn hostname(&mut self, n: &S<String>, what: &str) -> String {
        let name = n.value.to_ascii_lowercase();
        if !is_hostname(&name) || !name.contains('.') {
            self.rep.error(
                n.referenced,
                format!("invalid {what} `{}`", n.value),
                Some("a fully qualified name such as mail.example.com".to_string()),
            );
        }
        name
    }

    fn ldap_suffix(&mut self, s: &S<String>) -> String {
        let ok = s.value.split(',').all(|rdn| {
            rdn.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && !v.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        });
        if !ok {
            self.rep.error(
                s.referenced,
                format!("invalid LDAP suffix `{}`", s.value),
                Some("e.g. dc=example,dc=com".to_string()),
            );
        }
        s.value.clone()
    }

    fn quota(&mut self, q: &S<String>) -> u64 {
        crate::accounts::quota::parse_size(&q.value).unwrap_or_else(|why| {
            self.rep.error(
                q.referenced,
                format!("invalid quota {why}"),
                Some("a size such as 500M, 2G or unlimited".into()),
            );
            0
        })
    }

    fn classes(&mut self, specs: &[schema::ClassSpec]) -> Vec<ClassOfService> {
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut out = Vec::new();
        for spec in specs {
            let name = spec.name.value.clone();
            if !is_class_name(&name) {
                self.rep.error(
                    spec.name.referenced,
                    format!("invalid class of service name `{name}`"),
                    Some("1 to 64 lowercase letters, digits, - and _".into()),
                );
            }
            if let Some(line) = seen.insert(name.clone(), spec.name.referenced.line()) {
                self.rep.error(
                    spec.name.referenced,
                    format!("class of service `{name}` is defined twice"),
                    Some(format!("it is first defined at line {line}")),
                );
            }
            let quota = spec.quota.as_ref().map(|q| self.quota(q));
            out.push(ClassOfService { name, quota, messages: spec.messages.as_ref().map(|m| m.value) });
        }
        out
    }

    fn hosts(
        &mut self,
        list: &S<Vec<schema::HostSpec>>,
        ssh: &schema::SshSpec,
        proxmox: Option<&schema::ProxmoxSpec>,
        os: crate::release::Os,
    ) -> Vec<Host> {
        let specs = &list.value;
        let mut names: HashMap<String, Location> = HashMap::new();
        let mut addresses: HashMap<IpAddr, String> = HashMap::new();
        let mut fqdns: HashMap<String, String> = HashMap::new();
        let mut hosts = Vec::new();
        for h in specs {
            let name = h.name.value.clone();
            if !is_name(&name) {
                self.rep.error(
                    h.name.referenced,
                    format!("invalid host name `{name}`"),
                    Some("use lower-case letters, digits and '-'".to_string()),
                );
            } else if let Some(first) = names.get(&name) {
                self.rep.error(
                    h.name.referenced,
                    format!("duplicate host name `{name}`"),
                    Some(format!("it is first defined at line {}", first.line())),
                );
            } else {
                names.insert(name.clone(), h.name.referenced);
            }
            let address = self.address(&h.address, "host address");
            if let Some(a) = address {
                if let Some(other) = addresses.get(&a) {
                    self.rep.error(
                        h.address.referenced,
                        format!("address {a} of host `{name}` is already used by host `{other}`"),
                        Some("every host needs an address of its own".to_string()),
                    );
                } else {
                    addresses.insert(a, name.clone());
                }
            }
            let fqdn = self.hostname(&h.fqdn, "FQDN");
            if let Some(other) = fqdns.get(&fqdn) {
                self.rep.error(
                    h.fqdn.referenced,
                    format!("FQDN `{fqdn}` of host `{name}` is already used by host `{other}`"),
                    None,
                );
            } else {
                fqdns.insert(fqdn.clone(), name.clone());
            }
            let roles = self.roles(h);
            self.role_sections(h, &roles);
            let capacity = h.capacity.as_ref().map(|c| c.value);
            if let Some(c) = &h.capacity {
                self.in_range(c, 1, 10_000_000, "capacity", "accounts");
            }
            if let Some(c) = &h.capacity
                && !roles.contains(&Role::Mailbox)
            {
                self.rep.warning(
                    c.referenced,
                    format!("capacity on `{name}`, which is not a mailbox host, is ignored"),
                    None,
                );
            }
            let mta = h.mta.as_ref().map(|m| self.mta(m)).unwrap_or_default();
            let proxy = h.proxy.as_ref().map(|p| ProxySettings { haproxy: p.haproxy }).unwrap_or_default();
            if proxy.haproxy && roles.contains(&Role::Mta) {
                self.rep.error(
                    h.roles.referenced,
                    format!("host `{name}` runs HAProxy in front of the MTAs and is an MTA itself: both would listen on port 25"),
                    Some("put HAProxy on a proxy host without the mta role".to_string()),
                );
            }
            let vm = self.vm(h, proxmox);
            hosts.push(Host {
                name,
                address: address.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                fqdn,
                roles,
                capacity,
                os: h.os.as_ref().map(|o| o.value).unwrap_or(os),
                ssh: self.ssh(ssh, h.ssh.as_ref()),
                ldap_replica_of: h.ldap.as_ref().and_then(|l| l.replica_of.as_ref()).map(|r| r.value.clone()),
                mta,
                proxy,
                vm,
            });
        }
        if specs.is_empty() {
            self.rep.error(
                list.referenced,
                "the inventory has no hosts",
                Some("list the cluster's servers under `hosts:`".to_string()),
            );
        }
        hosts
    }

    fn roles(&mut self, h: &schema::HostSpec) -> BTreeSet<Role> {
        let mut roles = BTreeSet::new();
        for r in &h.roles.value {
            if !roles.insert(r.value) {
                self.rep.error(
                    r.referenced,
                    format!("role `{}` is listed twice for host `{}`", r.value, h.name.value),
                    None,
                );
            }
        }
        if roles.is_empty() {
            self.rep.error(h.roles.referenced, format!("host `{}` has no role", h.name.value), Some(roles_help()));
        }
        roles
    }

    /// A role's settings block on a host without that role is a mistake worth naming.
    fn role_sections(&mut self, h: &schema::HostSpec, roles: &BTreeSet<Role>) {
        let sections = [(h.ldap.is_some(), Role::Ldap), (h.mta.is_some(), Role::Mta), (h.proxy.is_some(), Role::Proxy)];
        for (present, role) in sections {
            if present && !roles.contains(&role) {
                self.rep.error(
                    h.name.referenced,
                    format!("host `{}` has `{role}:` settings but not the {role} role", h.name.value),
                    Some(format!("add {role} to its roles or remove the `{role}:` block")),
                );
            }
        }
    }

    fn mta(&mut self, m: &schema::MtaHostSpec) -> MtaSettings {
        let relay_networks = m
            .relay_networks
            .iter()
            .filter_map(|n| {
                let parsed = n.value.parse::<IpNet>().or_else(|_| n.value.parse::<IpAddr>().map(IpNet::from));
                if parsed.is_err() {
                    self.rep.error(
                        n.referenced,
                        format!("invalid network `{}`", n.value),
                        Some("write it as 192.168.1.0/24".to_string()),
                    );
                }
                parsed.ok()
            })
            .collect();
        MtaSettings {
            mx: m.mx,
            mx_priority: m.mx_priority,
            submission: m.submission,
            relay_networks,
            purpose: m.purpose.clone(),
            clamav: m.clamav,
        }
    }

    fn vm(&mut self, h: &schema::HostSpec, proxmox: Option<&schema::ProxmoxSpec>) -> Option<Vm> {
        let px = match (proxmox, &h.vm) {
            (None, None) => return None,
            (None, Some(_)) => {
                self.rep.error(
                    h.name.referenced,
                    format!("host `{}` has a `vm:` size but the inventory has no `proxmox:` section", h.name.value),
                    Some("add a proxmox section or remove the vm block".to_string()),
                );
                return None;
            }
            (Some(px), _) => px,
        };
        for v in h.vm.iter().chain(px.default_vm.as_ref()) {
            self.vm_numbers(v);
        }
        let pick = |get: fn(&schema::VmSpec) -> Option<&S<u32>>, fallback: u32| -> u32 {
            h.vm.as_ref()
                .and_then(|v| get(v).map(|s| s.value))
                .or_else(|| px.default_vm.as_ref().and_then(|v| get(v).map(|s| s.value)))
                .unwrap_or(fallback)
        };
        Some(Vm {
            vmid: h.vm.as_ref().and_then(|v| v.vmid.as_ref()).map(|s| s.value),
            cores: pick(|v| v.cores.as_ref(), 2),
            memory_mb: pick(|v| v.memory_mb.as_ref(), 2048),
            disk_gb: pick(|v| v.disk_gb.as_ref(), 20),
        })
    }

    fn vm_numbers(&mut self, v: &schema::VmSpec) {
        if let Some(id) = &v.vmid {
            self.in_range(id, 100, 999_999_999, "vm.vmid", "(Proxmox VM ids)");
        }
        for (n, what, max) in [
            (&v.cores, "vm.cores", 1024),
            (&v.memory_mb, "vm.memory_mb", 16 * 1024 * 1024),
            (&v.disk_gb, "vm.disk_gb", 1 << 20),
        ] {
            if let Some(n) = n {
                self.in_range(n, 1, max, what, "");
            }
        }
    }

    fn ssh(&mut self, defaults: &schema::SshSpec, own: Option<&schema::SshSpec>) -> SshSettings {
        for spec in std::iter::once(defaults).chain(own) {
            if let Some(u) = &spec.user {
                self.checked(u, is_login_name, "SSH user", "a user name of letters, digits, '.', '_' or '-'");
            }
            if let Some(j) = &spec.jump {
                self.checked(j, is_jump, "SSH jump host", "[user@]host[:port], e.g. admin@bastion.example.com:2222");
            }
        }
        let pick = |get: fn(&schema::SshSpec) -> Option<&S<String>>| -> Option<String> {
            own.and_then(|o| get(o)).or_else(|| get(defaults)).map(|s| s.value.clone())
        };
        let port = own.and_then(|o| o.port.as_ref()).or(defaults.port.as_ref());
        if let Some(p) = port.filter(|p| p.value == 0) {
            self.rep.error(p.referenced, "SSH port 0 is not a port", None);
        }
        SshSettings {
            user: pick(|s| s.user.as_ref()),
            port: port.map(|p| p.value),
            identity_file: pick(|s| s.identity_file.as_ref()).map(PathBuf::from),
            known_hosts: pick(|s| s.known_hosts.as_ref()).map(PathBuf::from),
            jump: pick(|s| s.jump.as_ref()),
        }
    }

    fn required_roles(&mut self, hosts: &[Host], f: &InventoryFile) {
        if hosts.is_empty() {
            return;
        }
        for role in REQUIRED_ROLES {
            if !hosts.iter().any(|h| h.has(role)) {
                self.rep.error(
                    f.hosts.referenced,
                    format!("no host has the `{role}` role"),
                    Some(format!("a cluster needs at least one {role} host: add `{role}` to some host's roles")),
                );
            }
        }
        if !hosts.iter().any(|h| h.has(Role::Proxy)) {
            self.rep.warning(
                f.hosts.referenced,
                "no host has the `proxy` role: mail clients must know which mailbox host holds each account",
                None,
            );
        }
    }

    fn replicas(&mut self, specs: &[schema::HostSpec], hosts: &[Host]) {
        for spec in specs {
            let Some(target) = spec.ldap.as_ref().and_then(|l| l.replica_of.as_ref()) else { continue };
            let provider = hosts.iter().find(|h| h.name == target.value);
            let problem = match provider {
                None => Some(format!("LDAP replica `{}` names unknown host `{}`", spec.name.value, target.value)),
                Some(p) if p.name == spec.name.value => Some("an LDAP host cannot replicate from itself".to_string()),
                Some(p) if !p.has(Role::Ldap) => {
                    Some(format!("`{}` is not an LDAP host, so it cannot be replicated from", p.name))
                }
                Some(p) if p.ldap_replica_of.is_some() => {
                    Some(format!("`{}` is itself a replica: replicate from the provider", p.name))
                }
                Some(_) => None,
            };
            if let Some(msg) = problem {
                self.rep.error(target.referenced, msg, Some(format!("LDAP hosts: {}", names_with(hosts, Role::Ldap))));
            }
        }
        let providers = hosts.iter().filter(|h| h.has(Role::Ldap) && h.ldap_replica_of.is_none()).count();
        if providers > 1 {
            self.rep.error(
                Location::UNKNOWN,
                "more than one LDAP host is a provider",
                Some("mark all LDAP hosts but one with `ldap: { replica_of: <provider> }`".to_string()),
            );
        }
    }

    fn accounts(
        &mut self,
        specs: &[schema::AccountSpec],
        domains: &[String],
        hosts: &[Host],
        classes: &[ClassOfService],
    ) -> Vec<Account> {
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut out = Vec::new();
        for a in specs {
            let parsed = match super::address::parse(&a.address.value) {
                Ok(p) => p,
                Err(why) => {
                    self.rep.error(
                        a.address.referenced,
                        format!("invalid account address {why}"),
                        Some(
                            "an address is user@domain, the user part made of letters, digits and . _ + -".to_string(),
                        ),
                    );
                    continue;
                }
            };
            let (address, local, domain) = (parsed.full.clone(), parsed.local.as_str(), parsed.domain.as_str());
            if !parsed.served_by(domains) {
                self.rep.error(
                    a.address.referenced,
                    format!("account `{address}` is in domain `{domain}`, which the cluster does not serve"),
                    Some(format!("add {domain} to cluster.domains, or use one of: {}", domains.join(", "))),
                );
            }
            if let Some(line) = seen.get(&address) {
                self.rep.error(
                    a.address.referenced,
                    format!("account `{address}` is listed twice"),
                    Some(format!("it is first listed at line {line}")),
                );
            } else {
                seen.insert(address.clone(), a.address.referenced.line());
            }
            if let Some(m) = &a.mailbox {
                match hosts.iter().find(|h| h.name == m.value) {
                    None => self.rep.error(
                        m.referenced,
                        format!("account `{address}` is pinned to unknown host `{}`", m.value),
                        Some(format!("mailbox hosts: {}", names_with(hosts, Role::Mailbox))),
                    ),
                    Some(h) if !h.has(Role::Mailbox) => self.rep.error(
                        m.referenced,
                        format!("account `{address}` is pinned to `{}`, which is not a mailbox host", m.value),
                        Some(format!("mailbox hosts: {}", names_with(hosts, Role::Mailbox))),
                    ),
                    Some(_) => {}
                }
            }
            if let Some(c) = &a.class
                && !classes.iter().any(|k| k.name == c.value)
            {
                let known: Vec<&str> = classes.iter().map(|k| k.name.as_str()).collect();
                self.rep.error(
                    c.referenced,
                    format!(
                        "account `{address}` is in class `{}`, which `classes_of_service` does not define",
                        c.value
                    ),
                    Some(if known.is_empty() {
                        "define it under classes_of_service".into()
                    } else {
                        format!("classes: {}", known.join(", "))
                    }),
                );
            }
            let quota = a.quota.as_ref().map(|q| self.quota(q));
            out.push(Account {
                class: a.class.as_ref().map(|c| c.value.clone()),
                quota,
                address: address.clone(),
                local_part: local.to_string(),
                domain: domain.to_string(),
                name: a.name.clone(),
                mailbox: a.mailbox.as_ref().map(|m| m.value.clone()),
                password: a.password.as_ref().and_then(|p| self.secret(p, &format!("password of {address}"))),
            });
        }
        out
    }

    fn capacities(&mut self, specs: &[schema::HostSpec], hosts: &[Host], accounts: &[Account]) {
        for (spec, host) in specs.iter().zip(hosts) {
            let (Some(cap), true) = (host.capacity, host.has(Role::Mailbox)) else { continue };
            let pinned = accounts.iter().filter(|a| a.mailbox.as_deref() == Some(host.name.as_str())).count();
            if pinned as u64 > cap as u64 {
                let at = spec.capacity.as_ref().map(|c| c.referenced).unwrap_or(spec.name.referenced);
                self.rep.warning(
                    at,
                    format!("{pinned} accounts are pinned to `{}`, above its capacity of {cap}", host.name),
                    None,
                );
            }
        }
    }

    fn rate_limit(&mut self, r: &schema::RateLimitSpec, domains: &[String], hosts: &[Host]) -> RateLimit {
        if !hosts.iter().any(|h| h.has(Role::Mta)) {
            return RateLimit { default: None, senders: vec![], bypass: vec![], internal_domains: vec![] };
        }
        let default = r.default.as_ref().map(|l| self.limit(&l.messages, &l.period));
        let mut senders = Vec::new();
        let mut seen = HashSet::new();
        for s in &r.senders {
            let sender = self.local_address(&s.sender, domains, "rate-limited sender");
            if !seen.insert(sender.clone()) {
                self.rep.error(s.sender.referenced, format!("sender `{sender}` has two rate limits"), None);
            }
            senders.push(SenderLimit { sender, limit: self.limit(&s.messages, &s.period) });
        }
        let bypass: Vec<String> = r.bypass.iter().map(|b| self.local_address(b, domains, "bypassing sender")).collect();
        for (b, spec) in bypass.iter().zip(&r.bypass) {
            if seen.contains(b) {
                self.rep.error(
                    spec.referenced,
                    format!("sender `{b}` both has a limit and bypasses limits"),
                    Some("keep one of the two".to_string()),
                );
            }
        }
        let internal_domains = r
            .internal_domains
            .iter()
            .map(|d| {
                let name = d.value.to_ascii_lowercase();
                if !is_hostname(&name) {
                    self.rep.error(d.referenced, format!("invalid domain `{}`", d.value), None);
                }
                name
            })
            .collect();
        RateLimit { default, senders, bypass, internal_domains }
    }

    fn filter(&mut self, spec: &schema::FilterSpec, domains: &[String]) -> Filter {
        for score in [&spec.reject_score, &spec.add_header_score] {
            if !(score.value.is_finite() && score.value > 0.0 && score.value < 1000.0) {
                self.rep.error(
                    score.referenced,
                    format!("invalid score {}", score.value),
                    Some("a score above 0, such as 15".into()),
                );
            }
        }
        if spec.add_header_score.value >= spec.reject_score.value {
            self.rep.error(
                spec.add_header_score.referenced,
                format!(
                    "add_header_score {} is not below reject_score {}: no spam would ever be delivered marked",
                    spec.add_header_score.value, spec.reject_score.value
                ),
                Some("mark from a lower score than you refuse, e.g. 6 and 15".into()),
            );
        }
        let allow = self.senders(&spec.allow, "allowed sender");
        for (a, at) in allow.iter().zip(&spec.allow) {
            let domain = a.rsplit('@').next().unwrap_or(a);
            if domains.iter().any(|d| d == domain) {
                self.rep.error(
                    at.referenced,
                    format!("`{a}` is in a domain this cluster serves: anyone outside could forge it past the filter"),
                    Some("the cluster's own users log in to send and are never scored as strangers; allow only outside senders".into()),
                );
            }
        }
        let deny = self.senders(&spec.deny, "denied sender");
        for (d, at) in deny.iter().zip(&spec.deny) {
            if allow.contains(d) {
                self.rep.error(
                    at.referenced,
                    format!("sender `{d}` is both allowed and denied"),
                    Some("keep one of the two".into()),
                );
            }
        }
        let dmarc_policy = match &spec.dmarc.policy {
            None => "quarantine".to_string(),
            Some(p) if matches!(p.value.as_str(), "none" | "quarantine" | "reject") => p.value.clone(),
            Some(p) => {
                self.rep.error(
                    p.referenced,
                    format!("invalid DMARC policy `{}`", p.value.escape_debug()),
                    Some("none, quarantine or reject".into()),
                );
                String::new()
            }
        };
        let dmarc_report = spec.dmarc.report.as_ref().map(|r| match super::address::parse(&r.value) {
            Ok(a) => a.full,
            Err(why) => {
                self.rep.error(
                    r.referenced,
                    format!("invalid DMARC report address {why}"),
                    Some("an address is user@domain".into()),
                );
                String::new()
            }
        });
        Filter {
            reject_score: spec.reject_score.value,
            add_header_score: spec.add_header_score.value,
            greylist: spec.greylist,
            allow,
            deny,
            dmarc_policy,
            dmarc_report,
        }
    }

    /// Allow and deny entries: a whole address, or a domain for all of its senders.
    fn senders(&mut self, list: &[S<String>], what: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for entry in list {
            let text = entry.value.trim().to_ascii_lowercase();
            let checked = if text.contains('@') {
                super::address::parse(&text).map(|a| a.full)
            } else if is_hostname(&text) {
                Ok(text)
            } else {
                Err(format!("`{}` is neither an address nor a domain", entry.value.escape_debug()))
            };
            match checked {
                Ok(s) if out.contains(&s) => {
                    self.rep.error(entry.referenced, format!("{what} `{s}` is listed twice"), None)
                }
                Ok(s) => out.push(s),
                Err(why) => self.rep.error(
                    entry.referenced,
                    format!("invalid {what} {why}"),
                    Some("write user@example.com for one sender or example.com for a whole domain".into()),
                ),
            }
        }
        out
    }

    fn clamav_needs_filter(&mut self, f: &InventoryFile, hosts: &[Host], filtering: bool) {
        if filtering {
            return;
        }
        for spec in &f.hosts.value {
            if let Some(host) = hosts.iter().find(|h| h.name == spec.name.value && h.mta.clamav) {
                self.rep.error(
                    spec.name.referenced,
                    format!("host `{}` asks for ClamAV, but the inventory has no `filter:` block", host.name),
                    Some("add `filter: {}` at the top level: ClamAV scans mail through the MTA's filter".into()),
                );
            }
        }
    }

    fn limit(&mut self, messages: &S<u32>, period: &S<String>) -> Limit {
        if messages.value == 0 {
            self.rep.error(
                messages.referenced,
                "a limit of 0 messages blocks the sender entirely",
                Some("to block a sender, remove the account; to exempt one, use bypass".to_string()),
            );
        }
        let parsed = humantime::parse_duration(period.value.trim())
            .ok()
            .or_else(|| period.value.trim().parse::<u64>().ok().map(Duration::from_secs))
            .filter(|d| d.as_secs() > 0);
        if parsed.is_none() {
            self.rep.error(
                period.referenced,
                format!("invalid period `{}`", period.value),
                Some("a duration such as 1800s, 30m or 1h".to_string()),
            );
        }
        Limit { messages: messages.value, period: parsed.unwrap_or(Duration::from_secs(1)) }
    }

    fn local_address(&mut self, a: &S<String>, domains: &[String], what: &str) -> String {
        let address = a.value.to_ascii_lowercase();
        match super::address::parse(&a.value) {
            Err(why) => self.rep.error(
                a.referenced,
                format!("invalid {what} {why}"),
                Some("an address is user@domain".to_string()),
            ),
            Ok(parsed) if !parsed.served_by(domains) => self.rep.error(
                a.referenced,
                format!("{what} `{address}` is not in a domain the cluster serves"),
                Some(format!("limits apply to the cluster's own senders: {}", domains.join(", "))),
            ),
            Ok(_) => {}
        }
        address
    }

    fn vips(&mut self, specs: &[schema::VipSpec], hosts: &[Host]) -> Vec<Vip> {
        let mut out = Vec::new();
        let mut router_ids = HashSet::new();
        for (i, v) in specs.iter().enumerate() {
            let (address, prefix_len) = self.floating_address(&v.address, "VIP", hosts).unzip();
            let mut members = Vec::new();
            for h in &v.hosts.value {
                match hosts.iter().find(|x| x.name == h.value) {
                    None => self.rep.error(
                        h.referenced,
                        format!("VIP host `{}` does not exist", h.value),
                        Some(format!(
                            "hosts: {}",
                            hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                        )),
                    ),
                    Some(_) if members.contains(&h.value) => {
                        self.rep.error(h.referenced, format!("VIP host `{}` is listed twice", h.value), None)
                    }
                    Some(_) => members.push(h.value.clone()),
                }
            }
            if v.hosts.value.len() > MAX_VIP_MEMBERS {
                self.rep.error(
                    v.hosts.referenced,
                    format!("a VIP shared by {} hosts: VRRP priorities step down by 10 from 150, so at most {MAX_VIP_MEMBERS} hosts get distinct ones", v.hosts.value.len()),
                    Some(format!("share the VIP among at most {MAX_VIP_MEMBERS} hosts")),
                );
            }
            if v.hosts.value.len() < 2 {
                self.rep.warning(v.hosts.referenced, "a VIP shared by fewer than two hosts gives no failover", None);
            }
            if let Some(r) = &v.router_id {
                self.in_range(r, 1, 255, "vips[].router_id", "(VRRP's virtual router id)");
            }
            let router_id = v.router_id.as_ref().map(|r| r.value).unwrap_or_else(|| default_router_id(i));
            self.interface_name(&v.interface, "VIP interface");
            if let Some(d) = &v.preempt_delay {
                self.in_range(d, 0, 1000, "vips[].preempt_delay", "seconds (keepalived's limit)");
            }
            if !router_ids.insert(router_id) {
                let at = v.router_id.as_ref().map(|r| r.referenced).unwrap_or(v.address.referenced);
                self.rep.error(
                    at,
                    format!("two VIPs use virtual router id {router_id}"),
                    Some("give each VIP its own router_id".to_string()),
                );
            }
            out.push(Vip {
                address: address.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                prefix_len: prefix_len.unwrap_or(32),
                hosts: members,
                interface: v.interface.value.clone(),
                router_id,
                preempt_delay: v.preempt_delay.as_ref().map(|d| d.value),
            });
        }
        out
    }

    fn nat(&mut self, n: &schema::NatSpec, hosts: &[Host]) -> Nat {
        let public_address = self.address(&n.public_address, "public address").unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut taken: HashMap<u16, String> = HashMap::new();
        let mut forwards = Vec::new();
        for fw in &n.forwards {
            let host = hosts.iter().find(|h| h.name == fw.host.value);
            if host.is_none() {
                self.rep.error(fw.host.referenced, format!("NAT forward to unknown host `{}`", fw.host.value), None);
            }
            if fw.ports.value.is_empty() {
                self.rep.error(fw.ports.referenced, "a NAT forward without ports", None);
            }
            for p in &fw.ports.value {
                if let Some(other) = taken.get(&p.value) {
                    self.rep.error(p.referenced, format!("port {} is already forwarded to `{other}`", p.value), None);
                } else {
                    taken.insert(p.value, fw.host.value.clone());
                }
                if let Some(h) = host
                    && let Some(role) = role_for_port(p.value).filter(|r| !r.iter().any(|r| h.has(*r)))
                {
                    self.rep.warning(
                        p.referenced,
                        format!(
                            "port {} is forwarded to `{}`, which has none of the roles that serve it ({})",
                            p.value,
                            h.name,
                            role.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
                        ),
                        None,
                    );
                }
            }
            forwards.push(NatForward {
                ports: fw.ports.value.iter().map(|p| p.value).collect(),
                host: fw.host.value.clone(),
            });
        }
        Nat { public_address, forwards }
    }

    fn tls(&mut self, t: &schema::TlsSpec, inventory: &Path) -> Tls {
        if let Some(ca) = &t.ca {
            if ca.value != "generate" {
                self.rep.error(
                    ca.referenced,
                    format!("unknown tls.ca mode `{}`", ca.value),
                    Some("the only mode is `generate` (a cluster CA kept in the state file)".to_string()),
                );
            }
            if t.certificate.is_some() || t.key.is_some() {
                self.rep.error(
                    ca.referenced,
                    "tls gives both `ca: generate` and certificate files",
                    Some("keep one of the two".to_string()),
                );
            }
            return Tls::GenerateCa;
        }
        match (&t.certificate, &t.key) {
            (None, None) => Tls::GenerateCa,
            (Some(cert), Some(key)) => {
                self.certificate_file(cert, inventory);
                match self.secret(key, "TLS key") {
                    Some(key) => Tls::Files { certificate: PathBuf::from(&cert.value), key },
                    None => Tls::GenerateCa,
                }
            }
            (Some(cert), None) => {
                self.rep.error(
                    cert.referenced,
                    "tls.certificate given without tls.key",
                    Some("add `key: file:PATH` for its private key".to_string()),
                );
                Tls::GenerateCa
            }
            (None, Some(key)) => {
                self.rep.error(key.referenced, "tls.key given without tls.certificate", None);
                Tls::GenerateCa
            }
        }
    }

    fn proxmox(&mut self, p: &schema::ProxmoxSpec) -> Proxmox {
        if !p.api_url.value.starts_with("https://") {
            self.rep.error(
                p.api_url.referenced,
                format!("Proxmox API URL `{}` is not https", p.api_url.value),
                Some("e.g. https://pve.example.com:8006/api2/json".to_string()),
            );
        }
        let token_ok = p
            .token_id
            .value
            .split_once('@')
            .and_then(|(user, rest)| rest.split_once('!').map(|(realm, tok)| (user, realm, tok)))
            .is_some_and(|(u, r, t)| !u.is_empty() && !r.is_empty() && !t.is_empty());
        if !token_ok {
            self.rep.error(
                p.token_id.referenced,
                format!("invalid Proxmox token id `{}`", p.token_id.value),
                Some("it looks like user@realm!tokenname".to_string()),
            );
        }
        let token_secret =
            self.secret(&p.token_secret, "Proxmox token secret").unwrap_or(SecretRef::Env(String::new()));
        if let Some(fp) = &p.fingerprint {
            let hex: String = fp.value.chars().filter(|c| *c != ':').collect();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                self.rep.error(
                    fp.referenced,
                    "invalid certificate fingerprint",
                    Some("the SHA-256 fingerprint, 32 hex pairs separated by ':'".to_string()),
                );
            }
        }
        self.checked(&p.node, is_proxmox_node, "Proxmox node name", "a node name such as pve (letters, digits, '-')");
        self.in_range(&p.template_vmid, 100, 999_999_999, "proxmox.template_vmid", "(Proxmox VM ids)");
        for vmid in p.templates.values() {
            self.in_range(vmid, 100, 999_999_999, "proxmox.templates", "(Proxmox VM ids)");
        }
        if let Some(st) = &p.storage {
            self.checked(st, is_proxmox_id, "Proxmox storage", "a storage id such as local-lvm");
        }
        if let Some(b) = &p.bridge {
            self.interface_name(b, "Proxmox bridge");
        }
        if let Some(u) = &p.ci_user {
            self.checked(u, is_unix_user, "cloud-init user", "a Unix user name such as root or debian");
        }
        for t in &p.tags {
            self.checked(t, is_proxmox_tag, "Proxmox tag", "letters, digits and _ - + . (not starting with - + .)");
        }
        if let Some(len) = &p.prefix_len {
            self.in_range(len, 1, 128, "proxmox.prefix_len", "bits");
        }
        let gateway = p.gateway.as_ref().and_then(|g| self.address(g, "gateway"));
        let nameserver = p.nameserver.as_ref().and_then(|g| self.address(g, "nameserver"));
        Proxmox {
            api_url: p.api_url.value.trim_end_matches('/').to_string(),
            node: p.node.value.clone(),
            token_id: p.token_id.value.clone(),
            token_secret,
            ca_file: p.ca_file.as_ref().map(|c| PathBuf::from(&c.value)),
            fingerprint: p.fingerprint.as_ref().map(|f| f.value.to_ascii_uppercase()),
            template_vmid: p.template_vmid.value,
            templates: p.templates.iter().map(|(os, v)| (*os, v.value)).collect(),
            full_clone: p.full_clone.unwrap_or(true),
            storage: p.storage.as_ref().map(|s| s.value.clone()),
            bridge: p.bridge.as_ref().map(|b| b.value.clone()).unwrap_or_else(|| "vmbr0".to_string()),
            gateway,
            prefix_len: p.prefix_len.as_ref().map(|l| l.value).unwrap_or(24),
            nameserver,
            ci_user: p.ci_user.as_ref().map(|u| u.value.clone()).unwrap_or_else(|| "root".to_string()),
            ssh_public_keys: p.ssh_public_keys.iter().map(|k| PathBuf::from(&k.value)).collect(),
            tags: p.tags.iter().map(|t| t.value.clone()).collect(),
        }
    }

    /// A VRRP address (`a.b.c.d` or `a.b.c.d/len`, /24 or /64 by default) that no host owns.
    fn floating_address(&mut self, v: &S<String>, what: &str, hosts: &[Host]) -> Option<(IpAddr, u8)> {
        let (addr_text, prefix_text) = match v.value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (v.value.as_str(), None),
        };
        let address = addr_text.parse::<IpAddr>().ok();
        let max_prefix = if matches!(address, Some(IpAddr::V6(_))) { 128 } else { 32 };
        let prefix_len = match prefix_text.map(|p| p.parse::<u8>()) {
            None => Some(if max_prefix == 32 { 24 } else { 64 }),
            Some(Ok(p)) if p <= max_prefix => Some(p),
            Some(_) => None,
        };
        let (Some(address), Some(prefix_len)) = (address, prefix_len) else {
            self.rep.error(
                v.referenced,
                format!("invalid {what} address `{}`", v.value),
                Some("e.g. 192.168.30.254 or 192.168.30.254/24".to_string()),
            );
            return None;
        };
        if let Some(h) = hosts.iter().find(|h| h.address == address) {
            self.rep.error(
                v.referenced,
                format!("{what} {address} is host `{}`'s own address", h.name),
                Some("a floating address must be one no host owns".to_string()),
            );
        }
        Some((address, prefix_len))
    }

    /// Mailbox pairs: two distinct mailbox hosts of one release each, in one pair at most,
    /// with an address each that nothing else uses and VRRP ids apart from the VIPs'.
    fn pairs(&mut self, specs: &[schema::PairSpec], hosts: &[Host], vips: &[Vip]) -> Vec<Pair> {
        let mut out: Vec<Pair> = Vec::new();
        let mut router_ids: HashSet<u8> = vips.iter().map(|v| v.router_id).collect();
        let mut used: Vec<IpAddr> = vips.iter().map(|v| v.address).collect();
        for (i, p) in specs.iter().enumerate() {
            let mut members: Vec<&Host> = Vec::new();
            for h in &p.hosts.value {
                match hosts.iter().find(|x| x.name == h.value) {
                    None => self.rep.error(h.referenced, format!("pair host `{}` does not exist", h.value), None),
                    Some(x) if !x.has(Role::Mailbox) => self.rep.error(
                        h.referenced,
                        format!("pair host `{}` is not a mailbox host", h.value),
                        Some("pairs replicate accounts: both hosts need the mailbox role".to_string()),
                    ),
                    Some(x) if members.iter().any(|m| m.name == x.name) => {
                        self.rep.error(h.referenced, format!("pair host `{}` is listed twice", h.value), None)
                    }
                    Some(x) if out.iter().any(|o| o.hosts.contains(&x.name)) => self.rep.error(
                        h.referenced,
                        format!("host `{}` is already in a pair", h.value),
                        Some("a mailbox host has one partner".to_string()),
                    ),
                    Some(x) => members.push(x),
                }
            }
            if p.hosts.value.len() != 2 {
                self.rep.error(p.hosts.referenced, "a pair is two mailbox hosts", None);
            }
            if let [a, b] = members[..]
                && a.os != b.os
            {
                self.rep.error(
                    p.hosts.referenced,
                    format!("pair `{}`/`{}` mixes {} and {}", a.name, b.name, a.os, b.os),
                    Some("both members of a pair run the same release (one replication engine)".to_string()),
                );
            }
            let mut addresses = Vec::new();
            let mut prefix_len = 24;
            for a in &p.addresses.value {
                let Some((address, len)) = self.floating_address(a, "pair", hosts) else { continue };
                if used.contains(&address) {
                    self.rep.error(a.referenced, format!("{address} is already a VIP's or a pair's address"), None);
                }
                used.push(address);
                addresses.push(address);
                prefix_len = len;
            }
            if p.addresses.value.len() != 2 {
                self.rep.error(
                    p.addresses.referenced,
                    "a pair has two addresses, one per host, in the order of `hosts`",
                    None,
                );
            }
            let automatic = match p.failover.as_ref().map(|f| f.value.as_str()) {
                None | Some("manual") => false,
                Some("automatic") => true,
                Some(other) => {
                    let at = p.failover.as_ref().map(|f| f.referenced).unwrap_or(p.hosts.referenced);
                    self.rep.error(at, format!("unknown failover `{other}`"), Some("automatic or manual".to_string()));
                    false
                }
            };
            let witness = p.witness.as_ref().and_then(|w| self.address(w, "pair witness"));
            if automatic && witness.is_none() && hosts.len() < 3 {
                self.rep.error(
                    p.hosts.referenced,
                    "automatic failover in a cluster of two hosts needs a `witness`",
                    Some("a survivor takes over only if it sees a majority; give the router's address, e.g. witness: 192.168.30.1".to_string()),
                );
            }
            self.interface_name(&p.interface, "pair interface");
            if let Some(r) = &p.router_id {
                self.in_range(
                    r,
                    1,
                    254,
                    "pairs[].router_id",
                    "(VRRP's virtual router id; the second address takes the next)",
                );
            }
            let router_id =
                p.router_id.as_ref().map(|r| r.value).unwrap_or_else(|| default_router_id(vips.len() + 2 * i));
            for id in [router_id, router_id.wrapping_add(1)] {
                if !router_ids.insert(id) {
                    let at = p.router_id.as_ref().map(|r| r.referenced).unwrap_or(p.hosts.referenced);
                    self.rep.error(
                        at,
                        format!("virtual router id {id} is already taken by a VIP or a pair"),
                        Some("give the pair a `router_id` of its own (it uses that one and the next)".to_string()),
                    );
                }
            }
            if let ([a, b], [x, y]) = (&members[..], &addresses[..]) {
                out.push(Pair {
                    hosts: [a.name.clone(), b.name.clone()],
                    addresses: [*x, *y],
                    prefix_len,
                    interface: p.interface.value.clone(),
                    router_id,
                    automatic,
                    witness,
                });
            }
        }
        out
    }

    fn lab(&mut self, l: &schema::LabSpec, specs: &[schema::HostSpec], floating: &[IpAddr]) -> Lab {
        let Ok(subnet) = l.subnet.value.parse::<IpNet>() else {
            self.rep.error(
                l.subnet.referenced,
                format!("invalid lab subnet `{}`", l.subnet.value),
                Some("e.g. 10.99.0.0/24".to_string()),
            );
            return Lab { subnet: IpNet::default(), bridge: l.bridge.value.clone() };
        };
        let bridge_address = subnet.hosts().next();
        self.interface_name(&l.bridge, "lab bridge");
        for h in specs {
            let Ok(a) = h.address.value.parse::<IpAddr>() else { continue };
            if !subnet.contains(&a) || a == subnet.network() || a == subnet.broadcast() {
                self.rep.error(
                    h.address.referenced,
                    format!("host `{}` at {a} is outside the lab subnet {subnet}", h.name.value),
                    None,
                );
            } else if Some(a) == bridge_address {
                self.rep.error(
                    h.address.referenced,
                    format!("host `{}` takes {a}, the lab bridge's address", h.name.value),
                    Some("the bridge uses the subnet's first address".to_string()),
                );
            }
        }
        for a in floating {
            if !subnet.contains(a) {
                self.rep.error(
                    l.subnet.referenced,
                    format!("floating address {a} is outside the lab subnet {subnet}"),
                    None,
                );
            }
        }
        Lab { subnet, bridge: l.bridge.value.clone() }
    }

    fn address(&mut self, a: &S<String>, what: &str) -> Option<IpAddr> {
        let parsed = a.value.parse::<IpAddr>();
        if parsed.is_err() {
            self.rep.error(
                a.referenced,
                format!("invalid {what} `{}`", a.value),
                Some("an IPv4 or IPv6 address such as 172.16.0.2".to_string()),
            );
        }
        parsed.ok()
    }

    /// `tls.certificate` is copied into every host's ca.pem and host.pem, world-readable: it
    /// must hold PEM certificates and nothing else (no key, no stray file).
    fn certificate_file(&mut self, cert: &S<String>, inventory: &Path) {
        let base = match inventory.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let path = base.join(&cert.value);
        let problem = match std::fs::read(&path) {
            Err(e) => Some(format!("cannot read tls.certificate {}: {e}", path.display())),
            Ok(bytes) => certificate_pem_problem(&bytes).map(|p| format!("tls.certificate {}: {p}", path.display())),
        };
        if let Some(message) = problem {
            self.rep.error(
                cert.referenced,
                message,
                Some("give the PEM file of the certificate and its chain (the key goes under tls.key)".to_string()),
            );
        }
    }

    /// A value that must have a syntax of its own (it reaches a config file or an API path).
    fn checked(&mut self, v: &S<String>, ok: fn(&str) -> bool, what: &str, help: &str) {
        if !ok(&v.value) {
            self.rep.error(v.referenced, format!("invalid {what} `{}`", v.value), Some(help.to_string()));
        }
    }

    /// A Linux network interface name, as keepalived.conf, `ip` and Proxmox take it.
    fn interface_name(&mut self, v: &S<String>, what: &str) {
        self.checked(v, is_interface_name, what, "at most 15 letters, digits, '-', '_' or '.', e.g. eth0 or vmbr0");
    }

    fn in_range<T: Copy + PartialOrd + std::fmt::Display>(&mut self, v: &S<T>, min: T, max: T, what: &str, unit: &str) {
        if v.value < min || v.value > max {
            self.rep.error(
                v.referenced,
                format!("{what} is {}, outside {min}–{max}", v.value),
                Some(format!("give a number from {min} to {max} {unit}")),
            );
        }
    }

    /// Secrets must be references. The value itself is never echoed, not even in the snippet.
    fn secret(&mut self, s: &S<String>, what: &str) -> Option<SecretRef> {
        let parsed = SecretRef::parse(&s.value);
        if parsed.is_none() {
            let looks_like_ref = s.value.starts_with("env:") || s.value.starts_with("file:");
            let message = if looks_like_ref {
                format!("malformed secret reference for the {what}")
            } else {
                format!("the {what} is given in plaintext")
            };
            self.rep.error(s.referenced, message, Some("write `env:NAME` (an environment variable) or `file:PATH` (a file, relative to the inventory); mailctl keeps no secret in the inventory".to_string()));
            if let Some(d) = self.rep.diagnostics.last_mut() {
                d.source_line = d.source_line.as_ref().map(|line| mask_from(line, s.referenced.column()));
            }
        }
        parsed
    }
}

fn mask_from(line: &str, column: u64) -> String {
    let keep: String = line.chars().take(column.saturating_sub(1) as usize).collect();
    format!("{keep}********")
}

fn roles_help() -> String {
    format!("roles are: {}", Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
}

fn names_with(hosts: &[Host], role: Role) -> String {
    let names: Vec<&str> = hosts.iter().filter(|h| h.has(role)).map(|h| h.name.as_str()).collect();
    if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
}

/// Which roles serve a well-known port, for sanity checks of a NAT plan.
fn role_for_port(port: u16) -> Option<&'static [Role]> {
    match port {
        25 | 465 | 587 => Some(&[Role::Mta, Role::Proxy]),
        110 | 143 | 993 | 995 => Some(&[Role::Proxy, Role::Mailbox]),
        80 | 443 => Some(&[Role::Proxy]),
        53 => Some(&[Role::Dns]),
        _ => None,
    }
}

/// What is wrong with a certificate file's content, if anything.
pub fn certificate_pem_problem(bytes: &[u8]) -> Option<&'static str> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let Ok(text) = std::str::from_utf8(bytes) else { return Some("is not a PEM text file") };
    if text.contains("PRIVATE KEY-----") {
        return Some("holds a private key; only certificates may go here");
    }
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
    match certs {
        Ok(c) if !c.is_empty() => None,
        _ => Some("holds no PEM certificate"),
    }
    .or_else(|| {
        // Every non-blank line outside a certificate block is something else pasted in.
        let mut inside = false;
        for line in text.lines().map(str::trim) {
            match line {
                "-----BEGIN CERTIFICATE-----" => inside = true,
                "-----END CERTIFICATE-----" => inside = false,
                l if !inside && !l.is_empty() => return Some("holds text that is not a PEM certificate"),
                _ => {}
            }
        }
        None
    })
}

/// A class of service's name: it lands in the directory and in messages.
fn is_class_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Postfix's message_size_limit and Dovecot's quota grace both stay sane below 2 GiB.
const MAX_MESSAGE_SIZE_MB: u32 = 2047;
/// keepalived priorities go 150, 140, … down to 10 (render/context.rs): distinct and above 0.
pub const MAX_VIP_MEMBERS: usize = 15;

/// VRRP router ids of VIPs without one: 51, 52, …, never 0 and never past 255.
fn default_router_id(index: usize) -> u8 {
    (51 + index % 205) as u8
}

/// A remote login name (ssh's `-l`): no shell or ssh_config metacharacters.
pub fn is_login_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `[user@]host[:port]` (a host name, an address or a bracketed IPv6 address).
pub fn is_jump(s: &str) -> bool {
    let (user, rest) = s.rsplit_once('@').map_or((None, s), |(u, r)| (Some(u), r));
    let host = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, port)) => {
                addr.parse::<IpAddr>().is_ok() && (port.is_empty() || port_ok(port.strip_prefix(':')))
            }
            None => false,
        },
        None => match rest.rsplit_once(':') {
            Some((h, port)) => (is_hostname(h) || h.parse::<IpAddr>().is_ok()) && port_ok(Some(port)),
            None => is_hostname(rest) || rest.parse::<IpAddr>().is_ok(),
        },
    };
    host && user.is_none_or(is_login_name)
}

fn port_ok(p: Option<&str>) -> bool {
    p.and_then(|p| p.parse::<u16>().ok()).is_some_and(|p| p > 0)
}

pub fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Proxmox's `pve-node` format: a DNS label.
pub fn is_proxmox_node(s: &str) -> bool {
    is_hostname(s) && !s.contains('.')
}

/// Proxmox's `pve-storage-id`: `[a-z][a-z0-9\-_.]*[a-z0-9]`.
pub fn is_proxmox_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Proxmox's `pve-tag`: `[a-z0-9_][a-z0-9_\-+.]*`, case-insensitive.
pub fn is_proxmox_tag(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c))
}

/// A Unix user name as Debian's adduser accepts it by default.
pub fn is_unix_user(s: &str) -> bool {
    s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
}

pub fn domain_to_suffix(domain: &str) -> String {
    domain.split('.').map(|p| format!("dc={p}")).collect::<Vec<_>>().join(",")
}

/// Host and cluster names: short, lower-case, safe in file names, unit names and shells.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
