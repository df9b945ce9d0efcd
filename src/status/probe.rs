//! Protocol probes from the admin machine: each speaks just enough of its protocol to know
//! the service answers as it should (a greeting, a capability list, an authoritative SOA),
//! then says goodbye. Every probe is bounded by one timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

use super::services::{Probe, TlsMode};
use super::tls::{self, TlsCheck, TlsInfo};

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// The protocol spoken (imap, smtp, ...).
    pub kind: &'static str,
    /// address:port probed.
    pub target: String,
    pub ok: bool,
    pub latency_ms: f64,
    /// The greeting or answer when ok, the error otherwise.
    pub detail: String,
    /// The TLS handshake, where the service speaks TLS (implicit or after STARTTLS).
    pub tls: Option<TlsInfo>,
    /// Fine for now, not for long (a certificate about to expire).
    pub warning: Option<String>,
}

/// The name we give in EHLO/LHLO: reserved, so it can never be mistaken for a real client.
const HELO_NAME: &str = "mailctl-status.invalid";
/// Longest greeting or reply we read before calling the peer broken.
const MAX_LINES: usize = 64;

/// Probes `probe` at `address`; with `tls`, over TLS (from the start, or after STARTTLS) and
/// with the server's certificate judged.
pub async fn run(probe: &Probe, address: IpAddr, timeout: Duration, tls: Option<(TlsMode, &TlsCheck)>) -> ProbeResult {
    let target = SocketAddr::new(address, probe.port());
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, speak(probe, target, tls)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    };
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
    let mut result = ProbeResult {
        kind: probe.kind(),
        target: target.to_string(),
        ok: outcome.is_ok(),
        latency_ms,
        detail: String::new(),
        tls: None,
        warning: None,
    };
    match outcome {
        Err(e) => result.detail = e,
        Ok((detail, None)) => result.detail = detail,
        Ok((detail, Some(info))) => {
            result.detail = format!("{detail}; {}", info.summary());
            if let Some(failure) = info.failure() {
                (result.ok, result.detail) = (false, failure);
            }
            result.warning = info.warning();
            result.tls = Some(info);
        }
    }
    result
}

async fn speak(
    probe: &Probe,
    target: SocketAddr,
    tls: Option<(TlsMode, &TlsCheck)>,
) -> Result<(String, Option<TlsInfo>), String> {
    match probe {
        Probe::Ldap => return ldap_root_dse(target).await.map(|d| (d, None)),
        Probe::Dns { zone } => return dns_soa(target, zone).await.map(|d| (d, None)),
        _ => {}
    }
    let stream = TcpStream::connect(target).await.map_err(|e| e.to_string())?;
    match tls {
        None => Conn::new(stream).talk(probe).await.map(|d| (d, None)),
        Some((TlsMode::Implicit, check)) => {
            let (stream, info) = tls::handshake(stream, check).await?;
            Ok((Conn::new(stream).talk(probe).await?, Some(info)))
        }
        Some((TlsMode::Starttls, check)) => {
            let mut plain = Conn::new(stream);
            let greeting = plain.starttls(probe).await?;
            let (stream, info) = tls::handshake(plain.io.into_inner(), check).await?;
            Conn::new(stream).after_starttls(probe).await?;
            Ok((format!("{greeting}; STARTTLS ok"), Some(info)))
        }
    }
}

