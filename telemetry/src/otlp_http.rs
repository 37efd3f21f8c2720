//! The OTLP/HTTP transport (`http/protobuf`, the specification's default): an
//! `ExportTraceServiceRequest` POSTed to `/v1/traces` over one HTTP/1.1 connection, kept open
//! between exports.
//!
//! The request body is a list of byte strings: the request's own fields, and the threads' runs of
//! encoded spans as they are, not copied into one buffer. HTTP/1.1 writes a body of a known
//! length straight to the socket, gathering up to 16 parts per `writev` (a default batch of 512
//! API spans is about ten parts: one call); gRPC's HTTP/2 sends the same bytes as
//! 16 KiB frames, a system call each, behind its own flow control and stream state. Measured on
//! the API, the exporter thread took about half the CPU per span this way
//! (docs/benchmarks.md, telemetry run 44).
//!
//! Answers follow the OTLP/HTTP specification: 200 carries an `ExportTraceServiceResponse` (which
//! may report rejected spans), any other status a `google.rpc.Status` whose message is reported.
//! Spans the collector refused are not sent again, as with gRPC (see `export.rs`); a request that
//! failed on a kept connection before any answer (the collector closed it while idle) goes once
//! more, on a new connection.

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Uri, header};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::client::conn::http1::SendRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use crate::TelemetryError;

/// The path the specification gives the traces signal under a base endpoint.
pub(crate) const TRACES_PATH: &str = "v1/traces";

const PROTOBUF: HeaderValue = HeaderValue::from_static("application/x-protobuf");

/// An export request's body: byte strings sent in order, with their total length up front.
#[derive(Default)]
pub(crate) struct RequestBody {
    parts: VecDeque<Bytes>,
    len: u64,
}

