//! Protocol probes from the admin machine: each speaks just enough of its protocol to know
//! the service answers as it should (a greeting, a capability list, an authoritative SOA),
//! then says goodbye. Every probe is bounded by one timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

use super::services::Probe;

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
}

/// The name we give in EHLO/LHLO: reserved, so it can never be mistaken for a real client.
const HELO_NAME: &str = "mailctl-status.invalid";
/// Longest greeting or reply we read before calling the peer broken.
const MAX_LINES: usize = 64;

pub async fn run(probe: &Probe, address: IpAddr, timeout: Duration) -> ProbeResult {
    let target = SocketAddr::new(address, probe.port());
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, speak(probe, target)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    };
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
    let (ok, detail) = match outcome {
        Ok(d) => (true, d),
        Err(e) => (false, e),
    };
    ProbeResult { kind: probe.kind(), target: target.to_string(), ok, latency_ms, detail }
}

async fn speak(probe: &Probe, target: SocketAddr) -> Result<String, String> {
    match probe {
        Probe::Ldap => ldap_root_dse(target).await,
        Probe::Dns { zone } => dns_soa(target, zone).await,
        _ => {
            let stream = TcpStream::connect(target).await.map_err(|e| e.to_string())?;
            let mut conn = Conn { io: BufReader::new(stream) };
            match probe {
                Probe::Smtp { .. } => conn.smtp("EHLO").await,
                Probe::Lmtp { .. } => conn.smtp("LHLO").await,
                Probe::Imap { .. } => conn.imap().await,
                Probe::Pop3 { .. } => conn.pop3().await,
                Probe::Http { host_header, .. } => conn.http(host_header).await,
                // `status` judges sshd by its own session; alone, a probe can only see the port.
                Probe::Ssh { port } | Probe::Tcp { port } => Ok(format!("port {port} accepts connections")),
                Probe::Ldap | Probe::Dns { .. } => unreachable!("handled above"),
            }
        }
    }
}

struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
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
        let r = run(&Probe::Smtp { port: addr.port() }, addr.ip(), Duration::from_secs(2)).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.detail, "220 mx.example ESMTP; EHLO ok");
    }

    #[tokio::test]
    async fn imap_rejects_a_bad_greeting_and_reads_capabilities() {
        let addr = serve(&[("", "* BYE too busy\r\n")]).await;
        let r = run(&Probe::Imap { port: addr.port() }, addr.ip(), Duration::from_secs(2)).await;
        assert!(!r.ok && r.detail.contains("BYE"), "{r:?}");
        let addr =
            serve(&[("", "* OK ready\r\n"), ("m1 CAPABILITY", "* CAPABILITY IMAP4rev1 STARTTLS\r\nm1 OK done\r\n")])
                .await;
        let r = run(&Probe::Imap { port: addr.port() }, addr.ip(), Duration::from_secs(2)).await;
        assert_eq!((r.ok, r.detail.as_str()), (true, "IMAP4rev1 STARTTLS"));
    }

    #[tokio::test]
    async fn silence_times_out_and_refusal_fails() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = run(&Probe::Pop3 { port: addr.port() }, addr.ip(), Duration::from_millis(200)).await;
        assert!(!r.ok && r.detail.contains("no answer"), "{r:?}");
        drop(listener);
        let r = run(&Probe::Pop3 { port: addr.port() }, addr.ip(), Duration::from_secs(2)).await;
        assert!(!r.ok && r.detail.to_lowercase().contains("refused"), "{r:?}");
    }
}
