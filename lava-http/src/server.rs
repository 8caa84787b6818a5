//! The HTTP side: axum on tokio, `POST /RPC2`.
//!
//! Each request body is read up to a size limit, authenticated, parsed, dispatched and
//! answered with a `methodResponse`. Nothing a client sends can stop the server: bad XML
//! and bad arguments are faults, and a method that panicked anyway is answered with an
//! internal-error fault instead of taking the connection task down silently. What one
//! client may cost (connections, body size and time, large bodies at once) is bounded by
//! [`Limits`] (see [`crate::limits`]).

use super::auth::{parse_basic, AuthError};
use super::codec::{parse_method_call, write_fault, write_response};
use super::fault::{codes, Fault};
use super::limits::{LimitedListener, Limits, PeerAddr};
use super::methods::{dispatch, Call, Params, METHODS};
use super::worker_api::WorkerApi;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::{FutureExt, StreamExt};
use lava_lab::Lab;
use lava_store::User;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Where LAVA serves XML-RPC, and the port the master uses by default.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// The largest request body read (10 MiB): job definitions, dictionaries and templates are
/// far smaller.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The API over a lab.
#[derive(Clone)]
pub struct Api {
    lab: Arc<Lab>,
    limits: Limits,
    /// Turns for large bodies ([`Limits::large_requests`]).
    large: Arc<Semaphore>,
    /// lava-worker's API, when a master daemon serves it.
    workers: Option<WorkerApi>,
}

impl Api {
    /// The API over `lab`, with the default limits.
    pub fn new(lab: Arc<Lab>) -> Self {
        Api::with_limits(lab, Limits::default())
    }

    /// The API over `lab` with `limits`.
    pub fn with_limits(lab: Arc<Lab>, limits: Limits) -> Self {
        let large = Arc::new(Semaphore::new(limits.large_requests.max(1)));
        Api {
            lab,
            limits,
            large,
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
        self.limits.body = bytes;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn listener(&self, listener: TcpListener) -> LimitedListener {
        LimitedListener::new(listener, self.limits.connections_per_client)
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
        let listener = self.listener(listener);
        // The peer's address: worker auto-registration checks it.
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<PeerAddr>(),
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
        let listener = self.listener(listener);
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<PeerAddr>(),
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
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let (body, turn) = match read_body(&api, body).await {
        Ok(read) => read,
        Err(fault) => return xml(write_fault(&fault)),
    };
    let (status, text) = match turn {
        // A small body is answered here, beside everything else.
        None => api.handle(authorization.as_deref(), &body).await,
        // A large one runs on a blocking thread, holding its turn, so that parsing and
        // checking megabytes never occupies the threads that answer the small ones.
        Some(turn) => {
            let runtime = tokio::runtime::Handle::current();
            let worker = api.clone();
            let handled = tokio::task::spawn_blocking(move || {
                let answer = runtime.block_on(worker.handle(authorization.as_deref(), &body));
                drop(turn);
                answer
            })
            .await;
            match handled {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::error!("XML-RPC request failed: {e}");
                    (200, write_fault(&Fault::internal("the request failed")))
                }
            }
        }
    };
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

/// Reads a request body within the limits: the whole body within
/// [`Limits::body_timeout`], at most [`Limits::body`] bytes, and past
/// [`Limits::small_body`] only with a turn for large bodies, which is returned.
async fn read_body(
    api: &Api,
    body: Body,
) -> Result<(Vec<u8>, Option<OwnedSemaphorePermit>), Fault> {
    let limits = &api.limits;
    let read = async {
        let mut stream = body.into_data_stream();
        let mut out = Vec::new();
        let mut turn = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| cut_short(limits.body))?;
            if out.len() + chunk.len() > limits.body {
                return Err(cut_short(limits.body));
            }
            if turn.is_none() && out.len() + chunk.len() > limits.small_body {
                let wait = tokio::time::timeout(
                    limits.large_request_wait,
                    Arc::clone(&api.large).acquire_owned(),
                );
                match wait.await {
                    Ok(Ok(permit)) => turn = Some(permit),
                    _ => {
                        tracing::warn!("XML-RPC request refused: too many large requests at once");
                        return Err(Fault::new(
                            codes::INTERNAL_ERROR,
                            format!(
                                "the server is busy with {} large requests (over {} bytes): try again later",
                                limits.large_requests, limits.small_body
                            ),
                        ));
                    }
                }
            }
            out.extend_from_slice(&chunk);
        }
        Ok((out, turn))
    };
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(Fault::new(
            codes::INVALID_XML_RPC,
            format!(
                "Unable to decode request: the body did not arrive within {} s",
                limits.body_timeout.as_secs()
            ),
        )),
    }
}

/// Too large, or the client went away: the fault answered, and the connection drops the
/// rest of the body.
fn cut_short(limit: usize) -> Fault {
    Fault::new(
        codes::INVALID_XML_RPC,
        format!("Unable to decode request: the body is larger than {limit} bytes or was cut short"),
    )
}

fn xml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], text).into_response()
}
