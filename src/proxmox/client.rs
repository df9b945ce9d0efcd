//! The Proxmox VE API client: token auth, the cluster's own trust (CA file or pinned
//! certificate), timeouts, retries with backoff, task waiting, and errors that carry
//! Proxmox's own message.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::tls;

/// How the client decides to trust the API's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Only certificates signed by this CA (PEM bundle): Proxmox's cluster CA,
    /// `/etc/pve/pve-root-ca.pem`.
    CaFile(std::path::PathBuf),
    /// Exactly this certificate, by its SHA-256 fingerprint (`pvenode cert info`).
    Fingerprint(String),
    /// The machine's usual web roots (a certificate from a public CA on the node).
    SystemRoots,
    /// No verification at all: only when the user asked for it by name.
    AcceptInvalidCerts,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub trust: Trust,
    /// Bound of one request, connect included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts of a retryable request (5xx, lock timeout, lost connection), first included.
    pub attempts: u32,
    /// The first pause between attempts; it doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            trust: Trust::SystemRoots,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            attempts: 5,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path}: Proxmox answered {status}: {message}")]
    Api { method: Method, path: String, status: u16, message: String },
    #[error("{method} {path}: {message}")]
    Transport { method: Method, path: String, message: String },
    #[error("{method} {path}: unexpected answer: {message}")]
    Shape { method: Method, path: String, message: String },
    #[error("task {upid} failed: {exitstatus}")]
    Task { upid: String, exitstatus: String },
    #[error("task {upid} still running after {seconds} s")]
    TaskTimeout { upid: String, seconds: u64 },
    #[error("Proxmox client setup: {0}")]
    Setup(String),
}

impl ApiError {
    /// What Proxmox itself said (or the transport's reason), without our request prefix.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Api { message, .. }
            | ApiError::Transport { message, .. }
            | ApiError::Shape { message, .. }
            | ApiError::Setup(message) => message,
            ApiError::Task { exitstatus, .. } => exitstatus,
            ApiError::TaskTimeout { .. } => "task timed out",
        }
    }

    /// `can't lock file '/var/lock/qemu-server/lock-N.conf' - got timeout`, from a request
    /// or from a task: another operation holds the VM, trying again later helps.
    pub fn is_lock_timeout(&self) -> bool {
        let m = self.message();
        m.contains("can't lock file") || m.contains("got timeout") || m.contains("VM is locked")
    }

    /// Worth another attempt: a server error, a lock, or a connection that broke.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Api { status, .. } => *status >= 500 && *status != 501,
            ApiError::Transport { .. } => true,
            ApiError::Task { .. } => self.is_lock_timeout(),
            _ => false,
        }
    }

    pub fn is_status(&self, wanted: u16) -> bool {
        matches!(self, ApiError::Api { status, .. } if *status == wanted)
    }
}

/// Whether a failed request may be sent again as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes whose repetition changes nothing (set config, absolute resize).
    Idempotent,
    /// Writes a repetition could double (clone): the caller looks before trying again.
    Once,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
    opts: ClientOptions,
}

