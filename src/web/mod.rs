//! The web workspace, served by `ladder serve` on the gRPC port itself.
//!
//! One tower layer in front of the gRPC routes looks at each request: one
//! whose content type is `application/grpc…` goes on to the services
//! untouched; any other request is the browser's:
//!
//! | path | what |
//! |---|---|
//! | `GET /`, `GET /assets/…` | the page and its files, embedded in the binary (`web/`) |
//! | `POST /api/ladder.v1.{Service}/{Method}` | the JSON mapping of a unary RPC ([`gateway`]) |
//! | `POST /web/import?source=…&dry_run=…&full=…` | a CSV/XLSX file sent as a sync run |
//! | `POST /web/map.svg` | the supply–demand map drawn as the CLI draws it |
//! | `POST /web/export.xlsx` | a table the page shows, as a workbook typed like the CLI's |
//!
//! Every `POST` goes through the gRPC services in process with the caller's
//! own token, so the server stays the only guard. The page keeps the token
//! in `sessionStorage` and sends it as `authorization: Bearer …`; it is never
//! in a URL, and nothing here logs headers. Against other sites' pages
//! (CSRF) and DNS rebinding: a `POST` must carry `x-ladder-client: web` (a
//! header no cross-site form can send without a CORS preflight, which is
//! never granted), its `Origin`, if any, must be this server, and a server
//! without tokens answers only to a loopback `Host`. Every response carries a
//! strict Content-Security-Policy (no inline script or style), frame denial,
//! `nosniff` and `no-referrer`.

pub mod gateway;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use prost::Message as _;
use sha2::Digest as _;
use tonic::Status;

use crate::error::Error;
use crate::pb::v1;
use gateway::{Gateway, Inner};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Largest file the upload takes (an Excel sheet of a million rows is less).
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;
/// The embedded files by name, each with its ETag (hashed once, at the
/// first request for a file).
fn embedded() -> &'static std::collections::HashMap<&'static str, (&'static [u8], String)> {
    static FILES: std::sync::OnceLock<std::collections::HashMap<&'static str, (&'static [u8], String)>> =
        std::sync::OnceLock::new();
    FILES.get_or_init(|| assets::ASSETS.iter().map(|(name, bytes)| (*name, (*bytes, etag(bytes)))).collect())
}

