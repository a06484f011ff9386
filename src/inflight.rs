//! Counts requests being served, so that shutdown can wait for exactly those
//! (not for idle client connections, which may stay open for minutes).

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

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let guard = self.in_flight.enter();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            drop(guard);
            result
        })
    }
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
