//! TLS as a mail client meets it: the handshake on an implicit-TLS port or after STARTTLS,
//! the server's chain checked against the cluster's CA (or the chain the inventory's own
//! certificate came with), and the days left before its certificate expires.
//!
//! The handshake itself never fails on the chain: a recording verifier keeps the verdict so
//! the probe can say both "untrusted" and "expires in 3 days" of one certificate.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Under this many days left, a certificate is a warning.
pub const WARN_DAYS: i64 = 21;

/// What to trust and which names the server should prove.
#[derive(Clone, Debug)]
pub struct TlsCheck {
    /// None: no CA is known here (neither the state file nor the inventory's chain).
    pub roots: Option<Arc<RootCertStore>>,
    /// Where the roots come from, for messages.
    pub roots_from: String,
    /// The host's name, then the names clients use for it (the public name).
    pub names: Vec<String>,
}

impl TlsCheck {
    /// Roots from PEM text (every certificate in it is trusted).
    pub fn from_pem(pem: &str, roots_from: &str, names: Vec<String>) -> Result<TlsCheck, String> {
        let mut store = RootCertStore::empty();
        for cert in pem_certificates(pem) {
            store.add(cert).map_err(|e| format!("{roots_from}: {e}"))?;
        }
        if store.is_empty() {
            return Err(format!("{roots_from}: no certificate in it"));
        }
        Ok(TlsCheck { roots: Some(Arc::new(store)), roots_from: roots_from.to_string(), names })
    }
}

/// What status trusts, decided once per run: the cluster CA mailctl generated (from the state
/// file), or the last certificate of the chain the inventory's `tls.certificate` holds (as
/// render uses it for the CA bundle).
#[derive(Clone, Debug)]
pub struct TlsTrust {
    pub roots: Option<Arc<RootCertStore>>,
    pub from: String,
    /// The name clients use: a proxy's certificate may name only that.
    pub public_name: String,
}

impl TlsTrust {
    pub fn none(why: &str) -> TlsTrust {
        TlsTrust { roots: None, from: why.to_string(), public_name: String::new() }
    }

    /// The trust anchors for `cluster`; `generated_ca` is the state file's CA (PEM), if any.
    pub fn for_cluster(cluster: &crate::inventory::model::Cluster, generated_ca: Option<&str>) -> TlsTrust {
        TlsTrust { public_name: cluster.public_name.clone(), ..TlsTrust::roots_for(cluster, generated_ca) }
    }

    fn roots_for(cluster: &crate::inventory::model::Cluster, generated_ca: Option<&str>) -> TlsTrust {
        use crate::inventory::model::Tls;
        let (pem, from) = match &cluster.tls {
            Tls::Files { certificate, .. } => {
                let path = cluster.base_dir().join(certificate);
                match std::fs::read_to_string(&path) {
                    Ok(text) => (last_certificate(&text), format!("the chain in {}", path.display())),
                    Err(e) => return TlsTrust::none(&format!("no CA to check against ({}: {e})", path.display())),
                }
            }
            Tls::GenerateCa => match generated_ca {
                Some(pem) => (pem.to_string(), "the cluster CA".to_string()),
                None => return TlsTrust::none("no CA to check against: the state file has none yet (run deploy)"),
            },
        };
        let mut store = RootCertStore::empty();
        for cert in pem_certificates(&pem) {
            if store.add(cert).is_err() {
                return TlsTrust::none(&format!("{from}: not a usable CA certificate"));
            }
        }
        if store.is_empty() {
            return TlsTrust::none(&format!("{from}: no certificate in it"));
        }
        TlsTrust { roots: Some(Arc::new(store)), from, public_name: String::new() }
    }

    /// What a host's probes check: these roots, the host's name, then the public name.
    pub fn for_host(&self, fqdn: &str) -> TlsCheck {
        let mut names = vec![fqdn.to_string()];
        if !self.public_name.is_empty() && self.public_name != fqdn {
            names.push(self.public_name.clone());
        }
        TlsCheck { roots: self.roots.clone(), roots_from: self.from.clone(), names }
    }
}

fn last_certificate(text: &str) -> String {
    match text.rfind("-----BEGIN CERTIFICATE-----") {
        Some(i) => text[i..].to_string(),
        None => text.to_string(),
    }
}

