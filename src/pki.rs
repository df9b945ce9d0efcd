//! The cluster CA: one ECDSA CA generated on first render, a certificate per host signed by it.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::state::{HostCert, Pki};

#[derive(Debug, thiserror::Error)]
#[error("cannot generate the cluster certificates: {0}")]
pub struct PkiError(#[from] rcgen::Error);

pub fn new_ca(cluster: &str) -> Result<Pki, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("mailctl {cluster} cluster CA"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok(Pki { ca_cert: cert.pem(), ca_key: key.serialize_pem(), hosts: Default::default() })
}

/// Issues a host certificate for `names` (DNS names or IP addresses; the first is the CN),
/// valid from yesterday for 825 days.
pub fn issue(pki: &Pki, names: &[String]) -> Result<HostCert, PkiError> {
    let now = OffsetDateTime::now_utc();
    issue_between(pki, names, now - Duration::days(1), now + Duration::days(825))
}

/// `issue` with the validity given (tests make expiring and expired certificates with it).
pub fn issue_between(
    pki: &Pki,
    names: &[String],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<HostCert, PkiError> {
    let ca_key = KeyPair::from_pem(&pki.ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&pki.ca_cert, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(HostCert { names: names.to_vec(), cert: cert.pem(), key: key.serialize_pem() })
}