impl Client {
    /// `api_url` ends in `/api2/json`; `token_id` is `user@realm!name`.
    pub fn new(api_url: &str, token_id: &str, secret: &str, opts: ClientOptions) -> Result<Client, ApiError> {
        let mut auth = HeaderValue::from_str(&format!("PVEAPIToken={token_id}={secret}"))
            .map_err(|_| ApiError::Setup("the token id or secret holds characters a header cannot carry".into()))?;
        // Sensitive values are never printed by the HTTP stack's debug output.
        auth.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("mailctl/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        builder = match &opts.trust {
            Trust::CaFile(path) => builder.tls_certs_only(read_ca(path)?),
            Trust::Fingerprint(fp) => {
                builder.tls_backend_preconfigured(tls::pinned_config(fp).map_err(ApiError::Setup)?)
            }
            Trust::SystemRoots => builder,
            Trust::AcceptInvalidCerts => builder.tls_danger_accept_invalid_certs(true),
        };
        let http = builder.build().map_err(|e| ApiError::Setup(chain(&e)))?;
        Ok(Client { http, base: api_url.trim_end_matches('/').to_string(), auth, opts })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call(Method::GET, path, query, Retry::Idempotent).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, String)], retry: Retry) -> Result<Value, ApiError> {
        self.call(Method::POST, path, form, retry).await
    }

    pub async fn put(&self, path: &str, form: &[(&str, String)], retry: Retry) -> Result<Value, ApiError> {
        self.call(Method::PUT, path, form, retry).await
    }

    pub async fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call(Method::DELETE, path, query, Retry::Once).await
    }

    /// One API call; `data` of the answer. Retryable failures of an idempotent call are
    /// tried again with a doubling pause.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        retry: Retry,
    ) -> Result<Value, ApiError> {
        let mut pause = self.opts.backoff;
        let mut attempt = 1;
        loop {
            match self.send(&method, path, params).await {
                Err(e) if retry == Retry::Idempotent && e.is_retryable() && attempt < self.opts.attempts => {
                    tracing::info!("{e}; attempt {} of {} in {:?}", attempt + 1, self.opts.attempts, pause);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.opts.max_backoff);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send(&self, method: &Method, path: &str, params: &[(&str, String)]) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).header(AUTHORIZATION, self.auth.clone());
        request =
            if matches!(*method, Method::GET | Method::DELETE) { request.query(params) } else { request.form(params) };
        tracing::debug!("{method} {path}");
        let transport = |message: String| ApiError::Transport { method: method.clone(), path: path.into(), message };
        let response = request.send().await.map_err(|e| transport(chain(&e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport(chain(&e)))?;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(ApiError::Api {
                method: method.clone(),
                path: path.into(),
                status: status.as_u16(),
                message: error_message(status, parsed.as_ref()),
            });
        }
        match parsed {
            Some(mut v) => Ok(v.get_mut("data").map(Value::take).unwrap_or(Value::Null)),
            None => Err(ApiError::Shape {
                method: method.clone(),
                path: path.into(),
                message: "the body is not JSON".into(),
            }),
        }
    }

    /// Waits until task `upid` on `node` stops; its exit status must be `OK`.
    pub async fn wait_task(&self, node: &str, upid: &str, timeout: Duration) -> Result<(), ApiError> {
        let path = format!("/nodes/{}/tasks/{}/status", urlencoding::encode(node), urlencoding::encode(upid));
        let started = Instant::now();
        // Short tasks (config, start) end in well under a second; long ones (a full clone)
        // are polled less and less often, at most every 2 s.
        let mut pause = Duration::from_millis(50);
        loop {
            let status = self.get(&path, &[]).await?;
            if status["status"] == "stopped" {
                let exit = status["exitstatus"].as_str().unwrap_or("unknown").to_string();
                return if exit == "OK" || exit.starts_with("WARNINGS") {
                    Ok(())
                } else {
                    Err(ApiError::Task { upid: upid.into(), exitstatus: exit })
                };
            }
            if started.elapsed() > timeout {
                return Err(ApiError::TaskTimeout { upid: upid.into(), seconds: timeout.as_secs() });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_secs(2));
        }
    }

    /// Runs a call that may answer with a task id, and waits for that task.
    pub async fn call_and_wait(
        &self,
        method: Method,
        node: &str,
        path: &str,
        params: &[(&str, String)],
        retry: Retry,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        match self.call(method, path, params, retry).await? {
            Value::String(upid) if upid.starts_with("UPID:") => self.wait_task(node, &upid, timeout).await,
            _ => Ok(()),
        }
    }
}

/// Proxmox puts the reason in `message` (and the status line); parameter errors in `errors`.
fn error_message(status: StatusCode, body: Option<&Value>) -> String {
    let mut parts = Vec::new();
    if let Some(m) = body.and_then(|b| b["message"].as_str()) {
        parts.push(m.trim().to_string());
    }
    if let Some(errors) = body.and_then(|b| b["errors"].as_object()) {
        parts.extend(errors.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(&v.to_string()).trim())));
    }
    if parts.is_empty() {
        parts.push(status.canonical_reason().unwrap_or("error").to_string());
    }
    if status == StatusCode::UNAUTHORIZED {
        parts.push("(check token_id and token_secret, and that the token is not expired)".into());
    }
    parts.join("; ")
}

/// An error with its causes, which is where reqwest keeps the TLS or connect reason.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text += &format!(": {next}");
        }
        source = s.source();
    }
    text
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, ApiError> {
    let pem = std::fs::read(path).map_err(|e| ApiError::Setup(format!("reading CA file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| ApiError::Setup(format!("CA file {}: {}", path.display(), chain(&e))))?;
    if certs.is_empty() {
        return Err(ApiError::Setup(format!("CA file {} holds no certificate", path.display())));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_messages_are_kept() {
        let body = serde_json::json!({"data": null, "message": "VM 181 already running\n"});
        assert_eq!(error_message(StatusCode::INTERNAL_SERVER_ERROR, Some(&body)), "VM 181 already running");
        let body = serde_json::json!({"data": null, "errors": {"newid": "VM 181 already exists"}});
        assert_eq!(error_message(StatusCode::BAD_REQUEST, Some(&body)), "newid: VM 181 already exists");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, None), "Bad Gateway");
    }

    #[test]
    fn lock_timeouts_are_retried() {
        let lock = ApiError::Api {
            method: Method::POST,
            path: "/x".into(),
            status: 500,
            message: "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout".into(),
        };
        assert!(lock.is_lock_timeout() && lock.is_retryable());
        let task = ApiError::Task { upid: "UPID:x".into(), exitstatus: lock.message().into() };
        assert!(task.is_retryable());
        let bad = ApiError::Api { method: Method::POST, path: "/x".into(), status: 400, message: "no".into() };
        assert!(!bad.is_retryable());
        let failed = ApiError::Task { upid: "UPID:x".into(), exitstatus: "storage full".into() };
        assert!(!failed.is_retryable());
    }
}