struct Conn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Conn<S> {
        Conn { io: BufReader::new(stream) }
    }

    /// The probe's whole conversation.
    async fn talk(&mut self, probe: &Probe) -> Result<String, String> {
        match probe {
            Probe::Smtp { .. } => self.smtp("EHLO").await,
            Probe::Lmtp { .. } => self.smtp("LHLO").await,
            Probe::Imap { .. } => self.imap().await,
            Probe::Pop3 { .. } => self.pop3().await,
            Probe::Http { host_header, .. } => self.http(host_header).await,
            Probe::Webmail { host_header, .. } => self.webmail(host_header).await,
            Probe::Managesieve { .. } => self.managesieve().await,
            // `status` judges sshd by its own session; alone, a probe can only see the port.
            Probe::Ssh { port } | Probe::Tcp { port } => Ok(format!("port {port} accepts connections")),
            Probe::Ldap | Probe::Dns { .. } | Probe::OnHost(_) => unreachable!("no stream of their own"),
        }
    }

    /// Up to the server's go-ahead for the TLS handshake; returns the greeting.
    async fn starttls(&mut self, probe: &Probe) -> Result<String, String> {
        match probe {
            Probe::Smtp { .. } => {
                let (code, banner) = self.smtp_reply().await?;
                if code != 220 {
                    return Err(format!("greeting: {}", banner.join(" / ")));
                }
                self.send(&format!("EHLO {HELO_NAME}\r\n")).await?;
                let (code, ehlo) = self.smtp_reply().await?;
                if code != 250 || !ehlo.iter().any(|l| l.get(4..).is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))) {
                    return Err(format!("EHLO does not offer STARTTLS: {}", ehlo.join(" / ")));
                }
                self.send("STARTTLS\r\n").await?;
                let (code, reply) = self.smtp_reply().await?;
                if code != 220 {
                    return Err(format!("STARTTLS: {}", reply.join(" / ")));
                }
                Ok(banner[0].clone())
            }
            Probe::Imap { .. } => {
                let greeting = self.line().await?;
                if !greeting.starts_with("* OK") {
                    return Err(format!("greeting: {greeting}"));
                }
                self.send("s1 STARTTLS\r\n").await?;
                for _ in 0..MAX_LINES {
                    let line = self.line().await?;
                    if line.starts_with("s1 ") {
                        return if line.starts_with("s1 OK") { Ok(greeting) } else { Err(format!("STARTTLS: {line}")) };
                    }
                }
                Err("STARTTLS: no tagged reply".into())
            }
            Probe::Pop3 { .. } => {
                let greeting = self.line().await?;
                if !greeting.starts_with("+OK") {
                    return Err(format!("greeting: {greeting}"));
                }
                self.send("STLS\r\n").await?;
                let reply = self.line().await?;
                if !reply.starts_with("+OK") {
                    return Err(format!("STLS: {reply}"));
                }
                Ok(greeting)
            }
            other => Err(format!("{} has no STARTTLS", other.kind())),
        }
    }

    /// The protocol goes on inside TLS: asked again what it offers, then goodbye.
    async fn after_starttls(&mut self, probe: &Probe) -> Result<(), String> {
        match probe {
            Probe::Smtp { .. } => {
                self.send(&format!("EHLO {HELO_NAME}\r\n")).await?;
                let (code, reply) = self.smtp_reply().await?;
                if code != 250 {
                    return Err(format!("EHLO after STARTTLS: {}", reply.join(" / ")));
                }
                let _ = self.send("QUIT\r\n").await;
                Ok(())
            }
            Probe::Imap { .. } => self.capability().await.map(drop),
            Probe::Pop3 { .. } => {
                let _ = self.send("QUIT\r\n").await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let n = self.io.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        // Whatever the peer sends ends up on the admin's terminal: escaped.
        Ok(crate::escape::line(line.trim_end()))
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        self.io.get_mut().write_all(text.as_bytes()).await.map_err(|e| e.to_string())
    }

    /// A whole SMTP/LMTP reply ("250-..." lines up to "250 ..."): its code and lines.
    async fn smtp_reply(&mut self) -> Result<(u16, Vec<String>), String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| format!("not SMTP: {line}"))?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last || lines.len() >= MAX_LINES {
                return Ok((code, lines));
            }
        }
    }

    async fn smtp(&mut self, hello: &str) -> Result<String, String> {
        let (code, banner) = self.smtp_reply().await?;
        if code != 220 {
            return Err(format!("greeting: {}", banner.join(" / ")));
        }
        self.send(&format!("{hello} {HELO_NAME}\r\n")).await?;
        let (code, reply) = self.smtp_reply().await?;
        if code != 250 {
            return Err(format!("{hello}: {}", reply.join(" / ")));
        }
        let _ = self.send("QUIT\r\n").await;
        Ok(format!("{}; {hello} ok", banner[0]))
    }

    async fn imap(&mut self) -> Result<String, String> {
        let greeting = self.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(format!("greeting: {greeting}"));
        }
        self.capability().await
    }

    /// CAPABILITY, then LOGOUT: the capabilities.
    async fn capability(&mut self) -> Result<String, String> {
        self.send("m1 CAPABILITY\r\n").await?;
        let mut caps = String::new();
        for _ in 0..MAX_LINES {
            let line = self.line().await?;
            if let Some(c) = line.strip_prefix("* CAPABILITY ") {
                caps = c.to_string();
            } else if line.starts_with("m1 ") {
                if !line.starts_with("m1 OK") {
                    return Err(format!("CAPABILITY: {line}"));
                }
                let _ = self.send("m2 LOGOUT\r\n").await;
                return Ok(caps);
            }
        }
        Err("CAPABILITY: no tagged reply".into())
    }

    async fn pop3(&mut self) -> Result<String, String> {
        let greeting = self.line().await?;
        if !greeting.starts_with("+OK") {
            return Err(format!("greeting: {greeting}"));
        }
        let _ = self.send("QUIT\r\n").await;
        Ok(greeting)
    }

    async fn http(&mut self, host: &str) -> Result<String, String> {
        self.send(&format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: mailctl-status\r\n\r\n")).await?;
        let status = self.line().await?;
        let code = status.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(c) if status.starts_with("HTTP/") && c < 500 => Ok(status),
            _ => Err(format!("answered: {status}")),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Roundcube renders its login form only when PHP runs and its database answers; a
    /// broken database gives a 500 or an error page without the form.
    async fn webmail(&mut self, host: &str) -> Result<String, String> {
        self.send(&format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: mailctl-status\r\n\r\n")).await?;
        let status = self.line().await?;
        if !status.starts_with("HTTP/") || status.split_whitespace().nth(1) != Some("200") {
            return Err(format!("login page answered: {status}"));
        }
        let mut body = Vec::new();
        let _ = (&mut self.io).take(256 * 1024).read_to_end(&mut body).await;
        if !String::from_utf8_lossy(&body).contains("rcmloginuser") {
            return Err(format!("{status}, but no login form (see the host's php-fpm and Roundcube logs)"));
        }
        Ok(format!("{status}; login form"))
    }

    /// The greeting lists capabilities, one per line, and ends with OK.
    async fn managesieve(&mut self) -> Result<String, String> {
        for _ in 0..64 {
            let line = self.line().await?;
            if line.starts_with("OK") {
                let _ = self.send("LOGOUT\r\n").await;
                return Ok(line);
            }
            if line.starts_with("NO") || line.starts_with("BYE") {
                return Err(format!("greeting: {line}"));
            }
        }
        Err("greeting never ended with OK".into())
    }
}

async fn ldap_root_dse(target: SocketAddr) -> Result<String, String> {
    use ldap3::{LdapConnAsync, Scope, SearchEntry};
    let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{target}")).await.map_err(|e| e.to_string())?;
    ldap3::drive!(conn);
    let (entries, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("rootDSE search: {e}"))?;
    let _ = ldap.unbind().await;
    let contexts: Vec<String> = entries
        .into_iter()
        .flat_map(|e| SearchEntry::construct(e).attrs.remove("namingContexts").unwrap_or_default())
        .collect();
    if contexts.is_empty() {
        return Err("rootDSE lists no namingContexts: the database is not configured".into());
    }
    Ok(format!("namingContexts {}", contexts.join(", ")))
}

async fn dns_soa(target: SocketAddr, zone: &str) -> Result<String, String> {
    let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(target).await.map_err(|e| e.to_string())?;
    let id: u16 = rand::random();
    socket.send(&dns::soa_query(id, zone)?).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        if let Some(answer) = dns::parse_reply(&buf[..n], id) {
            return answer.map(|a| format!("SOA {zone}: {a}"));
        }
    }
}

/// Just enough of RFC 1035 to ask one question and judge the header of the answer.
mod dns {
    pub fn soa_query(id: u16, zone: &str) -> Result<Vec<u8>, String> {
        let mut q = Vec::with_capacity(32 + zone.len());
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // no recursion, one question
        for label in zone.trim_end_matches('.').split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("`{zone}` is not a domain name"));
            }
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&[0, 6, 0, 1]); // SOA, IN
        Ok(q)
    }

    /// None when the datagram is not the reply to `id`; otherwise the verdict.
    pub fn parse_reply(reply: &[u8], id: u16) -> Option<Result<String, String>> {
        if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id || reply[2] & 0x80 == 0 {
            return None;
        }
        let authoritative = reply[2] & 0x04 != 0;
        let rcode = reply[3] & 0x0f;
        let answers = u16::from_be_bytes([reply[6], reply[7]]);
        Some(match (rcode, authoritative, answers) {
            (0, true, n) if n > 0 => Ok("authoritative answer".into()),
            (0, false, _) => Err("answer is not authoritative: the zone is not loaded".into()),
            (0, true, _) => Err("no SOA record in the answer".into()),
            (2, ..) => Err("SERVFAIL: the zone did not load".into()),
            (3, ..) => Err("NXDOMAIN".into()),
            (5, ..) => Err("REFUSED".into()),
            (code, ..) => Err(format!("rcode {code}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_and_reply_headers() {
        let q = dns::soa_query(0x1234, "tgg.net.id").unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0, 0]);
        assert_eq!(&q[12..], b"\x03tgg\x03net\x02id\x00\x00\x06\x00\x01");
        let mut reply = q.clone();
        reply[2] = 0x84; // QR + AA
        reply[7] = 1;
        assert_eq!(dns::parse_reply(&reply, 0x1234), Some(Ok("authoritative answer".into())));
        assert_eq!(dns::parse_reply(&reply, 0x9999), None);
        reply[3] = 5;
        assert_eq!(dns::parse_reply(&reply, 0x1234), Some(Err("REFUSED".into())));
        assert!(dns::soa_query(1, "a..b").is_err());
    }

    /// A one-connection server that plays a script, for the line protocols.
    async fn serve(script: &'static [(&'static str, &'static str)]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut io = BufReader::new(stream);
            for (expect, say) in script {
                if !expect.is_empty() {
                    let mut line = String::new();
                    io.read_line(&mut line).await.unwrap();
                    assert!(line.starts_with(expect), "got {line:?}");
                }
                io.get_mut().write_all(say.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn smtp_reads_multiline_replies() {
        let addr =
            serve(&[("", "220 mx.example ESMTP\r\n"), ("EHLO", "250-mx.example\r\n250-SIZE 1\r\n250 STARTTLS\r\n")])
                .await;
        let r = run(&Probe::Smtp { port: addr.port() }, addr.ip(), Duration::from_secs(2), None).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.detail, "220 mx.example ESMTP; EHLO ok");
    }

    #[tokio::test]
    async fn imap_rejects_a_bad_greeting_and_reads_capabilities() {
        let addr = serve(&[("", "* BYE too busy\r\n")]).await;
        let r = run(&Probe::Imap { port: addr.port() }, addr.ip(), Duration::from_secs(2), None).await;
        assert!(!r.ok && r.detail.contains("BYE"), "{r:?}");
        let addr =
            serve(&[("", "* OK ready\r\n"), ("m1 CAPABILITY", "* CAPABILITY IMAP4rev1 STARTTLS\r\nm1 OK done\r\n")])
                .await;
        let r = run(&Probe::Imap { port: addr.port() }, addr.ip(), Duration::from_secs(2), None).await;
        assert_eq!((r.ok, r.detail.as_str()), (true, "IMAP4rev1 STARTTLS"));
    }

    #[tokio::test]
    async fn silence_times_out_and_refusal_fails() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = run(&Probe::Pop3 { port: addr.port() }, addr.ip(), Duration::from_millis(200), None).await;
        assert!(!r.ok && r.detail.contains("no answer"), "{r:?}");
        drop(listener);
        let r = run(&Probe::Pop3 { port: addr.port() }, addr.ip(), Duration::from_secs(2), None).await;
        assert!(!r.ok && r.detail.to_lowercase().contains("refused"), "{r:?}");
    }

    /// A server with `cert` (PEM, then its key): implicit-TLS IMAP, or SMTP with STARTTLS.
    async fn tls_server(cert: crate::state::HostCert, starttls: bool) -> SocketAddr {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert.cert.as_bytes()).map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut line = String::new();
            if starttls {
                let mut io = BufReader::new(&mut stream);
                io.get_mut().write_all(b"220 mx.example ESMTP\r\n").await.unwrap();
                io.read_line(&mut line).await.unwrap();
                io.get_mut().write_all(b"250-mx.example\r\n250 STARTTLS\r\n").await.unwrap();
                io.read_line(&mut line).await.unwrap();
                io.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
            }
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let mut io = BufReader::new(tls);
            if starttls {
                let _ = io.read_line(&mut line).await;
                let _ = io.get_mut().write_all(b"250 mx.example\r\n").await;
            } else {
                let _ = io.get_mut().write_all(b"* OK ready\r\n").await;
                let _ = io.read_line(&mut line).await;
                let _ = io.get_mut().write_all(b"* CAPABILITY IMAP4rev1\r\nm1 OK done\r\n").await;
            }
            let _ = io.read_line(&mut line).await;
        });
        addr
    }

    const HOST: &str = "mbox-1.example.org";

    /// A cluster CA, a certificate it issued for HOST valid `from`..`until` days from now.
    fn ca_and_cert(from: i64, until: i64, names: &[&str]) -> (crate::state::Pki, crate::state::HostCert) {
        let pki = crate::pki::new_ca("t").unwrap();
        let now = time::OffsetDateTime::now_utc();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = crate::pki::issue_between(
            &pki,
            &names,
            now + time::Duration::days(from),
            now + time::Duration::days(until),
        )
        .unwrap();
        (pki, cert)
    }

    async fn probe_tls(pki: &crate::state::Pki, cert: crate::state::HostCert, mode: TlsMode) -> ProbeResult {
        let starttls = mode == TlsMode::Starttls;
        let addr = tls_server(cert, starttls).await;
        let check =
            TlsCheck::from_pem(&pki.ca_cert, "the cluster CA", vec![HOST.into(), "mail.example.org".into()]).unwrap();
        let probe = if starttls { Probe::Smtp { port: addr.port() } } else { Probe::Imap { port: addr.port() } };
        run(&probe, addr.ip(), Duration::from_secs(5), Some((mode, &check))).await
    }

    #[tokio::test]
    async fn a_certificate_of_the_cluster_ca_is_verified_with_its_days_left() {
        let (pki, cert) = ca_and_cert(-1, 825, &[HOST]);
        let r = probe_tls(&pki, cert, TlsMode::Implicit).await;
        assert!(r.ok, "{r:?}");
        let tls = r.tls.unwrap();
        assert!(tls.verified && tls.problem.is_none(), "{tls:?}");
        assert!((823..=825).contains(&tls.days_left), "{tls:?}");
        assert!(r.warning.is_none() && r.detail.contains("verified"), "{}", r.detail);
    }

    #[tokio::test]
    async fn starttls_upgrades_then_speaks_again_inside() {
        let (pki, cert) = ca_and_cert(-1, 825, &["mail.example.org"]);
        let r = probe_tls(&pki, cert, TlsMode::Starttls).await;
        assert!(r.ok, "{r:?}");
        assert!(r.detail.starts_with("220 mx.example ESMTP; STARTTLS ok; TLSv1.3, verified"), "{}", r.detail);
    }

    #[tokio::test]
    async fn a_certificate_about_to_expire_is_a_warning_and_an_expired_one_a_failure() {
        let (pki, cert) = ca_and_cert(-80, 5, &[HOST]);
        let r = probe_tls(&pki, cert, TlsMode::Implicit).await;
        assert!(r.ok, "{r:?}");
        // Five days less the moments since it was issued: 4 or 5 whole days.
        let w = r.warning.clone().unwrap_or_default();
        assert!(
            w.starts_with("certificate expires in 4 day(s)") || w.starts_with("certificate expires in 5 day(s)"),
            "{r:?}"
        );
        let (pki, cert) = ca_and_cert(-80, -2, &[HOST]);
        let r = probe_tls(&pki, cert, TlsMode::Implicit).await;
        assert!(!r.ok && r.detail.starts_with("certificate expired on"), "{r:?}");
        assert!((-3..=-2).contains(&r.tls.unwrap().days_left), "whole days, rounded down");
    }

    #[tokio::test]
    async fn another_issuer_or_another_name_is_not_trusted() {
        let (pki, _) = ca_and_cert(-1, 825, &[HOST]);
        let (_, stranger) = ca_and_cert(-1, 825, &[HOST]);
        let r = probe_tls(&pki, stranger, TlsMode::Implicit).await;
        assert!(!r.ok && r.detail == "certificate not trusted: not issued by the cluster CA", "{r:?}");
        let (pki, cert) = ca_and_cert(-1, 825, &["other.example.org"]);
        let r = probe_tls(&pki, cert, TlsMode::Implicit).await;
        assert!(!r.ok && r.detail.contains("valid for none of mbox-1.example.org, mail.example.org"), "{r:?}");
    }
}
