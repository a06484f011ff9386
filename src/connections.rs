//! The server's accept loop, with a limit on everything a connection holds:
//!
//! - at most `max_connections` open connections, and `max_connections_per_peer`
//!   from one IP address: a connection past either limit is closed as soon as
//!   it is accepted, so it costs a file descriptor for microseconds;
//! - a connection that has not sent the HTTP/2 client preface within
//!   `handshake_timeout_secs` is closed (a client that connects and never
//!   speaks holds nothing for long);
//! - a connection with no request in flight for `idle_timeout_secs` is closed
//!   (HTTP/2 keepalive pings do not count as activity: the requests do);
//! - accept errors (the process out of file descriptors, `EMFILE`) pause
//!   accepting for [`ACCEPT_BACKOFF`] instead of retrying at once, which spun
//!   a core while new clients timed out;
//! - every limit that bites is counted and reported in one log line per
//!   [`REPORT_INTERVAL`] (never one line per connection).
//!
//! Requests find their connection through [`ConnectionInfo`] in the request
//! extensions (tonic inserts it for every request of the connection);
//! `requests.rs` holds a [`Busy`] guard while a request — stream included —
//! is open, which is what "idle" means here.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// How long accepting pauses after an accept error (e.g. out of file descriptors).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often the limits that bit are reported.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Length of the HTTP/2 client connection preface (`PRI * HTTP/2.0…`).
const PREFACE_LEN: u64 = 24;

/// The connection limits (from `[server]` in the configuration).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most open connections in all.
    pub max_connections: usize,
    /// Most open connections from one IP address.
    pub max_per_peer: usize,
    /// Time a new connection has to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Time a connection may stay open with no request in flight (`None`: forever).
    pub idle_timeout: Option<Duration>,
}

/// What the limits did, counted since the last report.
#[derive(Default)]
struct Counters {
    refused_total: AtomicU64,
    refused_peer: AtomicU64,
    handshake_timeouts: AtomicU64,
    idle_closed: AtomicU64,
    accept_errors: AtomicU64,
}

/// Open connections, in all and per peer.
struct Shared {
    limits: ConnectionLimits,
    open: AtomicUsize,
    per_peer: Mutex<HashMap<IpAddr, usize>>,
    counters: Counters,
}

impl Shared {
    /// Takes a slot for a connection from `peer`, or says which limit refused it.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, &'static str> {
        let mut per_peer = self.per_peer.lock().unwrap_or_else(|e| e.into_inner());
        if self.open.load(Ordering::Relaxed) >= self.limits.max_connections {
            self.counters.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err("max_connections");
        }
        let count = per_peer.entry(peer).or_insert(0);
        if *count >= self.limits.max_per_peer {
            self.counters.refused_peer.fetch_add(1, Ordering::Relaxed);
            return Err("max_connections_per_peer");
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot { shared: Arc::clone(self), peer })
    }
}

/// An admitted connection's place in the counts, given back on drop.
struct Slot {
    shared: Arc<Shared>,
    peer: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_peer = self.shared.per_peer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                per_peer.remove(&self.peer);
            }
        }
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The accepted connections of one listener, within [`ConnectionLimits`].
pub struct Incoming {
    listener: TcpListener,
    shared: Arc<Shared>,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    /// Accepts on `listener` within `limits`; spawns the task that reports
    /// the limits that bit (it ends with the last connection and the listener).
    pub fn new(listener: TcpListener, limits: ConnectionLimits) -> Self {
        let shared = Arc::new(Shared {
            limits,
            open: AtomicUsize::new(0),
            per_peer: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        tokio::spawn(report(Arc::downgrade(&shared)));
        Self { listener, shared, backoff: None }
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }
}

/// Logs, once per [`REPORT_INTERVAL`], what the limits refused or closed.
async fn report(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(REPORT_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let c = &shared.counters;
        let take = |n: &AtomicU64| n.swap(0, Ordering::Relaxed);
        let (total, peer, handshake, idle, errors) = (
            take(&c.refused_total),
            take(&c.refused_peer),
            take(&c.handshake_timeouts),
            take(&c.idle_closed),
            take(&c.accept_errors),
        );
        let open = shared.open.load(Ordering::Relaxed);
        if total + peer + errors > 0 {
            tracing::warn!(
                open,
                refused_max_connections = total,
                refused_max_connections_per_peer = peer,
                accept_errors = errors,
                handshake_timeouts = handshake,
                idle_closed = idle,
                "connection limits refused connections"
            );
        } else if handshake + idle > 0 {
            tracing::info!(
                open,
                handshake_timeouts = handshake,
                idle_closed = idle,
                "closed silent or idle connections"
            );
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = std::io::Result<Connection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(backoff) = self.backoff.as_mut() {
                if backoff.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
            }
            let (stream, peer) = match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(accepted)) => accepted,
                Poll::Ready(Err(e)) => {
                    // Out of file descriptors (or another transient error):
                    // retrying at once spins a core and frees nothing.
                    if self.shared.counters.accept_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(error = %e, "accept failed; pausing accepts briefly");
                    }
                    self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                    continue;
                }
            };
            let slot = match self.shared.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(limit) => {
                    tracing::debug!(%peer, limit, "connection refused");
                    drop(stream);
                    continue;
                }
            };
            // tonic sets TCP_NODELAY only on listeners it binds itself;
            // without it a response's last frame waits 40 ms for a delayed ACK.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY; closing");
                continue;
            }
            let handshake = self.shared.limits.handshake_timeout;
            return Poll::Ready(Some(Ok(Connection {
                stream,
                peer,
                state: Arc::new(ConnectionState::default()),
                shared: Arc::clone(&self.shared),
                read: 0,
                deadline: Box::pin(tokio::time::sleep(handshake)),
                _slot: slot,
            })));
        }
    }
}

