//! Reads what a client is still sending once its answer is decided, so a refusal (a wrong key,
//! a bad field) reaches the client instead of being lost to a connection reset.
//!
//! A handler may answer before the request body is read: `authorize` refuses on the header, the
//! page's form refuses when the file part begins. Hyper then closes the connection with the
//! client's bytes unread, the kernel answers them with a reset, and a client still sending
//! (curl, an upload of a few hundred kilobytes) may lose the answer it was sent — curl then
//! reports status 0. Like nginx's lingering close, the rest of the body is read and dropped,
//! bounded in bytes and time, before the answer goes out.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::Instant;

use crate::App;

/// The longest the rest of a refused body is read for.
const LINGER_TOTAL: Duration = Duration::from_secs(10);
/// A client that sends nothing for this long is not waited for.
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// The request's body, kept where the middleware can still reach it after the handler has
/// dropped its end.
struct Kept {
    body: Option<Body>,
    polled: bool,
}

/// The body the handler reads: the kept body, through the shared slot.
struct Tracked(Arc<Mutex<Kept>>);

fn lock(kept: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    kept.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut kept = lock(&self.0);
        kept.polled = true;
        match kept.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0).body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0)
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// The middleware: runs the handler on a tracked body, then reads what it left unread.
pub(crate) async fn linger(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    // A client that asked to be told before sending (`Expect: 100-continue`) sends nothing
    // until the body is first read; reading it now would invite the upload that was refused.
    let waits_to_send = request
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let (parts, body) = request.into_parts();
    let kept = Arc::new(Mutex::new(Kept {
        body: Some(body),
        polled: false,
    }));
    let tracked = Body::new(Tracked(Arc::clone(&kept)));
    let response = next.run(Request::from_parts(parts, tracked)).await;
    let (rest, polled) = {
        let mut kept = lock(&kept);
        (kept.body.take(), kept.polled)
    };
    if let Some(rest) = rest {
        if !rest.is_end_stream() && (polled || !waits_to_send) {
            let limit = app
                .options
                .max_upload
                .saturating_add(crate::api::FORM_OVERHEAD);
            drain(rest, limit).await;
        }
    }
    response
}

/// Reads and drops a body until it ends, `limit` bytes have come, the client pauses for
/// [`LINGER_IDLE`] or [`LINGER_TOTAL`] has passed; how many bytes it read.
async fn drain(mut body: Body, limit: u64) -> u64 {
    let deadline = Instant::now() + LINGER_TOTAL;
    let mut read = 0u64;
    loop {
        let wait = deadline.min(Instant::now() + LINGER_IDLE);
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        match tokio::time::timeout_at(wait, frame).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    read = read.saturating_add(data.len() as u64);
                }
                if read > limit {
                    break;
                }
            }
            _ => break,
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_reads_to_the_end_and_stops_at_its_limit() {
        let chunks = || {
            futures_util::stream::iter(
                (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 1000]))),
            )
        };
        assert_eq!(drain(Body::from_stream(chunks()), 1 << 20).await, 4000);
        // Past the limit, it stops after the chunk that crossed it.
        assert_eq!(drain(Body::from_stream(chunks()), 1500).await, 2000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_sending_is_not_waited_for() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        sender.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        let body = Body::from_stream(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        ));
        let started = Instant::now();
        assert_eq!(drain(body, 1 << 20).await, 3);
        assert_eq!(started.elapsed(), LINGER_IDLE);
        drop(sender);
    }
}