/// A file's ETag: the start of its SHA-256.
fn etag(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    format!("\"{}\"", digest[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Largest table the page may ask to have written as a workbook.
pub const MAX_EXPORT_BYTES: usize = 64 << 20;
/// Most rows of one exported table (Excel's own limit, less the header).
pub const MAX_EXPORT_ROWS: usize = (1 << 20) - 1;
/// Uploads and workbook downloads served at once (each may hold a large
/// file in memory while it is read or written); one more is refused.
pub const MAX_HEAVY_REQUESTS: usize = 2;
/// The header a page's `POST` must carry.
pub const CLIENT_HEADER: &str = "x-ladder-client";

/// Content-Security-Policy of every web response.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The layer that serves the web workspace beside the gRPC services.
#[derive(Clone)]
pub struct Web {
    shared: Arc<Shared>,
}

struct Shared {
    gateway: Gateway,
    /// Checks the caller before a body is read (the services check again).
    auth: crate::auth::Authenticator,
    /// Counts the page's requests, so shutdown waits for them too.
    in_flight: crate::requests::InFlight,
    /// Serve the files from this folder instead of the embedded copies
    /// (`LADDER_WEB_DIR`, for working on the page without rebuilding).
    dir: Option<PathBuf>,
    /// Slots of [`MAX_HEAVY_REQUESTS`].
    heavy: tokio::sync::Semaphore,
    /// Callers holding a slot (one each).
    heavy_callers: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Web {
    /// The workspace for a server whose messages are at most
    /// `max_message_bytes`, checking callers with `auth` and counting its
    /// requests in `in_flight`.
    pub fn new(
        max_message_bytes: usize,
        auth: crate::auth::Authenticator,
        in_flight: crate::requests::InFlight,
    ) -> anyhow::Result<Self> {
        let dir = std::env::var_os("LADDER_WEB_DIR").map(PathBuf::from);
        if let Some(dir) = &dir {
            tracing::warn!(dir = %dir.display(), "LADDER_WEB_DIR: serving the web workspace's files from disk");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                gateway: Gateway::new(max_message_bytes)?,
                auth,
                in_flight,
                dir,
                heavy: tokio::sync::Semaphore::new(MAX_HEAVY_REQUESTS),
                heavy_callers: std::sync::Mutex::default(),
            }),
        })
    }
}

impl<S> tower_layer::Layer<S> for Web {
    type Service = WebService<S>;

    fn layer(&self, inner: S) -> WebService<S> {
        WebService { inner, shared: Arc::clone(&self.shared) }
    }
}

/// The gRPC routes with the web workspace in front.
#[derive(Clone)]
pub struct WebService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type Response = http::Response<tonic::body::Body>;

impl<S> tower_service::Service<http::Request<tonic::body::Body>> for WebService<S>
where
    S: Inner + Clone + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        if grpc && request.version() >= http::Version::HTTP_2 {
            return Box::pin(self.inner.call(request));
        }
        // The ready service serves this request; a clone waits for the next.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        let shared = Arc::clone(&self.shared);
        let counted = shared.in_flight.enter();
        let busy = crate::requests::busy_of(request.extensions());
        Box::pin(async move {
            // gRPC needs HTTP/2: over HTTP/1.1 it could only be a browser
            // page's fetch, which must not reach the services unguarded.
            let mut response = if grpc {
                text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "gRPC is served over HTTP/2 only")
            } else {
                shared.handle(inner, request).await
            };
            secure(response.headers_mut());
            drop(counted);
            let (parts, body) = response.into_parts();
            Ok(http::Response::from_parts(parts, crate::requests::holding(body, busy)))
        })
    }
}