/// What requests and the connection share: requests open, and when the
/// last one ended.
#[derive(Default)]
struct ConnectionState {
    busy: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
}

/// Identifies the connection a request came on (in the request extensions).
#[derive(Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    state: Arc<ConnectionState>,
}

impl ConnectionInfo {
    /// Marks the connection busy until the guard is dropped.
    pub fn busy(&self) -> Busy {
        self.state.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(&self.state))
    }
}

/// A request in flight on a connection.
pub struct Busy(Arc<ConnectionState>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }
}

/// An accepted TCP connection that closes itself (its reads fail with
/// `TimedOut`, which ends hyper's connection) when it misses the handshake
/// deadline or stays idle too long.
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    shared: Arc<Shared>,
    read: u64,
    deadline: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl Connection {
    /// Whether the connection is past its deadline; otherwise re-arms the
    /// timer (registering the waker) for the next moment it could be.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<&'static str> {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return None;
            }
            if self.read < PREFACE_LEN {
                self.shared.counters.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                return Some("no HTTP/2 preface within the handshake timeout");
            }
            let Some(idle) = self.shared.limits.idle_timeout else {
                // Preface done and no idle limit: park the timer far away.
                let far = Instant::now() + Duration::from_secs(86_400 * 365);
                self.deadline.as_mut().reset(far);
                continue;
            };
            let now = Instant::now();
            let next = if self.state.busy.load(Ordering::Relaxed) > 0 {
                now + idle
            } else {
                // Set when the handshake completed, then whenever the last request ended.
                let since = self.state.idle_since.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or(now);
                if now.duration_since(since) >= idle {
                    self.shared.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                    return Some("idle for longer than the idle timeout");
                }
                since + idle
            };
            self.deadline.as_mut().reset(next);
        }
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo { peer: self.peer, state: Arc::clone(&self.state) }
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let was = self.read;
                self.read += (buf.filled().len() - before) as u64;
                if was < PREFACE_LEN && self.read >= PREFACE_LEN {
                    // Handshake done: from now on the idle limit applies.
                    let now = Instant::now();
                    let mut since = self.state.idle_since.lock().unwrap_or_else(|e| e.into_inner());
                    since.get_or_insert(now);
                    drop(since);
                    let idle = self.shared.limits.idle_timeout.unwrap_or(Duration::from_secs(86_400 * 365));
                    self.deadline.as_mut().reset(now + idle);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        match self.expired(cx) {
            None => Poll::Pending,
            Some(why) => {
                tracing::debug!(peer = %self.peer, why, "closing connection");
                Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why)))
            }
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(max_connections: usize, max_per_peer: usize) -> Arc<Shared> {
        Arc::new(Shared {
            limits: ConnectionLimits {
                max_connections,
                max_per_peer,
                handshake_timeout: Duration::from_secs(5),
                idle_timeout: None,
            },
            open: AtomicUsize::new(0),
            per_peer: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    #[test]
    fn slots_are_bounded_in_all_and_per_peer_and_given_back() {
        let s = shared(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = s.admit(a).unwrap();
        let _a2 = s.admit(a).unwrap();
        assert_eq!(s.admit(a).err(), Some("max_connections_per_peer"));
        let _b1 = s.admit(b).unwrap();
        assert_eq!(s.admit(b).err(), Some("max_connections"));
        drop(a1);
        assert!(s.admit(b).is_ok(), "a closed connection frees its slot");
        assert_eq!(s.counters.refused_peer.load(Ordering::Relaxed), 1);
        assert_eq!(s.counters.refused_total.load(Ordering::Relaxed), 1);
    }
}
