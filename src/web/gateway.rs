//! The JSON mapping of the gRPC API that the web workspace speaks.
//!
//! `POST /api/ladder.v1.{Service}/{Method}` with a JSON body (proto3's JSON
//! mapping of the request message; `{}` or nothing for an empty request)
//! is turned into the protobuf request, sent *in process* through the same
//! service stack a gRPC client reaches (request accounting and time limits,
//! authentication with the caller's own `authorization` header, the
//! handlers), and the answer is turned back into JSON: the response message
//! with every field present (proto field names, 64-bit integers as strings,
//! enums by name), or an error object carrying the gRPC code, message,
//! `ErrorInfo` reason and metadata, and the field violations.
//!
//! There is therefore no second API to keep in step: every rule, limit and
//! error of the gRPC API applies unchanged, and a method added to a proto is
//! reachable from the browser without code here. Only unary methods are
//! mapped; streams stay with gRPC clients (the upload has its own endpoint).

use std::collections::HashMap;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::error::Error;

/// Origin recorded on changes made through the web workspace.
pub const WEB_ORIGIN: &str = "web";

/// A unary method the gateway maps.
#[derive(Debug, Clone)]
struct Method {
    input: MessageDescriptor,
    output: MessageDescriptor,
}

/// Maps JSON requests onto the in-process gRPC services.
#[derive(Debug, Clone)]
pub struct Gateway {
    pool: DescriptorPool,
    methods: HashMap<String, Method>,
    streaming: Vec<String>,
    /// Largest JSON request body and largest response message, in bytes.
    max_bytes: usize,
}

impl Gateway {
    /// A gateway for every unary method of the `ladder.v1` services, with
    /// messages up to `max_bytes`.
    pub fn new(max_bytes: usize) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)?;
        let mut methods = HashMap::new();
        let mut streaming = Vec::new();
        for service in pool.services().filter(|s| s.package_name() == "ladder.v1") {
            for m in service.methods() {
                let path = format!("/{}/{}", service.full_name(), m.name());
                if m.is_client_streaming() || m.is_server_streaming() {
                    streaming.push(path);
                } else {
                    methods.insert(path, Method { input: m.input(), output: m.output() });
                }
            }
        }
        Ok(Self { pool, methods, streaming, max_bytes })
    }

    /// Largest message, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Answers one JSON call of `path` (`/ladder.v1.X/Method`): the response
    /// message as JSON, or the error.
    pub async fn unary<S>(
        &self,
        inner: S,
        path: &str,
        parts: &http::request::Parts,
        json: Bytes,
    ) -> Result<Bytes, Status>
    where
        S: Inner,
    {
        let request = self.request(path, &json)?;
        let output = self.method(path)?.output.clone();
        let payload = self.call(inner, path, parts, frame(&request)).await?;
        to_json(output, payload)
    }

    /// A message of type `full_name` (`ladder.v1.SyncRun`) as JSON, mapped
    /// like every answer of [`Gateway::unary`].
    pub fn json_of(&self, full_name: &str, payload: Bytes) -> Result<Bytes, Status> {
        let desc = self
            .pool
            .get_message_by_name(full_name)
            .ok_or_else(|| Status::internal(format!("no message {full_name} in the descriptors")))?;
        to_json(desc, payload)
    }

    /// The unary method at `path`.
    fn method(&self, path: &str) -> Result<&Method, Status> {
        self.methods.get(path).ok_or_else(|| {
            if self.streaming.iter().any(|p| p == path) {
                Error::FailedPrecondition {
                    reason: "STREAMING_METHOD",
                    message: format!("{path} streams: the JSON mapping serves unary methods only (use a gRPC client)"),
                }
                .into()
            } else {
                Error::NotFound { resource: format!("method {path}") }.into()
            }
        })
    }

    /// The protobuf encoding of a JSON request to the unary method at `path`
    /// (an empty body is the empty message). Unknown fields are refused.
    pub fn request(&self, path: &str, json: &[u8]) -> Result<Vec<u8>, Status> {
        let input = self.method(path)?.input.clone();
        let json: &[u8] = if json.iter().all(u8::is_ascii_whitespace) { b"{}" } else { json };
        let mut de = serde_json::Deserializer::from_slice(json);
        DynamicMessage::deserialize(input.clone(), &mut de).and_then(|m| de.end().map(|()| m.encode_to_vec())).map_err(
            |e| {
                Status::from(Error::InvalidArgument {
                    reason: "UNDECODABLE_REQUEST",
                    message: format!("the JSON body is not a {}: {e}", input.full_name()),
                    violations: Vec::new(),
                })
            },
        )
    }

    /// Sends an encoded gRPC request body (one or more frames) to `path`
    /// through the service stack, as the caller of `parts` (its
    /// authorization, its connection), with origin `web`; returns the
    /// response message's bytes.
    pub async fn call<S>(
        &self,
        mut inner: S,
        path: &str,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<Bytes, Status>
    where
        S: Inner,
    {
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .version(http::Version::HTTP_2)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header(crate::api::ORIGIN_HEADER, WEB_ORIGIN)
            .body(tonic::body::Body::new(http_body_util::Full::new(body)))
            .map_err(|e| Status::internal(format!("cannot build the call: {e}")))?;
        if let Some(auth) = parts.headers.get(http::header::AUTHORIZATION) {
            request.headers_mut().insert(http::header::AUTHORIZATION, auth.clone());
        }
        *request.extensions_mut() = parts.extensions.clone();
        let unavailable = |e: S::Error| {
            tracing::warn!(error = %e.into(), "the web gateway could not reach the services");
            Status::unavailable("the service is not available: try again")
        };
        std::future::poll_fn(|cx| inner.poll_ready(cx)).await.map_err(unavailable)?;
        let response = inner.call(request).await.map_err(unavailable)?;
        let (head, body) = response.into_parts();
        if let Some(status) = Status::from_header_map(&head.headers).filter(|s| s.code() != Code::Ok) {
            return Err(status);
        }
        // A response message within the limit, plus its frame header.
        let collected = http_body_util::Limited::new(body, self.max_bytes + 5).collect().await.map_err(|e| {
            tracing::debug!(error = %e, "the web gateway could not read a response");
            Status::from(Error::ResourceExhausted {
                reason: "RESPONSE_TOO_LARGE",
                message: format!("the response could not be read whole (limit {} bytes)", self.max_bytes),
            })
        })?;
        if let Some(status) = collected.trailers().and_then(Status::from_header_map).filter(|s| s.code() != Code::Ok) {
            return Err(status);
        }
        unframe(collected.to_bytes())
    }
}

