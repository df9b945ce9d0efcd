//! The cluster's conventions, in one place: where mail lives and who owns it, the ports
//! mailctl's services meet on, the names of the secrets it generates. Templates get these
//! through `render::context`; `playbooks/cluster.yaml` spells the vmail user with the same
//! values (a test holds them equal).

use serde::Serialize;

/// OID arc of mailctl's own LDAP schema (a UUID-derived arc under 2.25, per RFC 4122 §9).
pub const SCHEMA_OID: &str = "2.25.133736047502050876822584418331954580929";

/// Where every mailbox host keeps mail: `<MAIL_ROOT>/<domain>/<local part>`.
pub const MAIL_ROOT: &str = "/var/vmail";
/// Unprivileged ids that own mail on every mailbox host; equal everywhere so dsync works.
pub const VMAIL_UID: u32 = 5000;

/// Dovecot's LMTP, where the MTAs deliver.
pub const LMTP_PORT: u16 = 24;
/// Dovecot's doveadm server (TLS), which a move's dsync pulls from.
pub const DOVEADM_PORT: u16 = 2425;
/// Where a paired mailbox host takes its partner's replication: stunnel, mutual TLS, on the
/// host's own address, into doveadm on loopback (docs/pairs.md).
pub const REPLICA_PORT: u16 = 12425;
/// Where a pair member's replication reaches its partner: stunnel's client end, on loopback,
/// which carries it in mutual TLS to the partner's REPLICA_PORT.
pub const REPLICA_TUNNEL_PORT: u16 = 12427;
/// Where mailctl's replication controller (Dovecot 2.4 pairs) takes Dovecot's change events,
/// on loopback.
pub const REPLICATOR_PORT: u16 = 12426;
/// Where the controller writes its state for `status`, readable by root only.
pub const REPLICATOR_STATUS: &str = "/run/mailctl-replicator/status";
/// Where a pair member keeps the files that let it hold a pair address (0) or not (1).
pub const PAIR_GATE_DIR: &str = "/var/lib/mailctl-pair";
/// The script keepalived runs on a member of an automatic pair: true while it sees a majority.
pub const QUORUM_SCRIPT: &str = "/etc/keepalived/mailctl-quorum";
/// A pair member's IMAP check: logins answer, or Dovecot is being restarted on purpose.
pub const PAIR_IMAP_SCRIPT: &str = "/etc/keepalived/mailctl-pair-imap";
/// True once a pair member has been up long enough to claim its partner's address.
pub const BOOTED_SCRIPT: &str = "/etc/keepalived/mailctl-booted";
/// The name LMTP and the IMAP/POP3 proxies reach a mailbox host's accounts by: it resolves to
/// the host's pair address, which moves to the partner on failover.
pub fn mailbox_route(fqdn: &str) -> String {
    format!("mailbox.{fqdn}")
}

/// Ports where an MTA takes the SMTP, submission and submissions traffic that HAProxy passes
/// on with a PROXY protocol v2 header (the real client's address), on the cluster address only.
pub const PROXIED_SMTP_PORTS: ProxiedPorts = ProxiedPorts { smtp: 10025, submission: 10587, submissions: 10465 };

#[derive(Serialize, Clone, Copy, Debug)]
pub struct ProxiedPorts {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
}

/// The mail home of `local@domain`.
pub fn mail_home(local: &str, domain: &str) -> String {
    format!("{MAIL_ROOT}/{domain}/{local}")
}

/// Names (and lengths) of the secrets mailctl generates into the state file.
pub mod secret {
    /// slapd's rootdn password (only its SSHA hash reaches a host).
    pub const LDAP_ADMIN: (&str, usize) = ("ldap_admin", 24);
    /// The read-only bind of Postfix and Dovecot.
    pub const LDAP_READER: (&str, usize) = ("ldap_reader", 24);
    /// The replica's bind to the provider.
    pub const LDAP_REPLICATOR: (&str, usize) = ("ldap_replicator", 24);
    /// doveadm's server password between mailbox hosts.
    pub const DOVEADM: (&str, usize) = ("doveadm", 32);
    /// Roundcube's des_key (24: the 3DES key length it expects).
    pub const ROUNDCUBE_DES_KEY: (&str, usize) = ("roundcube_des_key", 24);
    /// Roundcube's login to the shared webmail database.
    pub const WEBMAIL_DB: (&str, usize) = ("webmail_db", 24);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_playbook_spells_the_vmail_user_as_the_code_does() {
        let pb = crate::playbook::Playbook::builtin().unwrap();
        let vmail = pb.components.iter().flat_map(|c| &c.users).find(|u| u.name == "vmail").unwrap();
        assert_eq!((vmail.uid, vmail.home.as_deref()), (Some(VMAIL_UID), Some(MAIL_ROOT)));
        let dirs: Vec<&str> = pb.components.iter().flat_map(|c| &c.directories).map(|d| d.path.as_str()).collect();
        assert!(dirs.contains(&MAIL_ROOT));
    }
}
