//! A real OTLP trace receiver on free ports, for both transports: OTLP/HTTP (`POST /v1/traces`,
//! `endpoint`) and OTLP/gRPC (`grpc_endpoint`). It keeps every request as it arrives and decodes
//! them when a test asks for the spans. A request that does not decode fails `spans()`.
//!
//! Benchmarks share the machine's cores with the receiver and send hundreds of megabytes: there it
//! only counts (`start_counting`), walking each request's protobuf framing down to the spans and
//! dropping the bytes, as a collector frees what it has forwarded. Keeping them all cost more than
//! half of the receiver's CPU, in the kernel zeroing fresh pages.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, any_value::Value},
};
use prost::Message as _;
use tonic::codegen::{Body, BoxFuture, StdError, http};

/// One received span.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    /// 1 internal, 2 server, 3 client, 4 producer, 5 consumer (OTLP `SpanKind`).
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    /// 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub events: Vec<String>,
}

impl Span {
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;
pub const PRODUCER: i32 = 4;
pub const CONSUMER: i32 = 5;
pub const STATUS_ERROR: i32 = 2;

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The gRPC method of OTLP trace export.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the receiver does with each export request.
enum Store {
    /// Keeps it, still encoded, for `spans()`.
    Keep(Mutex<Vec<bytes::Bytes>>),
    /// Counts its spans and drops it.
    Count {
        spans: AtomicUsize,
        undecodable: AtomicUsize,
    },
}

impl Store {
    fn take(&self, request: bytes::Bytes) {
        match self {
            Store::Keep(requests) => requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(request),
            Store::Count { spans, undecodable } => {
                match count_spans(&request) {
                    Some(n) => spans.fetch_add(n, Ordering::Relaxed),
                    None => undecodable.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    }
}

#[derive(Clone)]
struct Collector(Arc<Store>);

impl tonic::server::NamedService for Collector {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tonic::codegen::Service<http::Request<B>> for Collector
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let collector = self.clone();
        Box::pin(async move {
            if req.uri().path() != EXPORT_PATH {
                return Ok(tonic::Status::unimplemented(req.uri().path().to_owned()).into_http());
            }
            Ok(tonic::server::Grpc::new(RawCodec)
                .unary(collector, req)
                .await)
        })
    }
}

impl tonic::codegen::Service<tonic::Request<bytes::Bytes>> for Collector {
    type Response = tonic::Response<ExportTraceServiceResponse>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<Self::Response, tonic::Status>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<bytes::Bytes>) -> Self::Future {
        self.0.take(request.into_inner());
        std::future::ready(Ok(tonic::Response::new(
            ExportTraceServiceResponse::default(),
        )))
    }
}

/// Keeps the request's bytes; encodes the (empty) answer.
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = bytes::Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: ExportTraceServiceResponse,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<bytes::Bytes>, tonic::Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The receiver's HTTP/2 flow-control windows, stream and connection.
const RECEIVE_WINDOW: u32 = 4 << 20;

/// A running receiver.
pub struct Receiver {
    /// The OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT` for the default protocol, which
    /// posts to `/v1/traces` under it).
    pub endpoint: String,
    /// The OTLP/gRPC URL (with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).
    pub grpc_endpoint: String,
    store: Arc<Store>,
}

/// OTLP/HTTP's `POST /v1/traces`: a binary protobuf `ExportTraceServiceRequest` in, an empty
/// `ExportTraceServiceResponse` out; a JSON body (`http/json`) is refused, as this receiver
/// does not decode it.
async fn http_export(
    axum::extract::State(store): axum::extract::State<Arc<Store>>,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let protobuf = headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    if !protobuf {
        return (
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only application/x-protobuf",
        )
            .into_response();
    }
    store.take(body);
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

impl Receiver {
    /// Starts the receiver on a free port of 127.0.0.1 (on the current tokio runtime).
    pub async fn start() -> Self {
        Self::start_with(Store::Keep(Mutex::default())).await
    }

    /// Starts a receiver that only counts spans: `span_count()` works, `spans()` finds none.
    pub async fn start_counting() -> Self {
        Self::start_with(Store::Count {
            spans: AtomicUsize::new(0),
            undecodable: AtomicUsize::new(0),
        })
        .await
    }

    async fn start_with(store: Store) -> Self {
        let collector = Collector(Arc::new(store));
        let store = Arc::clone(&collector.0);
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind OTLP/HTTP receiver");
        let http_addr = http.local_addr().expect("receiver address");
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(http_export))
            // A batch of a few thousand spans is a few megabytes (axum's default limit is 2 MB).
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(Arc::clone(&store));
        tokio::spawn(async move { axum::serve(http, app).await });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind OTLP receiver");
        let addr = listener.local_addr().expect("receiver address");
        let incoming = tokio_stream_from(listener);
        tokio::spawn(
            // A collector's HTTP/2 windows: grpc-go grows them from its bandwidth-delay estimate,
            // so a batch of a few hundred kilobytes flows without waiting for WINDOW_UPDATEs.
            // h2's default (64 KiB) stalled each batch three times.
            tonic::transport::Server::builder()
                .initial_stream_window_size(RECEIVE_WINDOW)
                .initial_connection_window_size(RECEIVE_WINDOW)
                .add_service(collector)
                .serve_with_incoming(incoming),
        );
        Receiver {
            endpoint: format!("http://{http_addr}"),
            grpc_endpoint: format!("http://{addr}"),
            store,
        }
    }

    /// The export requests received so far, decoded.
    ///
    /// # Panics
    /// When one is not an `ExportTraceServiceRequest`: the exporter under test sent garbage.
    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        let Store::Keep(requests) = &*self.store else {
            return Vec::new();
        };
        requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|b| {
                ExportTraceServiceRequest::decode(b.clone())
                    .expect("the exporter sent an undecodable ExportTraceServiceRequest")
            })
            .collect()
    }

