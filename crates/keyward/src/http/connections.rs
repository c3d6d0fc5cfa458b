//! Serving connections so that slow and idle clients cannot exhaust the
//! server (docs/SECURITY.md):
//!
//! - a connection that has not sent a complete request head within
//!   `head_timeout` (10 s) of opening, or of its first byte after a
//!   response, is closed: one that sends nothing at all included;
//! - a keep-alive connection idle between requests is closed after
//!   `idle_timeout` (60 s);
//! - request bodies have a deadline too (read in `http/json.rs`);
//! - at most `max_connections` are open; at the cap, connections with no
//!   request in progress (idle keep-alive, or opened with nothing sent) are
//!   closed oldest first, and accepting waits while none can be.
//!
//! hyper's own header timeout also runs between requests, so it cannot tell
//! a slow head from an idle connection; each connection here is watched
//! instead: the bytes it reads (an I/O wrapper) and whether a request is in
//! progress (a service wrapper) tell its next deadline.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

pub use crate::config::ConnectionLimits;

/// What the watchdog of one connection knows about it. Times are
/// milliseconds since the server started.
struct Watch {
    opened: u64,
    /// Requests in progress (a request is in progress from its complete
    /// head until its response is handed back).
    in_flight: AtomicUsize,
    /// Whether a request was ever served (then waiting is idling).
    served: AtomicBool,
    /// When the last request ended (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of a head arrived while no request was in
    /// progress; 0 if none.
    head_started: AtomicU64,
    /// Told to close (the cap needs room).
    close: Notify,
    /// The connection's task, to abort what is left when shutdown's drain
    /// runs out of time.
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Watch {
    fn new(now: u64) -> Watch {
        Watch {
            opened: now,
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(now),
            head_started: AtomicU64::new(0),
            close: Notify::new(),
            task: Mutex::new(None),
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// When this connection is to be closed if nothing changes; `None`
    /// while a request is in progress.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<u64> {
        if !self.is_idle() {
            return None;
        }
        let head_started = self.head_started.load(Ordering::SeqCst);
        let head = millis(limits.head_timeout);
        Some(if !self.served.load(Ordering::SeqCst) {
            // The first head: within the timeout of opening, however slowly
            // its first byte came.
            self.opened + head
        } else if head_started != 0 {
            head_started + head
        } else {
            self.idle_since.load(Ordering::SeqCst) + millis(limits.idle_timeout)
        })
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(0, Ordering::SeqCst);
    }

    fn request_ended(&self, now: u64) {
        self.served.store(true, Ordering::SeqCst);
        self.idle_since.store(now, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Bytes arrived; `now` is read only if they start a head (most reads
    /// are of a request already in progress, or of a head already timed).
    fn bytes_read(&self, now: impl FnOnce() -> u64) {
        if self.is_idle() && self.head_started.load(Ordering::SeqCst) == 0 {
            let _ = self
                .head_started
                .compare_exchange(0, now().max(1), Ordering::SeqCst, Ordering::SeqCst);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The open connections, for the cap.
struct Registry {
    start: Instant,
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Watch>>>,
    /// Notified whenever a connection closes.
    closed: Notify,
}

impl Registry {
    fn now(&self) -> u64 {
        millis(self.start.elapsed())
    }

    fn count(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    /// Asks the oldest connections without a request in progress to close,
    /// until `excess` were asked; how many were.
    fn close_oldest_idle(&self, excess: usize) -> usize {
        let Ok(open) = self.open.lock() else { return 0 };
        let mut asked = 0;
        // Ids grow with time: the map is oldest first.
        for watch in open.values().filter(|w| w.is_idle()).take(excess) {
            watch.close.notify_one();
            asked += 1;
        }
        asked
    }
}

/// A connection's socket, telling its watch when bytes arrive.
struct Watched {
    stream: TcpStream,
    watch: Arc<Watch>,
    registry: Arc<Registry>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.bytes_read(|| this.registry.now());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request body that must be complete by a deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

/// The error of a body that did not arrive in time (408).
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {0:?}")]
pub struct BodyTooSlow(Duration);

/// Whether a body error (anywhere in its chain) is [`BodyTooSlow`].
pub fn is_too_slow(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(error) = source {
        if error.is::<BodyTooSlow>() {
            return true;
        }
        source = error.source();
    }
    false
}

impl hyper::body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTooSlow(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body holding its request's [`InFlight`] until it is written
/// (or dropped).
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Ends a request in its watch when dropped (also if the handler is
/// cancelled).
struct InFlight {
    watch: Arc<Watch>,
    registry: Arc<Registry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.watch.request_ended(self.registry.now());
    }
}

/// Serves `router` on `listener` until `shutdown` turns true, then lets
/// requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry {
        start: Instant::now(),
        next_id: AtomicU64::new(1),
        open: Mutex::new(BTreeMap::new()),
        closed: Notify::new(),
    });
    let cap = limits.max_connections.max(1);
    loop {
        // At the cap: make room by closing idle connections, or wait.
        while registry.count() >= cap {
            let closing = registry.closed.notified();
            let excess = registry.count() + 1 - cap;
            if registry.close_oldest_idle(excess) == 0 {
                tracing::warn!(open = registry.count(), cap, "connection cap reached; accepting waits");
            }
            tokio::select! {
                _ = closing => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.changed() => break,
            }
        }
        if *shutdown.borrow() {
            break;
        }
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::new(registry.now()));
        if let Ok(mut open) = registry.open.lock() {
            open.insert(id, watch.clone());
        }
        let task = tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            watch.clone(),
            registry.clone(),
            id,
            shutdown.clone(),
        ));
        if let Ok(mut slot) = watch.task.lock() {
            *slot = Some(task.abort_handle());
        };
    }
    // No new connections (they get a refusal, not a wait); requests in
    // progress finish (their usage is counted before the last flush); idle
    // connections were told to close.
    drop(listener);
    let drained = async {
        while registry.count() > 0 {
            let closed = registry.closed.notified();
            if registry.count() == 0 {
                break;
            }
            tokio::select! {
                _ = closed => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    };
    if tokio::time::timeout(limits.body_timeout + Duration::from_secs(5), drained)
        .await
        .is_err()
    {
        tracing::warn!(
            open = registry.count(),
            "connections still open at shutdown; closing them"
        );
        // Nothing may still run (and count usage) after the last flush.
        let open: Vec<Arc<Watch>> = registry
            .open
            .lock()
            .map_or_else(|_| Vec::new(), |o| o.values().cloned().collect());
        for watch in open {
            if let Some(task) = watch.task.lock().ok().and_then(|mut t| t.take()) {
                task.abort();
            }
        }
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    watch: Arc<Watch>,
    registry: Arc<Registry>,
    id: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(Watched {
        stream,
        watch: watch.clone(),
        registry: registry.clone(),
    });
    let service = {
        let (watch, registry) = (watch.clone(), registry.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            watch.request_started();
            let guard = InFlight {
                watch: watch.clone(),
                registry: registry.clone(),
            };
            let router = router.clone();
            let limit = limits.body_timeout;
            // The pages' sign-in throttle reads the client's address.
            let mut request = request;
            if let Some(peer) = peer {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            }
            // A request without a body (forward auth) needs no timer.
            let request = request.map(|inner| {
                if hyper::body::Body::is_end_stream(&inner) {
                    Body::new(inner)
                } else {
                    Body::new(DeadlineBody {
                        inner,
                        deadline: Box::pin(tokio::time::sleep(limit)),
                        limit,
                    })
                }
            });
            async move {
                let response = tower::ServiceExt::oneshot(router, request)
                    .await
                    .unwrap_or_else(|never: Infallible| match never {});
                // In progress until the response is written: the cap must
                // not cut a response on its way out. An empty body (forward
                // auth) is written with the head: no wrapper needed.
                Ok::<_, Infallible>(if hyper::body::Body::is_end_stream(response.body()) {
                    drop(guard);
                    response
                } else {
                    response.map(|inner| Body::new(Guarded { inner, _guard: guard }))
                })
            }
        })
    };
    // HTTP/1.1 only: every proxy speaks it to keyward, and the deadlines
    // here are per connection, which HTTP/2's many streams would escape.
    let conn = hyper::server::conn::http1::Builder::new()
        .max_buf_size(super::limits::MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutting_down = *shutdown.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        // Re-checked at least every second: a request may start or end.
        let now = registry.now();
        let wait = watch
            .deadline(&limits)
            .map_or(1000, |deadline| deadline.saturating_sub(now).min(1000));
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                if watch.deadline(&limits).is_some_and(|deadline| deadline <= registry.now()) {
                    // No request in progress: dropping the connection
                    // loses nothing but a head that came too slowly.
                    break;
                }
            }
            _ = watch.close.notified() => {
                if watch.is_idle() {
                    break;
                }
            }
            _ = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    if let Ok(mut open) = registry.open.lock() {
        open.remove(&id);
    }
    registry.closed.notify_waiters();
}

/// Raises the open-file soft limit as far as the hard limit allows (each
/// connection is a file descriptor); the new limit, or why not.
pub fn raise_open_file_limit() -> Result<u64, String> {
    rlimit::increase_nofile_limit(u64::MAX).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits::default()
    }

    #[test]
    fn a_new_connection_has_the_head_timeout_then_idles_for_the_idle_timeout() {
        let w = Watch::new(1_000);
        assert_eq!(w.deadline(&limits()), Some(11_000), "nothing sent: 10 s");
        w.bytes_read(|| 9_000);
        assert_eq!(w.deadline(&limits()), Some(11_000), "the first head: 10 s from opening");
        w.request_started();
        assert_eq!(
            w.deadline(&limits()),
            None,
            "a request in progress has no head deadline"
        );
        w.bytes_read(|| 20_000);
        assert_eq!(w.deadline(&limits()), None, "body bytes are not a head");
        w.request_ended(30_000);
        assert_eq!(w.deadline(&limits()), Some(90_000), "idle keep-alive: 60 s");
        w.bytes_read(|| 40_000);
        assert_eq!(w.deadline(&limits()), Some(50_000), "the next head: 10 s");
    }
}
