//! Serving connections: hyper's HTTP/1.1 server, one task per connection, a cap on how many are
//! open at once, and a watchdog per connection for slow request headers and idle connections. The request body
//! has its own deadline, in the router (`web::limits`).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
    time::Instant,
};
use tower::Service;

use crate::config::Limits;

/// How long the requests under way may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests under way
/// finish (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections as usize));
    // Connections past the cap are told why, as many at once as may be served; past that too,
    // closed at once, so that a flood of connections costs no more than the cap twice.
    let refusing = Arc::new(Semaphore::new(limits.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause a little rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watched = Arc::new(Connection::new());
        let io = TokioIo::new(Watched {
            stream,
            connection: watched.clone(),
        });
        let service = ConnectionService {
            router: router.clone(),
            remote,
            connection: watched.clone(),
        };
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            // The header deadline is kept by the watchdog, from a request's first byte rather
            // than from the end of the previous answer, so that keep-alive has its own limit.
            .header_read_timeout(None)
            .serve_connection(io, hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        let (header_timeout, idle_timeout) = (limits.header_timeout(), limits.keep_alive());
        tokio::spawn(async move {
            tokio::select! {
                served = connection => if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                // Dropping the connection closes it.
                () = watched.watchdog(header_timeout, idle_timeout) => {
                    tracing::debug!("connection closed: too slow or idle");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still under way at shutdown were cut off");
    }
}

/// The answer to a connection past the cap: 503, then closed.
async fn refuse(mut stream: TcpStream) {
    const ANSWER: &str = "HTTP/1.1 503 Service Unavailable\r\n\
        content-type: text/plain; charset=utf-8\r\n\
        retry-after: 5\r\n\
        connection: close\r\n\
        content-length: 74\r\n\r\n\
        Keyport is serving as many connections as it may; try again in a moment.\n";
    let answer = async {
        stream.write_all(ANSWER.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so that closing does not reset the
        // connection before the client has read the answer.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

/// What one connection is doing, as its stream and its requests see it; its watchdog closes it
/// when a request's headers take longer than the header timeout from their first byte, when no
/// request comes for the keep-alive time, or when the client stops reading an answer that long.
struct Connection {
    received: AtomicU64,
    in_flight: AtomicUsize,
    /// Wakes the watchdog when its deadline moves: a request began or was answered.
    changed: Notify,
    clock: Mutex<Clock>,
}

struct Clock {
    last_activity: Instant,
    /// When the first byte of a request whose headers are not all in yet arrived.
    request_started: Option<Instant>,
    /// `received` when the stream last looked: a change means a request's headers were read.
    received: u64,
}

impl Connection {
    fn new() -> Self {
        Connection {
            received: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
            clock: Mutex::new(Clock {
                last_activity: Instant::now(),
                request_started: None,
                received: 0,
            }),
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answering(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    /// Bytes came from the client (`read`) or went to it.
    fn activity(&self, read: bool) {
        let received = self.received.load(Ordering::SeqCst);
        let answering = self.answering();
        let mut clock = self.clock();
        let now = Instant::now();
        clock.last_activity = now;
        if clock.received != received {
            clock.received = received;
            clock.request_started = None;
        }
        if read && !answering && clock.request_started.is_none() {
            clock.request_started = Some(now);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed, or `None` while a request is being answered (its
    /// body has its own deadline, `web::limits`).
    fn deadline(&self, header_timeout: Duration, idle_timeout: Duration) -> Option<Instant> {
        if self.answering() {
            return None;
        }
        let received = self.received.load(Ordering::SeqCst);
        let clock = self.clock();
        match clock.request_started {
            Some(started) if clock.received == received => Some(started + header_timeout),
            _ => Some(clock.last_activity + idle_timeout),
        }
    }

    /// Completes when the connection is to be closed.
    async fn watchdog(&self, header_timeout: Duration, idle_timeout: Duration) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(header_timeout, idle_timeout) {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Counts a request as being answered until dropped.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// The router for one connection: each request carries the client's address and is counted.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    remote: SocketAddr,
    connection: Arc<Connection>,
}

impl Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        self.connection.in_flight.fetch_add(1, Ordering::SeqCst);
        self.connection.received.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight(self.connection.clone());
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let answer = self.router.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(in_flight);
            response
        })
    }
}

/// A connection's stream, telling its [`Connection`] when bytes come and go.
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.connection.activity(true);
        }
        polled
    }
}

impl Watched {
    /// Tells the connection when bytes went out.
    fn wrote(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.activity(false);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(polled)
    }

    /// Hyper writes the head and the body's buffers in one call when the stream takes several
    /// buffers; otherwise it copies the body into its own buffer first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