impl Shared {
    async fn handle<S: Inner>(&self, inner: S, request: http::Request<tonic::body::Body>) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        if method == Method::GET || method == Method::HEAD {
            let file = match path.as_str() {
                "/" | "/index.html" => Some("index.html"),
                p => p.strip_prefix("/assets/"),
            };
            return match file {
                Some(file) => self.asset(file, &parts, method == Method::HEAD).await,
                None => text(StatusCode::NOT_FOUND, "not found: the workspace is at /"),
            };
        }
        if method != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use GET for pages and POST for calls");
        }
        let caller = match self.guard(&parts) {
            Ok(caller) => caller,
            Err(status) => {
                tracing::info!(%path, reason = %gateway::error_json(&status)["reason"], "web request refused");
                return error(&status);
            }
        };
        let heavy = path == "/web/import" || path == "/web/export.xlsx";
        if path == "/web/import" {
            if let Err(e) = crate::auth::permit(&caller, crate::auth::Permission::Sync) {
                return error(&e.into());
            }
        }
        let _slot = if heavy {
            match self.take_slot(&caller.name) {
                Ok(slot) => Some(slot),
                Err(status) => return error(&status),
            }
        } else {
            None
        };
        let (limit, deadline) = if path == "/web/import" {
            (MAX_UPLOAD_BYTES, HEAVY_BODY_DEADLINE)
        } else if heavy {
            (MAX_EXPORT_BYTES, HEAVY_BODY_DEADLINE)
        } else {
            // A JSON body is larger than its protobuf: allow some room.
            (self.gateway.max_bytes().saturating_mul(2), BODY_DEADLINE)
        };
        let body = match read_body(body, limit, deadline).await {
            Ok(b) => b,
            Err((status, http)) => return error_as(&status, http),
        };
        let result = match path.as_str() {
            p if p.starts_with("/api/") => {
                self.gateway.unary(inner, &p[4..], &parts, body).await.map(|json| ok(json, "application/json"))
            }
            "/web/import" => self.import(inner, &parts, body).await,
            "/web/map.svg" => self.map(inner, &parts, body).await,
            "/web/export.xlsx" => tokio::task::spawn_blocking(move || export(&body))
                .await
                .unwrap_or_else(|_| Err(Status::internal("the workbook could not be written"))),
            _ => Err(Error::NotFound { resource: path.clone() }.into()),
        };
        result.unwrap_or_else(|status| error(&status))
    }

    /// Refuses requests another site's page could make in the user's name,
    /// then authenticates the caller, all before any body is read.
    fn guard(&self, parts: &http::request::Parts) -> Result<crate::auth::Caller, Status> {
        let host =
            parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(parts.uri.authority().map(|a| a.as_str()));
        if parts.headers.get(CLIENT_HEADER).is_none_or(|v| v != "web") {
            return Err(Error::PermissionDenied {
                reason: "MISSING_CLIENT_HEADER",
                message: format!(
                    "calls to the web workspace's endpoints carry `{CLIENT_HEADER}: web` (gRPC clients call the services directly)"
                ),
            }
            .into());
        }
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let same =
                host.is_some_and(|h| origin.strip_prefix("http://").or(origin.strip_prefix("https://")) == Some(h));
            if !same {
                return Err(Error::PermissionDenied {
                    reason: "CROSS_ORIGIN",
                    message: format!("a page from {origin:?} may not call this server"),
                }
                .into());
            }
        }
        if self.auth.open() && !host.is_some_and(is_loopback_host) {
            return Err(Error::PermissionDenied {
                reason: "HOST_NOT_LOOPBACK",
                message: "this server has no tokens and answers the web workspace only at a loopback address \
                          (http://127.0.0.1:PORT or http://localhost:PORT)"
                    .into(),
            }
            .into());
        }
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        Ok(self.auth.authenticate(authorization)?)
    }

    /// One of the [`MAX_HEAVY_REQUESTS`] slots, at most one per caller.
    fn take_slot(&self, caller: &str) -> Result<Slot<'_>, Status> {
        let busy = || {
            Status::from(Error::ResourceExhausted {
                reason: "TOO_MANY_UPLOADS",
                message: format!(
                    "an upload or workbook download of yours is running, or {MAX_HEAVY_REQUESTS} are: \
                     try again when it is done"
                ),
            })
        };
        let mut callers = self.heavy_callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.contains(caller) {
            return Err(busy());
        }
        let permit = self.heavy.try_acquire().map_err(|_| busy())?;
        callers.insert(caller.to_string());
        Ok(Slot { _permit: permit, caller: caller.to_string(), callers: &self.heavy_callers })
    }

    async fn asset(&self, file: &str, parts: &http::request::Parts, head: bool) -> Response {
        let found: Option<(Bytes, String)> = match &self.dir {
            Some(dir) if !file.split('/').any(|c| c == ".." || c.is_empty()) => {
                // Development only (LADDER_WEB_DIR): a plain read is fine.
                std::fs::read(dir.join(file)).ok().map(|b| {
                    let tag = etag(&b);
                    (Bytes::from(b), tag)
                })
            }
            Some(_) => None,
            None => embedded().get(file).map(|(b, tag)| (Bytes::from_static(b), tag.clone())),
        };
        let Some((bytes, tag)) = found else { return text(StatusCode::NOT_FOUND, "no such file") };
        let tag = HeaderValue::from_str(&tag).expect("hex");
        // Revalidated on every load: the tag is the content's hash.
        if parts.headers.get(header::IF_NONE_MATCH) == Some(&tag) {
            let mut r = http::Response::new(tonic::body::Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r.headers_mut().insert(header::ETAG, tag);
            return r;
        }
        let mut r = ok(if head { Bytes::new() } else { bytes }, content_type(file));
        r.headers_mut().insert(header::ETAG, tag);
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    }

    /// `POST /web/import`: the file read as `ladder sync FILE` reads it, sent
    /// as one SyncEnterprises stream; answers the run (JSON).
    async fn import<S: Inner>(&self, inner: S, parts: &http::request::Parts, body: Bytes) -> Result<Response, Status> {
        let query = query(parts.uri.query().unwrap_or(""));
        let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let flag = |k: &str| get(k).is_some_and(|v| v == "true" || v == "1");
        let source = get("source").unwrap_or("").to_string();
        let file = tokio::task::spawn_blocking(move || crate::cli::sync::SyncFile::read(body.to_vec()))
            .await
            .map_err(|_| Status::internal("the file could not be read"))?
            .map_err(|e| {
                Status::from(Error::invalid_field("file", "UNREADABLE_FILE", format!("the file cannot be synced: {e}")))
            })?;
        let mode = if flag("full") { v1::SyncMode::Full } else { v1::SyncMode::Upsert } as i32;
        let header = v1::SyncEnterprisesRequest {
            message: Some(v1::sync_enterprises_request::Message::Header(v1::SyncHeader {
                source,
                mode,
                dry_run: flag("dry_run"),
            })),
        };
        let mut stream = bytes::BytesMut::new();
        stream.extend_from_slice(&gateway::frame(&header.encode_to_vec()));
        for row in file.rows() {
            let message = v1::SyncEnterprisesRequest { message: Some(v1::sync_enterprises_request::Message::Row(row)) };
            stream.extend_from_slice(&gateway::frame(&message.encode_to_vec()));
        }
        let payload =
            self.gateway.call(inner, "/ladder.v1.SyncService/SyncEnterprises", parts, stream.freeze()).await?;
        // The run as the JSON mapping writes it, wrapped as it is.
        let run = self.gateway.json_of("ladder.v1.SyncRun", payload)?;
        let answer = format!(
            r#"{{"run":{},"encoding":{},"rows":{}}}"#,
            String::from_utf8_lossy(&run),
            serde_json::Value::from(file.encoding),
            file.records.len() - 1
        );
        Ok(ok(Bytes::from(answer), "application/json"))
    }

    /// `POST /web/map.svg`: GetSupplyDemandMap (JSON request) drawn as SVG.
    async fn map<S: Inner>(&self, inner: S, parts: &http::request::Parts, body: Bytes) -> Result<Response, Status> {
        let path = "/ladder.v1.SupplyDemandService/GetSupplyDemandMap";
        let request = self.gateway.request(path, &body)?;
        let payload = self.gateway.call(inner, path, parts, gateway::frame(&request)).await?;
        let map = v1::SupplyDemandMap::decode(payload).map_err(|e| Status::internal(e.to_string()))?;
        Ok(ok(Bytes::from(crate::cli::map::to_svg(&map, "供需图谱")), "image/svg+xml; charset=utf-8"))
    }
}