impl RequestBody {
    pub(crate) fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.len += part.len() as u64;
            self.parts.push_back(part);
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.parts.pop_front().map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer; only its message is used.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// One collector endpoint and the connection to it.
pub(crate) struct HttpClient {
    /// `host:port`, to connect to.
    address: String,
    /// The request line's target (origin form) and the `Host` header.
    path: Uri,
    host: HeaderValue,
    headers: HeaderMap,
    timeout: Duration,
    connection: Option<SendRequest<RequestBody>>,
}

impl HttpClient {
    /// Checks `endpoint` (a full URL, `/v1/traces` included); connects on the first export.
    ///
    /// # Errors
    /// [`TelemetryError::Exporter`] for a URL that is not `http://host[:port]/path`: TLS is the
    /// collector's job (the app exports to the one beside it, see `telemetry/adot/`).
    pub(crate) fn new(
        endpoint: &str,
        headers: HeaderMap,
        timeout: Duration,
    ) -> Result<Self, TelemetryError> {
        let bad = |why: &str| TelemetryError::Exporter(format!("{endpoint}: {why}"));
        let uri: Uri = endpoint.parse().map_err(|e| bad(&format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad(
                "only http:// endpoints are supported for http/protobuf (export to a local collector, which adds TLS)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| bad(&e.to_string()))?;
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        Ok(Self {
            address: format!("{}:{port}", authority.host()),
            path,
            host,
            headers,
            timeout,
            connection: None,
        })
    }

    /// Sends the body `body` makes, within the export timeout; returns the collector's answer,
    /// or why there is none.
    pub(crate) async fn export(
        &mut self,
        body: impl Fn() -> RequestBody,
    ) -> Result<ExportTraceServiceResponse, String> {
        match tokio::time::timeout(self.timeout, self.send(&body)).await {
            Ok(result) => result,
            Err(_) => {
                // An answer still in flight would arrive on this connection: start afresh.
                self.connection = None;
                Err(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    async fn send(
        &mut self,
        body: &dyn Fn() -> RequestBody,
    ) -> Result<ExportTraceServiceResponse, String> {
        // The collector may have closed a kept connection since the last export (an idle
        // timeout): a request that fails there before any answer goes once more, on a new one.
        if let Some(kept) = self.connection.take().filter(|c| !c.is_closed()) {
            match self.send_on(kept, body()).await {
                Err(Failure::Connection(_)) => {}
                other => return other.map_err(Failure::into_message),
            }
        }
        let fresh = self.connect().await?;
        self.send_on(fresh, body())
            .await
            .map_err(Failure::into_message)
    }

    async fn send_on(
        &mut self,
        mut connection: SendRequest<RequestBody>,
        body: RequestBody,
    ) -> Result<ExportTraceServiceResponse, Failure> {
        let failed = |e: hyper::Error| Failure::Connection(format!("{}: {e}", self.address));
        connection.ready().await.map_err(failed)?;
        let response = connection
            .send_request(self.request(body).map_err(Failure::Answer)?)
            .await
            .map_err(failed)?;
        self.connection = Some(connection);
        answer(response).await.map_err(Failure::Answer)
    }

    fn request(&self, body: RequestBody) -> Result<Request<RequestBody>, String> {
        let mut request = Request::post(self.path.clone())
            .header(header::HOST, self.host.clone())
            .header(header::CONTENT_TYPE, PROTOBUF)
            .body(body)
            .map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(request)
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot connect to {}: {e}", self.address);
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|e| failed(&e))?;
        // The body goes out in one write; nothing waits to be coalesced with it.
        stream.set_nodelay(true).map_err(|e| failed(&e))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| failed(&e))?;
        // Driven by the exporter's runtime while an export runs; ends when the sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Why an export failed.
enum Failure {
    /// The connection failed before an answer came: worth a new connection.
    Connection(String),
    /// The collector answered, and not with success (or the request could not be made).
    Answer(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Failure::Connection(m) | Failure::Answer(m) => m,
        }
    }
}

/// An answer is a few bytes (an `ExportTraceServiceResponse` or a `google.rpc.Status`); an
/// endpoint that sends more is not a collector, and is not read into memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Reads the collector's answer: the `ExportTraceServiceResponse` of a 200, the reason otherwise.
async fn answer(
    response: http::Response<hyper::body::Incoming>,
) -> Result<ExportTraceServiceResponse, String> {
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| format!("HTTP {status}, and the answer could not be read: {e}"))?
        .to_bytes();
    if status.is_success() {
        return ExportTraceServiceResponse::decode(body)
            .map_err(|e| format!("undecodable collector answer: {e}"));
    }
    let message = RpcStatus::decode(body.clone()).map_or_else(
        |_| String::from_utf8_lossy(&body).into_owned(),
        |s| s.message,
    );
    Err(format!("HTTP {status}: {}", message.trim()))
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;

    use super::*;

    #[test]
    fn the_body_is_its_parts_in_order_with_their_length() {
        let mut body = RequestBody::default();
        body.push(Bytes::from_static(b"ab"));
        body.push(Bytes::new());
        body.push(Bytes::from_static(b"cde"));
        assert_eq!(body.size_hint().exact(), Some(5));
        let collected = runtime().block_on(body.collect()).unwrap().to_bytes();
        assert_eq!(collected.as_ref(), b"abcde");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn client(address: std::net::SocketAddr) -> HttpClient {
        HttpClient::new(
            &format!("http://{address}/v1/traces"),
            HeaderMap::new(),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn one_part() -> RequestBody {
        let mut body = RequestBody::default();
        body.push(Bytes::from_static(b"\x0a\x00"));
        body
    }

    #[test]
    fn an_error_answer_is_reported_with_the_collectors_message() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let refuse = || async {
                let status = RpcStatus {
                    code: 3,
                    message: "spans without a trace id".into(),
                };
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    status.encode_to_vec(),
                )
            };
            let app = axum::Router::new().route("/v1/traces", axum::routing::post(refuse));
            tokio::spawn(async move { axum::serve(listener, app).await });

            let error = client(address).export(one_part).await.unwrap_err();
            assert_eq!(error, "HTTP 400 Bad Request: spans without a trace id");
        });
    }

    #[test]
    fn an_endless_answer_is_not_read_into_memory() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let flood = || async { vec![b'x'; 2 * MAX_ANSWER_BYTES] };
            let app = axum::Router::new().route("/v1/traces", axum::routing::post(flood));
            tokio::spawn(async move { axum::serve(listener, app).await });

            let error = client(address).export(one_part).await.unwrap_err();
            assert!(
                error.starts_with("HTTP 200 OK, and the answer could not be read"),
                "{error}"
            );
        });
    }

    #[test]
    fn a_connection_the_collector_closed_is_replaced_and_the_request_sent_again() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            // Each connection answers one request and is closed on the next, unanswered, as by
            // an idle timeout that fires as the request arrives: the client only finds out when
            // it sends. The count says how many connections were made.
            let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = std::sync::Arc::clone(&accepted);
            tokio::spawn(async move {
                loop {
                    let (mut socket, _) = listener.accept().await.unwrap();
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buf = [0; 1024];
                        while !request.ends_with(b"\x0a\x00") {
                            match socket.read(&mut buf).await {
                                Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                                _ => return,
                            }
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                        // The next request finds the connection closed.
                        let _ = socket.read(&mut buf).await;
                    });
                }
            });

            let mut client = client(address);
            for _ in 0..3 {
                client.export(one_part).await.unwrap();
            }
            assert_eq!(
                accepted.load(std::sync::atomic::Ordering::SeqCst),
                3,
                "the second and third exports each went again, on a new connection"
            );
        });
    }

    #[test]
    fn only_plain_http_endpoints_with_a_host_are_taken() {
        let new = |e: &str| HttpClient::new(e, HeaderMap::new(), Duration::from_secs(1));
        let c = new("http://collector:4318/v1/traces").unwrap();
        assert_eq!(c.address, "collector:4318");
        assert_eq!(c.path, "/v1/traces");
        assert_eq!(c.host, "collector:4318");
        assert_eq!(new("http://127.0.0.1/x").unwrap().address, "127.0.0.1:80");
        for bad in [
            "https://collector:4318/v1/traces",
            "collector:4318",
            "/v1/traces",
        ] {
            assert!(new(bad).is_err(), "{bad}");
        }
    }
}