/// PEM certificates as DER, in order.
fn pem_certificates(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).collect()
}

/// What the handshake showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsInfo {
    /// TLSv1_3, TLSv1_2.
    pub version: String,
    pub subject: String,
    pub issuer: String,
    /// The server certificate's notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// The chain leads to a trusted root and names the host.
    pub verified: bool,
    /// Why it is not trusted, when it is not.
    pub problem: Option<String>,
}

impl TlsInfo {
    /// A failure: expired, or not trusted.
    pub fn failure(&self) -> Option<String> {
        if self.days_left < 0 {
            return Some(format!("certificate expired on {}", self.not_after));
        }
        self.problem.as_ref().map(|p| format!("certificate not trusted: {p}"))
    }

    /// A warning: expiring within `WARN_DAYS`.
    pub fn warning(&self) -> Option<String> {
        (0..WARN_DAYS)
            .contains(&self.days_left)
            .then(|| format!("certificate expires in {} day(s), on {}", self.days_left, self.not_after))
    }

    pub fn summary(&self) -> String {
        let trust = if self.verified { "verified" } else { "NOT verified" };
        format!("{}, {trust}, {} day(s) left", self.version.replace('_', "."), self.days_left)
    }
}

/// Handshakes over `stream` and judges the server's certificate.
pub async fn handshake<S>(stream: S, check: &TlsCheck) -> Result<(TlsStream<S>, TlsInfo), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = match &check.roots {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let verifier = Arc::new(Recording {
        inner,
        names: check.names.clone(),
        roots_from: check.roots_from.clone(),
        algorithms: provider.signature_verification_algorithms,
        seen: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let first = check.names.first().cloned().unwrap_or_else(|| "localhost".into());
    let name = ServerName::try_from(first).map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(Arc::new(config)).connect(name, stream).await.map_err(|e| format!("TLS: {e}"))?;
    let version = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    let (leaf, verdict) = verifier.seen.lock().unwrap().take().ok_or("TLS: the server sent no certificate")?;
    let mut info = describe(&leaf)?;
    info.version = version;
    info.verified = verdict.is_ok();
    info.problem = verdict.err();
    Ok((tls, info))
}

/// Subject, issuer and validity of a DER certificate.
fn describe(der: &[u8]) -> Result<TlsInfo, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("the server's certificate: {e}"))?;
    let not_after = cert.validity().not_after.timestamp();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let shown = std::time::UNIX_EPOCH + std::time::Duration::from_secs(not_after.max(0) as u64);
    Ok(TlsInfo {
        version: String::new(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: humantime::format_rfc3339_seconds(shown).to_string(),
        days_left: (not_after - now).div_euclid(86_400),
        verified: false,
        problem: None,
    })
}

/// Verifies with webpki, keeps the verdict and the leaf, and lets the handshake go on.
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    names: Vec<String>,
    roots_from: String,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Option<Seen>>,
}

/// The server's certificate (DER) and whether it is trusted (or why not).
type Seen = (Vec<u8>, Result<(), String>);

impl Recording {
    fn judge(
        &self,
        end: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        let Some(inner) = &self.inner else { return Err(self.roots_from.clone()) };
        let mut last = String::from("no name to check");
        // The host's own name first; a proxy may present the public name only.
        for name in &self.names {
            let Ok(server) = ServerName::try_from(name.clone()) else { continue };
            match inner.verify_server_cert(end, intermediates, &server, &[], now) {
                Ok(_) => return Ok(()),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
                )) => {
                    last = format!("valid for none of {}", self.names.join(", "));
                }
                Err(e) => return Err(describe_error(&e, &self.roots_from)),
            }
        }
        Err(last)
    }
}

fn describe_error(e: &rustls::Error, roots_from: &str) -> String {
    match e {
        // A CA of the same name but another key shows as a bad signature.
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
        ) => {
            format!("not issued by {roots_from}")
        }
        rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
        other => other.to_string(),
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.judge(end_entity, intermediates, now);
        *self.seen.lock().unwrap() = Some((end_entity.as_ref().to_vec(), verdict));
        Ok(ServerCertVerified::assertion())
    }

    // The handshake still proves the server holds the certificate's key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