/// Decodes `payload` as `desc` and writes it as JSON: proto field names,
/// every field without presence written even at its default.
fn to_json(desc: MessageDescriptor, payload: Bytes) -> Result<Bytes, Status> {
    let name = desc.full_name().to_string();
    let message = DynamicMessage::decode(desc, payload)
        .map_err(|e| Status::internal(format!("undecodable {name} from the service: {e}")))?;
    let mut out = Vec::with_capacity(256);
    let options = SerializeOptions::new().use_proto_field_name(true).skip_default_fields(false);
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options)
        .map_err(|e| Status::internal(format!("cannot write {name} as JSON: {e}")))?;
    Ok(out.into())
}

/// The service stack the gateway calls (the gRPC routes with their layers).
pub trait Inner:
    tower_service::Service<
        http::Request<tonic::body::Body>,
        Response = http::Response<tonic::body::Body>,
        Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        Future: Send,
    > + Send
{
}

impl<S> Inner for S where
    S: tower_service::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            Future: Send,
        > + Send
{
}

/// One gRPC frame: uncompressed flag, big-endian length, the message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 5);
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// The message of a unary response body (one uncompressed frame).
fn unframe(mut body: Bytes) -> Result<Bytes, Status> {
    if body.len() < 5 || body[0] != 0 {
        return Err(Status::internal("the service answered without a message"));
    }
    body.advance(1);
    let len = body.get_u32() as usize;
    if body.len() < len {
        return Err(Status::internal("the service's answer was cut short"));
    }
    Ok(body.split_to(len))
}

/// An error as the JSON the web workspace reads: the gRPC code (name and
/// number), message, `ErrorInfo` reason and metadata, and field violations.
pub fn error_json(status: &Status) -> serde_json::Value {
    let details = status.get_error_details();
    let info = details.error_info();
    let violations: Vec<serde_json::Value> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| serde_json::json!({ "field": v.field, "description": v.description, "reason": v.reason }))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "code": code_name(status.code()),
        "grpc_code": status.code() as i32,
        "message": status.message(),
        "reason": info.map(|i| i.reason.clone()).unwrap_or_default(),
        "metadata": info.map(|i| i.metadata.clone()).unwrap_or_default(),
        "violations": violations,
    })
}

/// The HTTP status that stands for a gRPC code (as in Google's HTTP mapping).
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as H;
    match code {
        Code::Ok => H::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => H::BAD_REQUEST,
        Code::Unauthenticated => H::UNAUTHORIZED,
        Code::PermissionDenied => H::FORBIDDEN,
        Code::NotFound => H::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => H::CONFLICT,
        Code::ResourceExhausted => H::TOO_MANY_REQUESTS,
        Code::Cancelled => H::from_u16(499).unwrap_or(H::BAD_REQUEST),
        Code::Unimplemented => H::NOT_IMPLEMENTED,
        Code::Unavailable => H::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        _ => H::INTERNAL_SERVER_ERROR,
    }
}

/// The code's name as in the gRPC spec (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_unary_ladder_method_and_knows_the_streams() {
        let g = Gateway::new(1 << 20).unwrap();
        assert!(g.methods.contains_key("/ladder.v1.EnterpriseService/GetEnterprise"));
        assert!(g.methods.contains_key("/ladder.v1.ProjectService/GetProjectFunnel"));
        assert!(g.streaming.iter().any(|p| p == "/ladder.v1.SyncService/SyncEnterprises"));
        assert!(g.streaming.iter().any(|p| p == "/ladder.v1.ChangeService/WatchChanges"));
        assert!(!g.methods.contains_key("/ladder.v1.ChangeService/WatchChanges"));
    }

    #[test]
    fn frames_round_trip_and_short_bodies_are_refused() {
        assert_eq!(unframe(frame(b"abc")).unwrap(), Bytes::from_static(b"abc"));
        assert_eq!(unframe(frame(b"")).unwrap(), Bytes::new());
        assert_eq!(unframe(Bytes::from_static(&[0, 0, 0, 0, 9, 1])).unwrap_err().code(), Code::Internal);
        assert_eq!(unframe(Bytes::from_static(&[0, 0])).unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn errors_carry_reason_and_violations() {
        let status: Status = Error::invalid_field("enterprise.display_name", "EMPTY", "must not be empty").into();
        let json = error_json(&status);
        assert_eq!(json["code"], "INVALID_ARGUMENT");
        assert_eq!(json["reason"], "EMPTY");
        assert_eq!(json["violations"][0]["field"], "enterprise.display_name");
        assert_eq!(http_status(status.code()), http::StatusCode::BAD_REQUEST);
    }
}
