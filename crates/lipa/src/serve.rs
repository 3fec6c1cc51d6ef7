//! The HTTP server: axum's router on hyper's HTTP/1 connections, with the bounds a slow or idle client
//! meets (see [`Hardening`]):
//!
//! - a request's head must arrive within `LIPA_HEADER_TIMEOUT`, counted from when the connection opens or
//!   the previous answer was sent (hyper's header read timeout), so a client sending headers a byte at a
//!   time is cut off;
//! - a connection with no request in flight for `LIPA_IDLE_TIMEOUT` is closed;
//! - a request body must arrive within `LIPA_BODY_TIMEOUT` of the request's start;
//! - at most `LIPA_MAX_CONNECTIONS` connections are served at once: the accept loop waits for a free slot,
//!   and the others wait in the kernel's backlog rather than taking file descriptors and memory.
//!
//! Every request carries the peer address as `ConnectInfo<SocketAddr>`, as `axum::serve` gives it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::hardening::Hardening;

/// How long connections in progress may finish after a stop was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// What [`run`] serves: the whole app as one service (the router inside `boundary::apply`).
pub trait App:
    tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> App for T where
    T: tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serve `app` on `listener` until `stop` turns true (or its sender goes away), then let the requests in
/// flight finish (at most [`SHUTDOWN_GRACE`]).
pub async fn run(listener: TcpListener, app: impl App, h: Hardening, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(connection_slots(h.max_connections, open_files_limit())));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(h.header_timeout).keep_alive(true);
    let http = Arc::new(http);
    let mut conns = JoinSet::new();
    let stopped = |rx: &watch::Receiver<bool>| *rx.borrow();
    while !stopped(&stop) {
        while conns.try_join_next().is_some() {}
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            r = stop.changed() => if r.is_err() { break } else { continue },
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            r = stop.changed() => if r.is_err() { break } else { continue },
        };
        let _ = stream.set_nodelay(true);
        let (app, http, stop, h) = (app.clone(), http.clone(), stop.clone(), h.clone());
        conns.spawn(async move {
            connection(stream, peer, app, &http, &h, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
}

/// File descriptors kept for everything but client connections: the database, Daraja, webhooks, logs.
const RESERVED_FDS: u64 = 64;

/// The connection cap actually used: `LIPA_MAX_CONNECTIONS`, lowered when the process may not open that
/// many files (`ulimit -n`), so that a flood of connections can never leave the database or Daraja without
/// a file descriptor.
pub fn connection_slots(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else { return configured };
    let fit = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(8)).unwrap_or(usize::MAX);
    if fit < configured {
        tracing::warn!(
            configured,
            serving = fit,
            open_files = limit,
            "LIPA_MAX_CONNECTIONS is above what the open-files limit leaves for clients; serving fewer"
        );
    }
    configured.min(fit)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); None elsewhere or when unlimited.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// What one connection is doing: requests in flight and when the last one ended (ms since `epoch`).
struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the connection becomes idle-expired, if nothing happens before.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

/// Marks a request in flight until dropped (answered, or its future dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(a: &Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        a.touch();
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: impl App,
    http: &hyper::server::conn::http1::Builder,
    h: &Hardening,
    mut stop: watch::Receiver<bool>,
) {
    let activity =
        Arc::new(Activity { epoch: Instant::now(), in_flight: AtomicUsize::new(0), last_ms: AtomicU64::new(0) });
    let body_timeout = h.body_timeout;
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = InFlight::new(&seen);
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(body_timeout)) };
        let req = axum::http::Request::from_parts(parts, axum::body::Body::new(body));
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await;
            drop(guard);
            resp
        }
    });
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_at = activity.idle_deadline(h.idle_timeout);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_at), if !closing => {
                if activity.in_flight.load(Ordering::Relaxed) == 0 && Instant::now() >= activity.idle_deadline(h.idle_timeout) {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                } else if activity.in_flight.load(Ordering::Relaxed) > 0 {
                    // Busy: look again one idle period after now.
                    activity.touch();
                }
            }
        }
    }
}

/// A request body that must be complete before its deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time (LIPA_BODY_TIMEOUT)")]
struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(connection_slots(1024, None), 1024);
        assert_eq!(connection_slots(1024, Some(20_000)), 1024);
        assert_eq!(connection_slots(1024, Some(256)), 192);
        assert_eq!(connection_slots(1024, Some(10)), 8);
        assert!(open_files_limit().is_none_or(|n| n > 0));
    }
}