    /// Every span received so far, flattened.
    pub fn spans(&self) -> Vec<Span> {
        let requests = self.requests();
        let mut spans = Vec::new();
        for rs in requests.iter().flat_map(|r| &r.resource_spans) {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                spans.push(Span {
                    service: service.clone(),
                    name: s.name.clone(),
                    kind: s.kind,
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    attributes: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(&a.value)))
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    status: s.status.as_ref().map_or(0, |st| st.code),
                    events: s.events.iter().map(|e| e.name.clone()).collect(),
                });
            }
        }
        spans
    }

    /// How many spans arrived, without flattening them.
    ///
    /// # Panics
    /// When a request did not decode, as `spans()`.
    pub fn span_count(&self) -> usize {
        if let Store::Count { spans, undecodable } = &*self.store {
            let bad = undecodable.load(Ordering::Relaxed);
            assert_eq!(bad, 0, "{bad} export requests did not decode");
            return spans.load(Ordering::Relaxed);
        }
        self.requests()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }
}

/// The number of spans in an encoded `ExportTraceServiceRequest`; `None` when it does not decode
/// down to the spans. Decoded through [`framing`], which declares only the fields that lead to
/// them: prost skips the rest, and each span stays a slice of the request.
fn count_spans(request: &bytes::Bytes) -> Option<usize> {
    let request = framing::Request::decode(request.clone()).ok()?;
    Some(
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum(),
    )
}

/// `ExportTraceServiceRequest`, `ResourceSpans` and `ScopeSpans` cut down to the fields that hold
/// the spans (numbers from the OTLP protos).
mod framing {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(bytes = "bytes", repeated, tag = "2")]
        pub spans: Vec<bytes::Bytes>,
    }
}

fn tokio_stream_from(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let next = l.accept().await.map(|(s, _)| s);
        Some((next, l))
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        common::v1::KeyValue,
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan},
    };

    use super::*;

    fn request(spans_per_scope: &[&[usize]]) -> bytes::Bytes {
        let span = ProtoSpan {
            name: "POST /api/tasks".into(),
            trace_id: vec![7; 16],
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("/api/tasks".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: spans_per_scope
                .iter()
                .map(|scopes| ResourceSpans {
                    resource: Some(Resource::default()),
                    scope_spans: scopes
                        .iter()
                        .map(|&n| ScopeSpans {
                            spans: vec![span.clone(); n],
                            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                })
                .collect(),
        }
        .encode_to_vec()
        .into()
    }

    #[test]
    fn counting_walks_every_resource_and_scope() {
        assert_eq!(count_spans(&request(&[&[3, 0, 2], &[5]])), Some(10));
        assert_eq!(count_spans(&request(&[])), Some(0));
    }

    #[test]
    fn a_broken_request_is_not_counted() {
        let whole = request(&[&[4]]);
        assert_eq!(count_spans(&whole.slice(..whole.len() - 3)), None);
        assert_eq!(
            count_spans(&bytes::Bytes::from_static(&[0x0b, 0x01])),
            None,
            "wire type 3 (groups)"
        );
    }
}
