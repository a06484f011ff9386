//! Request accounting, as one tower layer around every service:
//!
//! - counts the requests being served, so that shutdown can wait for exactly
//!   those (not for idle client connections, which may stay open for minutes);
//! - writes one structured log line per request: method, gRPC status and
//!   latency (`debug` for OK, `info` for client errors, `warn` for server
//!   errors), so `LADDER_LOG=ladder=debug` shows every call;
//! - ends unary calls that exceed the request time limit (streams and bulk reverts are exempt);
//! - on a store shared with other servers (PostgreSQL), first brings this
//!   server's indexes up to every commit made so far ([`crate::store::Store::refresh`]),
//!   so a read through any server sees every write acknowledged before it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;

/// Methods that stream for as long as their client needs, or do bulk work
/// that grows with the data (a revert of a large run): the request timeout
/// does not apply to them.
pub const LONG_RUNNING_METHODS: &[&str] = &[
    "/ladder.v1.SyncService/SyncEnterprises",
    "/ladder.v1.SyncService/RevertSyncRun",
    "/ladder.v1.ChangeService/WatchChanges",
    "/ladder.v1.AdminService/Backup",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.health.v1.Health/Watch",
];

/// Shared count of requests in flight, and the time limit of unary calls.
#[derive(Clone)]
pub struct InFlight {
    count: watch::Sender<usize>,
    timeout: Option<Duration>,
    /// The store to refresh before each `ladder.v1` call (a shared store).
    refresh: Option<crate::store::Store>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self { count: watch::Sender::new(0), timeout: None, refresh: None }
    }
}

impl InFlight {
    /// Counts requests and ends unary calls running longer than `timeout`
    /// with DEADLINE_EXCEEDED.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout: Some(timeout), ..Self::default() }
    }

    /// Refreshes `store` before each `ladder.v1` call when other servers
    /// may write to it too (PostgreSQL).
    pub fn refreshing(mut self, store: &crate::store::Store) -> Self {
        self.refresh = store.shared().then(|| store.clone());
        self
    }

    fn limit_for(&self, method: &str) -> Option<Duration> {
        self.timeout.filter(|_| !LONG_RUNNING_METHODS.iter().any(|m| method.starts_with(m)))
    }

    /// Requests being served right now.
    pub fn current(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until no request is in flight, at most `grace`; returns whether
    /// every request finished.
    pub async fn drained(&self, grace: Duration) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(grace, rx.wait_for(|n| *n == 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// Counts one request until the guard drops (the web workspace's own
    /// requests, which do not pass through [`Counted`]).
    pub fn enter(&self) -> Guard {
        self.count.send_modify(|n| *n += 1);
        Guard(self.count.clone())
    }
}

/// Decrements the count when the request is done (or dropped).
pub struct Guard(watch::Sender<usize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl<S> tower_layer::Layer<S> for InFlight {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, in_flight: self.clone() }
    }
}

/// A service whose calls are counted in an [`InFlight`].
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    in_flight: InFlight,
}

/// Client-streaming methods, whose request bodies are read ahead.
pub const CLIENT_STREAMING_METHODS: &[&str] = &["/ladder.v1.SyncService/SyncEnterprises"];

/// Most bytes a read-ahead gathers into one chunk.
pub const READ_AHEAD_CHUNK: usize = 64 * 1024;
/// Chunks a read-ahead may hold for its handler (so at most 1 MiB per stream
/// beyond HTTP/2 flow control).
pub const READ_AHEAD_CHUNKS: usize = 16;