/// `POST /web/export.xlsx`: `{"title": …, "columns": [...], "rows": [[...]]}`
/// written as a workbook the way `--xlsx` writes CLI tables.
fn export(body: &Bytes) -> Result<Response, Status> {
    #[derive(serde::Deserialize)]
    struct Table {
        title: String,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    }
    let table: Table = serde_json::from_slice(body).map_err(|e| {
        Status::from(Error::InvalidArgument {
            reason: "UNDECODABLE_REQUEST",
            message: format!("the export is not {{title, columns, rows}}: {e}"),
            violations: Vec::new(),
        })
    })?;
    if table.rows.len() > MAX_EXPORT_ROWS || table.columns.len() > 200 || table.columns.is_empty() {
        return Err(Error::invalid_field(
            "rows",
            "TOO_MANY",
            format!("an export has 1–200 columns and at most {MAX_EXPORT_ROWS} rows"),
        )
        .into());
    }
    let header: Vec<&str> = table.columns.iter().map(String::as_str).collect();
    let source = format!("ladder 网页工作台：{}", table.title.chars().take(200).collect::<String>());
    let bytes =
        crate::cli::export::workbook_bytes(&table.title, &source, &header, &table.rows).map_err(Status::internal)?;
    let mut r = ok(Bytes::from(bytes), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    r.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"ladder.xlsx\""));
    Ok(r)
}

