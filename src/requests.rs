//! Request accounting, as one tower layer around every service:
//!
//! - counts the requests being served, so that shutdown can wait for exactly
//!   those (not for idle client connections, which may stay open for minutes);
//! - writes one structured log line per request: method, gRPC status and
//!   latency (`debug` for OK, `info` for client errors, `warn` for server
//!   errors), so `LADDER_LOG=ladder=debug` shows every call.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;

/// Shared count of requests in flight.
#[derive(Clone)]
pub struct InFlight {
    count: watch::Sender<usize>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self { count: watch::Sender::new(0) }
    }
}

impl InFlight {
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

    fn enter(&self) -> Guard {
        self.count.send_modify(|n| *n += 1);
        Guard(self.count.clone())
    }
}

/// Decrements the count when the request is done (or dropped).
struct Guard(watch::Sender<usize>);

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

impl<S, B, RB> tower_service::Service<http::Request<B>> for Counted<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let guard = self.in_flight.enter();
        let method = request.uri().path().to_string();
        let started = std::time::Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            drop(guard);
            let micros = started.elapsed().as_micros();
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
}