impl<S> tower_service::Service<http::Request<tonic::body::Body>> for Counted<S>
where
    S: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let guard = self.in_flight.enter();
        let busy = busy_of(request.extensions());
        let method = request.uri().path().to_string();
        let request =
            if CLIENT_STREAMING_METHODS.contains(&method.as_str()) { request.map(read_ahead) } else { request };
        let started = std::time::Instant::now();
        let limit = self.in_flight.limit_for(&method);
        let refresh = self.in_flight.refresh.clone().filter(|_| method.starts_with("/ladder.v1."));
        let response = self.inner.call(request);
        Box::pin(async move {
            if let Some(store) = refresh {
                if let Err(e) = store.refresh().await {
                    drop(guard);
                    return Ok(tonic::Status::from(e).into_http());
                }
            }
            let result = match limit {
                None => response.await,
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(result) => result,
                    Err(_) => Ok(deadline_exceeded(limit).into_http()),
                },
            };
            drop(guard);
            let result = result.map(|response: http::Response<tonic::body::Body>| {
                let (mut parts, body) = response.into_parts();
                rewrite_status(&mut parts.headers);
                let body = tonic::body::Body::new(Holding { body, _busy: busy });
                http::Response::from_parts(parts, body)
            });
            let elapsed = started.elapsed();
            let micros = elapsed.as_micros();
            let code = match &result {
                Ok(response) => tonic::Code::from(grpc_status(response)),
                Err(_) => tonic::Code::Unavailable,
            };
            crate::metrics::observe_call(&method, code, elapsed);
            match &result {
                // Errors travel as trailers-only responses (grpc-status in
                // the headers); a successful unary call has it in trailers.
                Ok(response) => match grpc_status(response) {
                    0 => tracing::debug!(%method, status = ?tonic::Code::Ok, micros, "rpc"),
                    code @ (2 | 4 | 8 | 13 | 14 | 15) => {
                        tracing::warn!(%method, status = ?tonic::Code::from(code), micros, "rpc")
                    }
                    code => tracing::info!(%method, status = ?tonic::Code::from(code), micros, "rpc"),
                },
                Err(_) => tracing::warn!(%method, micros, "rpc failed in transport"),
            }
            result
        })
    }
}

/// Marks the request's connection busy (so its idle timer stops) until the
/// returned value drops.
pub fn busy_of(extensions: &http::Extensions) -> Option<crate::connections::Busy> {
    extensions
        .get::<crate::connections::ConnectionInfo>()
        .or_else(|| {
            // Over TLS the connection's info is wrapped in the TLS one.
            extensions
                .get::<tonic::transport::server::TlsConnectInfo<crate::connections::ConnectionInfo>>()
                .map(|tls| tls.get_ref())
        })
        .map(|c| c.busy())
}

/// A response body that keeps its connection busy (`busy`) until it ends.
pub fn holding(body: tonic::body::Body, busy: Option<crate::connections::Busy>) -> tonic::body::Body {
    tonic::body::Body::new(Holding { body, _busy: busy })
}

/// A response body that keeps its connection marked busy until it ends,
/// and corrects the status in its trailers like the headers'.
struct Holding {
    body: tonic::body::Body,
    _busy: Option<crate::connections::Busy>,
}

