//! The HTTP side: axum on tokio, `POST /RPC2`.
//!
//! Each request body is read up to a size limit, authenticated, parsed, dispatched and
//! answered with a `methodResponse`. Nothing a client sends can stop the server: bad XML
//! and bad arguments are faults, and a method that panicked anyway is answered with an
//! internal-error fault instead of taking the connection task down silently.

use super::auth::{parse_basic, AuthError};
use super::codec::{parse_method_call, write_fault, write_response};
use super::fault::{codes, Fault};
use super::methods::{dispatch, Call, Params, METHODS};
use super::worker_api::WorkerApi;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::FutureExt;
use lava_lab::Lab;
use lava_store::User;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Where LAVA serves XML-RPC, and the port the master uses by default.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// The largest request body read (10 MiB): job definitions, dictionaries and templates are
/// far smaller.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The API over a lab.
#[derive(Clone)]
pub struct Api {
    lab: Arc<Lab>,
    body_limit: usize,
    /// lava-worker's API, when a master daemon serves it.
    workers: Option<WorkerApi>,
}

impl Api {
    /// The API over `lab`, with the default body limit.
    pub fn new(lab: Arc<Lab>) -> Self {
        Api {
            lab,
            body_limit: DEFAULT_BODY_LIMIT,
            workers: None,
        }
    }

    /// Also serves lava-worker's API (`/scheduler/internal/v1/`) on the same port.
    pub fn with_workers(mut self, workers: WorkerApi) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Sets the largest request body accepted, in bytes.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The axum router serving `/RPC2`.
    pub fn router(self) -> Router {
        let workers = self.workers.clone();
        let router = Router::new()
            .route("/RPC2", post(rpc2))
            .route("/RPC2/", post(rpc2))
            .with_state(self.clone())
            .merge(super::web::routes(Arc::clone(&self.lab)));
        match workers {
            Some(workers) => router.merge(workers.router()),
            None => router,
        }
    }

    /// Serves on a bound listener until the task is dropped or the listener fails.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }

    /// Serves on a bound listener until `shutdown` completes, then finishes the requests
    /// in flight.
    pub async fn serve_until(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The peer's address: worker auto-registration checks it.
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }

    /// Binds `addr` (e.g. `127.0.0.1:8000`) and serves.
    pub async fn bind_and_serve(self, addr: SocketAddr) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(%addr, "XML-RPC API listening on /RPC2");
        self.serve(listener).await
    }

    /// Answers one request body from an optional `Authorization` header: the HTTP status
    /// and the response body. This is the whole API without HTTP, for tests and benches.
    pub async fn handle(&self, authorization: Option<&[u8]>, body: &[u8]) -> (u16, String) {
        let metrics = self.lab.metrics();
        let user = match self.authenticate(authorization).await {
            Ok(user) => user,
            Err(Ok(refused)) => {
                metrics.api_request("-", &refused.status().to_string());
                return (refused.status(), refused.to_string());
            }
            Err(Err(fault)) => {
                metrics.api_request("-", &fault.code.to_string());
                return (200, write_fault(&fault));
            }
        };
        let (method, result) = self.call(user, body).await;
        let text = match result {
            Ok(value) => {
                metrics.api_request(method, "ok");
                write_response(&value)
            }
            Err(fault) => {
                metrics.api_request(method, &fault.code.to_string());
                write_fault(&fault)
            }
        };
        (200, text)
    }

    /// The caller of a request: `Err(Ok(_))` when HTTP refuses it, `Err(Err(_))` when the
    /// store failed to check the token.
    async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<Option<User>, Result<AuthError, Fault>> {
        let Some(header) = authorization else {
            return Ok(None);
        };
        let (username, token) = parse_basic(header).map_err(Ok)?;
        match self.lab.authenticate(&username, &token).await {
            Ok(Some(user)) => Ok(Some(user)),
            Ok(None) => Err(Ok(AuthError::InvalidToken)),
            Err(e) => Err(Err(e.into())),
        }
    }

    /// Calls the method of `body`; also answers the method's name as metrics count it
    /// (`-` for a body that is no call, `unknown` for a method that does not exist).
    async fn call(
        &self,
        user: Option<User>,
        body: &[u8],
    ) -> (&'static str, Result<super::value::Value, Fault>) {
        let call = match parse_method_call(body) {
            Ok(call) => call,
            Err(fault) => return ("-", Err(fault)),
        };
        let method = call.method.clone();
        let known = METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .map_or("unknown", |(name, _)| name);
        (known, self.dispatch(user, call, method).await)
    }

    async fn dispatch(
        &self,
        user: Option<User>,
        call: super::codec::MethodCall,
        method: String,
    ) -> Result<super::value::Value, Fault> {
        let ctx = Call {
            lab: self.lab.as_ref(),
            user,
            params: Params::new(call.method, call.params),
        };
        match AssertUnwindSafe(dispatch(&method, ctx))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(_) => {
                tracing::error!(%method, "XML-RPC method panicked");
                Err(Fault::internal(format!("{method} failed")))
            }
        }
    }
}

async fn rpc2(State(api): State<Api>, headers: HeaderMap, body: Body) -> Response {
    let body: Bytes = match axum::body::to_bytes(body, api.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            // Too large (or the client went away): answer a fault and let the connection
            // drop the rest of the body.
            let fault = Fault::new(
                codes::INVALID_XML_RPC,
                format!(
                    "Unable to decode request: the body is larger than {} bytes or was cut short",
                    api.body_limit
                ),
            );
            return xml(write_fault(&fault));
        }
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let (status, text) = api.handle(authorization, &body).await;
    if status == 200 {
        return xml(text);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, text).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"XML-RPC Authentication token\""),
        );
    }
    response
}

fn xml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], text).into_response()
}
