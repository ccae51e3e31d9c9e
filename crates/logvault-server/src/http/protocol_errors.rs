//! Requests refused before routing — a request target or header section too large, or bytes that are not HTTP —
//! answered like every other error: problem+json with a request id and the security headers.
//!
//! Two parts. [`request_limits`] is a layer that refuses a request target over [`MAX_URI_BYTES`] (414) and a header
//! section over [`MAX_HEADER_BYTES`] (431) in the application, well below hyper's own limits, on HTTP/1.1 and
//! HTTP/2 alike. What hyper itself refuses on HTTP/1 (a request it cannot parse: 400; past its hard limits: 414,
//! 431) it answers on its own, with an empty body and none of our headers, then closes the connection; [`Acceptor`]
//! wraps each connection so that exactly that automatic answer is replaced by a rendered problem. It recognises the
//! answer by what only hyper's answer has: a status line of 400, 414 or 431 with `content-length: 0`, no body and
//! no `x-request-id` (every response of the application carries one, set by the outermost layer).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::middleware::Next;
use futures_util::TryFutureExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Problem;
use crate::http::middleware;

/// The longest request target (path and query) the application accepts.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest header section the application accepts, counted as HTTP/2 does (name + value + 32 per field).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// HTTP/2's own limit on the header section, set above ours so that the application answers first.
pub const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// See the module documentation.
pub async fn request_limits(request: Request, next: Next) -> Response<Body> {
    let uri_bytes = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return refused(uri_too_long());
    }
    if header_bytes(request.headers()) > MAX_HEADER_BYTES {
        return refused(headers_too_large());
    }
    next.run(request).await
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 32).sum()
}

fn refused(problem: Problem) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = problem.status;
    response.extensions_mut().insert(problem);
    response
}

fn uri_too_long() -> Problem {
    Problem {
        status: StatusCode::URI_TOO_LONG,
        slug: "uri-too-long",
        title: "URI Too Long",
        detail: Some(format!("the request target (path and query) is longer than {MAX_URI_BYTES} bytes")),
        cause: None,
    }
}

fn headers_too_large() -> Problem {
    Problem {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        slug: "headers-too-large",
        title: "Request Header Fields Too Large",
        detail: Some(format!("the request header fields are larger than {MAX_HEADER_BYTES} bytes")),
        cause: None,
    }
}

fn malformed_request() -> Problem {
    Problem {
        status: StatusCode::BAD_REQUEST,
        slug: "malformed-request",
        title: "Malformed Request",
        detail: Some("the request is not valid HTTP/1.1".to_owned()),
        cause: None,
    }
}

/// Wraps the connections of another acceptor (plain TCP or TLS) in [`ProblemIo`].
#[derive(Debug, Clone)]
pub struct Acceptor<A>(pub A);

type Wrapped<A, I, S> = fn(
    (<A as axum_server::accept::Accept<I, S>>::Stream, <A as axum_server::accept::Accept<I, S>>::Service),
) -> (
    ProblemIo<<A as axum_server::accept::Accept<I, S>>::Stream>,
    <A as axum_server::accept::Accept<I, S>>::Service,
);

impl<A, I, S> axum_server::accept::Accept<I, S> for Acceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: futures_util::TryFuture<Ok = (A::Stream, A::Service), Error = io::Error>,
{
    type Stream = ProblemIo<A::Stream>;
    type Service = A::Service;
    type Future = futures_util::future::MapOk<A::Future, Wrapped<A, I, S>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let wrap: Wrapped<A, I, S> = |(stream, service)| (ProblemIo::new(stream), service);
        self.0.accept(stream, service).map_ok(wrap)
    }
}

/// A connection whose automatic parse-error answers from hyper are replaced by rendered problems.
#[derive(Debug)]
pub struct ProblemIo<T> {
    inner: T,
    /// A replacement answer not yet written, and how much of it is.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> ProblemIo<T> {
        ProblemIo { inner, replacement: None }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what is left of a replacement answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes over `buf` when it is hyper's automatic answer: reports it written and writes the problem instead.
    fn poll_replace(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let replacement = replacement_for(buf)?;
        self.replacement = Some((replacement, 0));
        Some(match self.poll_drain(cx) {
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            // Pending: the rest goes out on the next write, flush or shutdown, which drain first.
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(poll) = self.poll_replace(cx, buf) {
            return poll;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(first) = bufs.iter().find(|buf| !buf.is_empty())
            && let Some(poll) = self.poll_replace(cx, first)
        {
            return poll;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The rendered problem that replaces `buf`, when `buf` is exactly one of hyper's automatic parse-error answers.
fn replacement_for(buf: &[u8]) -> Option<Vec<u8>> {
    let problem = match buf.get(..13)? {
        b"HTTP/1.1 400 " => malformed_request(),
        b"HTTP/1.1 414 " => uri_too_long_by_hyper(),
        b"HTTP/1.1 431 " => headers_too_large(),
        _ => return None,
    };
    let head_end = buf.windows(4).position(|window| window == b"\r\n\r\n")?;
    if head_end + 4 != buf.len() {
        return None;
    }
    let head = buf[..head_end].to_ascii_lowercase();
    let lines: Vec<&[u8]> = head.split(|&byte| byte == b'\n').map(|line| line.trim_ascii_end()).collect();
    let empty = lines.iter().any(|line| *line == b"content-length: 0");
    let ours = lines.iter().any(|line| line.starts_with(b"x-request-id:"));
    if !empty || ours {
        return None;
    }
    let request_id = middleware::fresh_request_id();
    tracing::info!(request_id = %request_id, status = problem.status.as_u16(), "request refused by the HTTP parser");
    Some(serialize(&problem, &request_id))
}

/// hyper's own URI limit is larger than ours; the answer names no number it does not enforce.
fn uri_too_long_by_hyper() -> Problem {
    Problem { detail: Some("the request target (path and query) is too long".to_owned()), ..uri_too_long() }
}

/// The whole HTTP/1.1 answer for `problem`, closing the connection (hyper closes it after a parse error).
fn serialize(problem: &Problem, request_id: &str) -> Vec<u8> {
    let body = problem.body_json(request_id);
    let mut headers = HeaderMap::new();
    middleware::insert_security_headers(&mut headers);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n{}: {}\r\n",
        problem.status.as_u16(),
        problem.status.canonical_reason().unwrap_or(""),
        crate::error::PROBLEM_JSON,
        body.len(),
        middleware::REQUEST_ID,
        request_id,
    )
    .into_bytes();
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_empty_answers_without_a_request_id_are_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = String::from_utf8(replacement_for(hyper).unwrap()).unwrap();
        assert!(replaced.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{replaced}");
        assert!(replaced.contains("\r\ncontent-type: application/problem+json\r\n"), "{replaced}");
        assert!(replaced.contains("\r\nx-content-type-options: nosniff\r\n"), "{replaced}");
        assert!(replaced.contains("\"type\":\"/problems/headers-too-large\""), "{replaced}");
        let ours = b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(replacement_for(ours), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(replacement_for(with_body), None);
        assert_eq!(replacement_for(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"), None);
        assert_eq!(replacement_for(b"HTTP/1.1 400 "), None);
    }
}