impl http_body::Body for Holding {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame.map(|frame| match frame.into_trailers() {
                    Ok(mut trailers) => {
                        rewrite_status(&mut trailers);
                        http_body::Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The status ladder gives a failure tonic reports itself, before any
/// handler runs, in its own words and without ErrorInfo; `None` for every
/// other status (ladder's own carry details and are left alone).
pub fn client_fault(status: &tonic::Status) -> Option<tonic::Status> {
    use tonic::Code;
    let message = status.message();
    let (code, reason, text) = match status.code() {
        Code::Internal if message.starts_with("failed to decode Protobuf message") => (
            Code::InvalidArgument,
            "UNDECODABLE_REQUEST",
            format!("the request is not a valid message of this method ({message})"),
        ),
        Code::Internal if message.starts_with("Unexpected EOF decoding stream") => (
            Code::InvalidArgument,
            "TRUNCATED_REQUEST",
            "the request body ended in the middle of a message".to_string(),
        ),
        Code::Internal if message.starts_with("Missing request message") => {
            (Code::InvalidArgument, "MISSING_REQUEST", "the request carried no message".to_string())
        }
        Code::OutOfRange if message.contains("decoded message length too large") => (
            Code::ResourceExhausted,
            "REQUEST_TOO_LARGE",
            format!("the request is larger than the server accepts (max_message_bytes): {message}"),
        ),
        Code::OutOfRange if message.contains("encoded message length too large") => {
            // A response ladder should have shortened: the server's fault.
            tracing::error!(%message, "a response exceeded the message limit");
            (
                Code::ResourceExhausted,
                "RESPONSE_TOO_LARGE",
                format!("the answer is larger than the server may send (max_message_bytes): {message}"),
            )
        }
        _ => return None,
    };
    use tonic_types::StatusExt as _;
    let details = tonic_types::ErrorDetails::with_error_info(
        reason,
        crate::api::status::ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    Some(tonic::Status::with_error_details(code, text, details))
}

/// Applies [`client_fault`] to the status in response headers or trailers.
fn rewrite_status(map: &mut http::HeaderMap) {
    if map.contains_key("grpc-status-details-bin") {
        return;
    }
    let Some(better) = tonic::Status::from_header_map(map).as_ref().and_then(client_fault) else { return };
    map.remove("grpc-status");
    map.remove("grpc-message");
    if better.add_header(map).is_err() {
        tracing::warn!("could not write a corrected status");
    }
}

/// Reads a client stream's body as fast as it arrives into chunks of up to
/// [`READ_AHEAD_CHUNK`] bytes, holding at most [`READ_AHEAD_CHUNKS`] for the
/// handler. h2 accounts every received small DATA frame against a
/// connection-wide budget until the application takes it, and closes the
/// connection (GOAWAY ENHANCE_YOUR_CALM, every stream on it UNAVAILABLE) when
/// the budget runs out: a handler busy writing a chunk of a sync stream while
/// other streams of the same connection kept sending small messages exhausted
/// it. Taken at once, frames are released at once and coalesced.
fn read_ahead(mut body: tonic::body::Body) -> tonic::body::Body {
    use http_body::Body as _;
    type Chunk = Result<http_body::Frame<bytes::Bytes>, tonic::Status>;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(READ_AHEAD_CHUNKS);
    tokio::spawn(async move {
        let mut gathered = bytes::BytesMut::new();
        loop {
            let next = if gathered.is_empty() {
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            } else if gathered.len() >= READ_AHEAD_CHUNK {
                if tx.send(Ok(http_body::Frame::data(gathered.split().freeze()))).await.is_err() {
                    return;
                }
                continue;
            } else {
                tokio::select! {
                    biased;
                    next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)) => next,
                    permit = tx.reserve() => {
                        let Ok(permit) = permit else { return };
                        permit.send(Ok(http_body::Frame::data(gathered.split().freeze())));
                        continue;
                    }
                }
            };
            let last = match next {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        gathered.extend_from_slice(&data);
                        continue;
                    }
                    Err(trailers) => Some(Ok(trailers)),
                },
                Some(Err(status)) => Some(Err(status)),
                None => None,
            };
            if !gathered.is_empty() && tx.send(Ok(http_body::Frame::data(gathered.split().freeze()))).await.is_err() {
                return;
            }
            if let Some(last) = last {
                let _ = tx.send(last).await;
            }
            return;
        }
    });
    tonic::body::Body::new(ReadAhead(rx))
}

/// The handler's side of [`read_ahead`].
struct ReadAhead(tokio::sync::mpsc::Receiver<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>);

impl http_body::Body for ReadAhead {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

/// DEADLINE_EXCEEDED with ladder's ErrorInfo.
fn deadline_exceeded(limit: Duration) -> tonic::Status {
    timed_out(format!("the request took longer than the server's limit of {}s", limit.as_secs()))
}

/// DEADLINE_EXCEEDED with reason REQUEST_TIMEOUT and `message`.
pub fn timed_out(message: String) -> tonic::Status {
    use tonic_types::StatusExt as _;
    let details = tonic_types::ErrorDetails::with_error_info(
        "REQUEST_TIMEOUT",
        crate::api::status::ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    tonic::Status::with_error_details(tonic::Code::DeadlineExceeded, message, details)
}

/// The gRPC status code in a response's headers (0 when absent).
fn grpc_status<B>(response: &http::Response<B>) -> i32 {
    response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_the_last_guard() {
        let in_flight = InFlight::default();
        assert!(in_flight.drained(Duration::from_millis(1)).await);
        let guard = in_flight.enter();
        assert_eq!(in_flight.current(), 1);
        assert!(!in_flight.drained(Duration::from_millis(20)).await, "times out while a request runs");
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.drained(Duration::from_secs(5)).await })
        };
        drop(guard);
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight.current(), 0);
    }

    /// A service that answers OK after a delay.
    #[derive(Clone)]
    struct Slow(Duration);

    impl tower_service::Service<http::Request<tonic::body::Body>> for Slow {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
            let delay = self.0;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn unary_calls_time_out_and_streams_do_not() {
        use tower_layer::Layer as _;
        use tower_service::Service as _;
        let layer = InFlight::with_timeout(Duration::from_millis(50));
        let mut slow = layer.layer(Slow(Duration::from_millis(300)));
        let unary = http::Request::builder()
            .uri("/ladder.v1.EnterpriseService/ListEnterprises")
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = slow.call(unary).await.unwrap();
        assert_eq!(grpc_status(&response), tonic::Code::DeadlineExceeded as i32);
        let stream = http::Request::builder()
            .uri("/ladder.v1.SyncService/SyncEnterprises")
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = slow.call(stream).await.unwrap();
        assert_eq!(grpc_status(&response), 0, "the sync stream is not cut");
        let revert = http::Request::builder()
            .uri("/ladder.v1.SyncService/RevertSyncRun")
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = slow.call(revert).await.unwrap();
        assert_eq!(grpc_status(&response), 0, "a bulk revert is not cut");
        assert_eq!(layer.current(), 0);
    }
}