/// A held upload/download slot; frees it (and its caller) on drop.
struct Slot<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    caller: String,
    callers: &'a std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.caller);
    }
}

/// How long a request body may send nothing before the request is dropped
/// (a half-sent upload must not hold its slot).
pub const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest a JSON body may take to arrive.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest an upload (or a table to write) may take to arrive: 64 MiB
/// at about 110 KB/s.
pub const HEAVY_BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Reads a request body of at most `limit` bytes, each part within
/// [`BODY_IDLE`] and the whole within `deadline`; an error comes with the
/// HTTP status it is answered with (413 too large, 408 too slow).
async fn read_body(
    mut body: tonic::body::Body,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, (Status, StatusCode)> {
    let until = tokio::time::Instant::now() + deadline;
    let mut out = bytes::BytesMut::new();
    loop {
        let wait = tokio::time::timeout_at(until.min(tokio::time::Instant::now() + BODY_IDLE), body.frame());
        let frame = match wait.await {
            Err(_) => {
                let message = format!(
                    "the request body did not arrive in time (nothing for {}s, or more than {}s in all)",
                    BODY_IDLE.as_secs(),
                    deadline.as_secs()
                );
                return Err((crate::requests::timed_out(message), StatusCode::REQUEST_TIMEOUT));
            }
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "web request body failed");
                let status = Status::cancelled("the request body was not received whole");
                return Err((status, StatusCode::BAD_REQUEST));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                let status = Error::ResourceExhausted {
                    reason: "REQUEST_TOO_LARGE",
                    message: format!("the request is larger than {limit} bytes"),
                };
                return Err((status.into(), StatusCode::PAYLOAD_TOO_LARGE));
            }
            out.extend_from_slice(&data);
        }
    }
}

/// `Host` names that reach only this machine.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Splits a query string into decoded pairs.
fn query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn ok(body: Bytes, content_type: &'static str) -> Response {
    let mut r = http::Response::new(tonic::body::Body::new(http_body_util::Full::new(body)));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, message: &'static str) -> Response {
    let mut r = ok(Bytes::from_static(message.as_bytes()), "text/plain; charset=utf-8");
    *r.status_mut() = status;
    r
}

fn error(status: &Status) -> Response {
    error_as(status, gateway::http_status(status.code()))
}

fn error_as(status: &Status, http: StatusCode) -> Response {
    let mut r = ok(Bytes::from(gateway::error_json(status).to_string()), "application/json");
    *r.status_mut() = http;
    r
}

/// The security headers of every web response.
fn secure(headers: &mut http::HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost:50051", "127.0.0.1:8080", "[::1]:50051", "127.0.0.2", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example:50051", "10.0.0.5:50051", "[2001:db8::1]:1", "localhost.evil.example"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn queries_are_decoded() {
        let q = query("source=%E8%B4%A2%E6%94%BF&dry_run=true&x=a+b&bad=%zz");
        assert_eq!(q[0], ("source".into(), "财政".into()));
        assert_eq!(q[1], ("dry_run".into(), "true".into()));
        assert_eq!(q[2].1, "a b");
        assert_eq!(q[3].1, "%zz");
    }

    #[test]
    fn the_page_and_its_files_are_embedded() {
        let names: Vec<&str> = assets::ASSETS.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"index.html"), "{names:?}");
        assert!(names.contains(&"app.js"), "{names:?}");
        let index = assets::ASSETS.iter().find(|(n, _)| *n == "index.html").unwrap().1;
        let index = std::str::from_utf8(index).unwrap();
        assert!(!index.contains("<script>") && !index.contains(" style="), "no inline script or style");
    }
}
