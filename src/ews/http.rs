//! The HTTP server: hyper serves each connection, with a timeout on
//! reading the request head, and axum routes `POST /EWS/Exchange.asmx` to
//! `Endpoint::answer`.
//!
//! Why hyper under axum rather than `axum::serve`: the limits are
//! per-connection settings (a header-read timeout, a bound on open
//! connections) that `axum::serve` does not expose. Each connection is
//! still served by hyper and routed by axum; nothing here parses HTTP.

use super::endpoint::Endpoint;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The one path the endpoint serves, as Exchange spells it.
pub const EWS_PATH: &str = "/EWS/Exchange.asmx";

/// Serves `endpoint` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) -> std::io::Result<()> {
    let limits = endpoint.limits;
    let router = Router::new()
        .route(EWS_PATH, post(handle))
        .with_state(Arc::clone(&endpoint));
    let open = Arc::new(Semaphore::new(limits.connections_max));
    loop {
        let (stream, _) = listener.accept().await?;
        let io = TokioIo::new(stream);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.request_timeout);
        match Arc::clone(&open).try_acquire_owned() {
            Ok(permit) => {
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    // A client that goes away mid-request is its own affair.
                    let _ = http.serve_connection(io, service).await;
                    drop(permit);
                });
            }
            Err(_) => {
                // Over the bound: answer 503 and close, rather than leave
                // the client waiting in the backlog.
                let connections_max = limits.connections_max;
                let busy = Router::new().fallback(move || async move {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CONNECTION, "close"), (header::RETRY_AFTER, "1")],
                        format!(
                            "503 Service Unavailable: more than {} connections are open\n",
                            connections_max
                        ),
                    )
                });
                tokio::spawn(async move {
                    let _ = http
                        .keep_alive(false)
                        .serve_connection(io, TowerToHyperService::new(busy))
                        .await;
                });
            }
        }
    }
}

/// One request: its body read within the limits, then answered.
async fn handle(State(endpoint): State<Arc<Endpoint>>, headers: HeaderMap, body: Body) -> Response {
    let limits = endpoint.limits;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Credentials first: an unauthenticated client gets 401 before its
    // body is read (DEC-075).
    let user = endpoint.user_of(authorization);
    if user.is_none() {
        return reply(endpoint.answer_for(None, b""));
    }
    let read = axum::body::to_bytes(body, limits.body_bytes_max);
    let bytes = match tokio::time::timeout(limits.request_timeout, read).await {
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "408 Request Timeout: the body did not arrive within {} s\n",
                    limits.request_timeout.as_secs()
                ),
            )
                .into_response();
        }
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "413 Payload Too Large: found a body over {} bytes, expected at most that\n",
                    limits.body_bytes_max
                ),
            )
                .into_response();
        }
        Ok(Ok(b)) => b,
    };
    reply(endpoint.answer_for(user, &bytes))
}

/// The HTTP response of a reply.
fn reply(reply: super::endpoint::Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"offline-im\""),
        );
    }
    let content_type = if status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR {
        "text/xml; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
