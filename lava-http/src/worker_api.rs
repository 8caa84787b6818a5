//! LAVA's HTTP worker API (`lava-worker` and `lava-run`, LAVA 2020.09 and later) under
//! `/scheduler/internal/v1/`, on the same port as `/RPC2`.
//!
//! This module is the HTTP side only: it reads forms and headers, checks tokens through the
//! [`Lab`], and answers with LAVA's status codes and JSON bodies (`{"error": "…"}` on an
//! error). The decisions are the master's: each authenticated request goes to the master
//! daemon as a [`WorkerRequest`] over a channel, and the daemon (which owns the
//! [`HttpMaster`](lava_core::worker_http::HttpMaster) machine, the job logs and the store
//! writes) answers once what the request changed is stored. Every refusal is logged with
//! its reason. `docs/worker-http.md` describes the whole.

use crate::limits::PeerAddr;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use lava_core::master::StartPayload;
use lava_core::model::{ErrorType, JobId};
use lava_core::worker_http::batch::{BatchError, LogBatch};
use lava_core::worker_http::form::Form;
use lava_core::worker_http::{websocket, FinishedReport, PingAnswer, TOKEN_HEADER};
use lava_lab::{AutoRegistration, Lab, Registration};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, warn};

/// The largest form accepted outside log uploads (FINISHED carries stderr and the
/// description): 16 MiB.
pub const FORM_LIMIT: usize = 16 << 20;
/// The largest log upload accepted: 64 MiB (1000 records; lava-run caps each at 10⁶
/// characters, and real batches are far smaller). Larger ones get 413, as LAVA 2024.03+.
pub const LOG_BATCH_LIMIT: usize = 64 << 20;
/// How many requests may wait for the master daemon.
pub const QUEUE: usize = 1024;
/// How many events a slow event-socket client may lag behind before it misses some (it
/// then still polls every ping interval).
pub const EVENTS: usize = 256;

/// A refusal: the HTTP status and LAVA's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status.
    pub status: u16,
    /// The text of `{"error": …}`.
    pub message: String,
}

impl Refusal {
    /// A refusal with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// 503: the master cannot answer now (starting, or the store refuses); lava-worker and
    /// lava-run try again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Refusal::new(503, message)
    }
}

/// What the master daemon answers.
pub type Reply<T> = Result<T, Refusal>;

/// An authenticated request for the master daemon; it answers on `reply`.
#[derive(Debug)]
pub enum WorkerRequest {
    /// A ping.
    Ping {
        /// The worker.
        worker: String,
        /// Its version.
        version: String,
        /// The answer.
        reply: oneshot::Sender<Reply<PingAnswer>>,
    },
    /// `GET jobs/<id>/`.
    Fetch {
        /// The job.
        job: JobId,
        /// The answer.
        reply: oneshot::Sender<Reply<StartPayload>>,
    },
    /// `state=RUNNING`.
    Running {
        /// The job.
        job: JobId,
        /// The answer.
        reply: oneshot::Sender<Reply<()>>,
    },
    /// `state=FINISHED`.
    Finished {
        /// The job.
        job: JobId,
        /// What it says.
        report: FinishedReport,
        /// The answer.
        reply: oneshot::Sender<Reply<()>>,
    },
    /// A batch of lava-run's log records (already checked to split into records).
    Logs {
        /// The job.
        job: JobId,
        /// The `lines` field.
        lines: String,
        /// The `index` field.
        index: u64,
        /// The answer: `line_count`.
        reply: oneshot::Sender<Reply<usize>>,
    },
}

/// The worker API: the lab (tokens, registration) and the way to the master daemon.
#[derive(Clone)]
pub struct WorkerApi {
    lab: Arc<Lab>,
    master: mpsc::Sender<WorkerRequest>,
    registration: Arc<AutoRegistration>,
    events: broadcast::Sender<String>,
}

impl WorkerApi {
    /// The API over `lab`, sending requests to the daemon that reads the receiver.
    pub fn new(
        lab: Arc<Lab>,
        registration: AutoRegistration,
    ) -> (Self, mpsc::Receiver<WorkerRequest>) {
        let (master, requests) = mpsc::channel(QUEUE);
        let (events, _) = broadcast::channel(EVENTS);
        let api = WorkerApi {
            lab,
            master,
            registration: Arc::new(registration),
            events,
        };
        (api, requests)
    }

    /// Where the daemon publishes job events for the event socket (`/ws/`): the texts of
    /// [`job_event`](lava_core::worker_http::websocket::job_event).
    pub fn events(&self) -> broadcast::Sender<String> {
        self.events.clone()
    }

    /// The routes under `/scheduler/internal/v1/`.
    pub fn router(self) -> Router {
        Router::new()
            .route(
                "/scheduler/internal/v1/workers/",
                post(register).get(not_allowed),
            )
            .route(
                "/scheduler/internal/v1/workers/{name}/",
                get(ping).post(register_named),
            )
            .route("/scheduler/internal/v1/jobs/{id}/", get(fetch).post(state))
            .route("/scheduler/internal/v1/jobs/{id}/logs/", post(logs))
            .route("/ws/", get(event_socket))
            .with_state(self)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Reply<T>>) -> WorkerRequest,
    ) -> Reply<T> {
        let (reply, answer) = oneshot::channel();
        if self.master.send(make(reply)).await.is_err() {
            return Err(Refusal::unavailable("the master is stopping"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Refusal::unavailable("the master dropped the request")))
    }
}

fn json(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refused(what: &str, refusal: Refusal) -> Response {
    if refusal.status >= 500 {
        debug!("{what}: {} {}", refusal.status, refusal.message);
    } else {
        warn!(
            "{what}: refused with {}: {}",
            refusal.status, refusal.message
        );
    }
    json(
        refusal.status,
        serde_json::json!({ "error": refusal.message }),
    )
}

fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn lab_failed(e: &lava_lab::LabError) -> Refusal {
    Refusal::unavailable(format!("the master cannot check the request now: {e}"))
}

async fn read_form(body: Body, limit: usize) -> Result<Form, Refusal> {
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Refusal::new(
            413,
            format!("Request body larger than {limit} bytes (or cut short)"),
        )
    })?;
    Form::parse(&bytes).map_err(|e| Refusal::new(400, format!("Malformed form: {e}")))
}

fn job_id(text: &str) -> Result<JobId, Refusal> {
    text.parse::<JobId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Refusal::new(404, format!("Unknown job '{text}'")))
}

/// Checks the job token; the job's id or the refusal.
async fn job_access(api: &WorkerApi, id: &str, headers: &HeaderMap) -> Result<JobId, Refusal> {
    let id = job_id(id)?;
    match api.lab.check_job_token(id, token(headers)).await {
        Ok(Ok(_)) => Ok(id),
        Ok(Err(refusal)) => Err(Refusal::new(refusal.status(), refusal.to_string())),
        Err(e) => Err(lab_failed(&e)),
    }
}

/// The client's address: the peer's, or, when the peer is this host (a reverse proxy in
/// front of the master), the first `X-Forwarded-For` entry as LAVA reads it. A header from
/// any other peer is ignored: anyone could claim to be 127.0.0.1 with it.
fn client_ip(request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(addr))| addr.ip())?;
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = request
        .headers()
        .get("X-Forwarded-For")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok());
    Some(forwarded.unwrap_or(peer))
}

async fn register(State(api): State<WorkerApi>, request: Request) -> Response {
    let what = "worker registration";
    let Some(from) = client_ip(&request) else {
        return refused(what, Refusal::new(403, "Unknown client address"));
    };
    let form = match read_form(request.into_body(), FORM_LIMIT).await {
        Ok(form) => form,
        Err(r) => return refused(what, r),
    };
    let Some(name) = form.get("name") else {
        return refused(what, Refusal::new(400, "Missing 'name'"));
    };
    let credentials = form.get("username").zip(form.get("password"));
    let request = Registration {
        name,
        from,
        credentials,
    };
    match api.lab.register_worker(&request, &api.registration).await {
        Ok(Ok(token)) => json(200, serde_json::json!({ "name": name, "token": token })),
        Ok(Err(refusal)) => refused(
            &format!("registration of worker '{name}' from {from}"),
            Refusal::new(refusal.status(), refusal.to_string()),
        ),
        Err(e) => refused(what, lab_failed(&e)),
    }
}

async fn register_named(Path(name): Path<String>) -> Response {
    refused(
        &format!("POST workers/{name}/"),
        Refusal::new(403, "Workers register with POST workers/"),
    )
}

async fn not_allowed(method: Method) -> Response {
    refused(
        "workers/",
        Refusal::new(405, format!("Method {method} not allowed")),
    )
}

async fn ping(
    State(api): State<WorkerApi>,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let what = format!("ping of worker '{name}'");
    match api.lab.check_worker_token(&name, token(&headers)).await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            return refused(&what, Refusal::new(refusal.status(), refusal.to_string()))
        }
        Err(e) => return refused(&what, lab_failed(&e)),
    }
    let query = request.uri().query().unwrap_or("");
    let version = match Form::parse(query.as_bytes()) {
        Ok(form) => form.get("version").map(str::to_owned),
        Err(e) => return refused(&what, Refusal::new(400, format!("Malformed query: {e}"))),
    };
    let Some(version) = version else {
        return refused(&what, Refusal::new(400, "Missing 'version'"));
    };
    let answer = api
        .ask(|reply| WorkerRequest::Ping {
            worker: name.clone(),
            version,
            reply,
        })
        .await;
    match answer {
        Ok(PingAnswer::Jobs(lists)) => json(200, serde_json::json!(lists)),
        Ok(PingAnswer::VersionMismatch { worker, server }) => refused(
            &what,
            Refusal::new(409, format!("Version mismatch '{worker}' vs '{server}'")),
        ),
        Err(r) => refused(&what, r),
    }
}

async fn fetch(
    State(api): State<WorkerApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let what = format!("fetch of job {id}");
    let job = match job_access(&api, &id, &headers).await {
        Ok(job) => job,
        Err(r) => return refused(&what, r),
    };
    match api.ask(|reply| WorkerRequest::Fetch { job, reply }).await {
        // Never null: a null dispatcher config makes lava-worker 2023.01 exit (trap 17).
        Ok(payload) => json(
            200,
            serde_json::json!({
                "definition": payload.job,
                "device": payload.device,
                "dispatcher": payload.dispatcher,
                "env": payload.env,
                "env-dut": payload.env_dut,
            }),
        ),
        Err(r) => refused(&what, r),
    }
}

async fn state(
    State(api): State<WorkerApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let what = format!("state report of job {id}");
    let job = match job_access(&api, &id, &headers).await {
        Ok(job) => job,
        Err(r) => return refused(&what, r),
    };
    let form = match read_form(body, FORM_LIMIT).await {
        Ok(form) => form,
        Err(r) => return refused(&what, r),
    };
    let state = form.get("state").unwrap_or("").to_ascii_uppercase();
    let answer = match state.as_str() {
        "RUNNING" => api.ask(|reply| WorkerRequest::Running { job, reply }).await,
        "FINISHED" => {
            let passed = match form.get("result") {
                Some("pass") => true,
                Some("fail") => false,
                _ => return refused(&what, Refusal::new(400, "Invalid health")),
            };
            let report = FinishedReport {
                passed,
                error_type: ErrorType::from_name(form.get("error_type").unwrap_or("")),
                errors: form.get("errors").unwrap_or("").to_owned(),
                description: form.get("description").unwrap_or("").to_owned(),
            };
            api.ask(|reply| WorkerRequest::Finished { job, report, reply })
                .await
        }
        "" => return refused(&what, Refusal::new(400, "Missing 'state'")),
        other => return refused(&what, Refusal::new(400, format!("Invalid state '{other}'"))),
    };
    match answer {
        Ok(()) => json(200, serde_json::json!({})),
        Err(r) => refused(&what, r),
    }
}

async fn logs(
    State(api): State<WorkerApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let what = format!("log upload of job {id}");
    let job = match job_access(&api, &id, &headers).await {
        Ok(job) => job,
        Err(r) => return refused(&what, r),
    };
    let form = match read_form(body, LOG_BATCH_LIMIT).await {
        Ok(form) => form,
        Err(r) => return refused(&what, r),
    };
    let batch = match check_batch(&form) {
        Ok(batch) => batch,
        Err(e) => return refused(&what, Refusal::new(400, e.to_string())),
    };
    let (lines, index) = batch;
    match api
        .ask(|reply| WorkerRequest::Logs {
            job,
            lines,
            index,
            reply,
        })
        .await
    {
        Ok(count) => json(200, serde_json::json!({ "line_count": count })),
        Err(r) => refused(&what, r),
    }
}

/// The `lines` (checked to be a list of records) and `index` of a log upload.
pub fn check_batch(form: &Form) -> Result<(String, u64), BatchError> {
    let batch = LogBatch::from_form(form)?;
    Ok((
        form.get("lines").unwrap_or_default().to_owned(),
        batch.index,
    ))
}

/// `GET /ws/`: the event socket lava-worker listens on (worker-http.md §2.6). lava-rs sends
/// a `.testjob` event when a job is scheduled to or canceled on a worker, so that it polls
/// at once; it answers pings and a close, and reads nothing else. Without it a 2023.01
/// worker retries the handshake every second for ever (trap 13).
async fn event_socket(State(api): State<WorkerApi>, mut request: Request) -> Response {
    let headers = request.headers();
    let upgrade = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("Sec-WebSocket-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (true, Some(key)) = (upgrade, key) else {
        return refused(
            "event socket",
            Refusal::new(400, "Expected a WebSocket handshake"),
        );
    };
    let Some(on_upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return refused(
            "event socket",
            Refusal::new(426, "This connection cannot be upgraded"),
        );
    };
    let events = api.events.subscribe();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                serve_event_socket(hyper_util::rt::TokioIo::new(upgraded), events).await
            }
            Err(e) => debug!("event socket: upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(axum::http::header::UPGRADE, "websocket")
        .header(axum::http::header::CONNECTION, "upgrade")
        .header("Sec-WebSocket-Accept", websocket::accept_key(&key))
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn serve_event_socket<S>(stream: S, mut events: broadcast::Receiver<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use websocket::{decode_frame, encode_frame, Opcode};
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buffer.extend_from_slice(&chunk[..n]);
                loop {
                    let (frame, used) = match decode_frame(&buffer) {
                        Ok(Some(decoded)) => decoded,
                        Ok(None) => break,
                        Err(e) => {
                            warn!("event socket: {e}; closing it");
                            let _ = writer.write_all(&encode_frame(Opcode::Close, &[])).await;
                            return;
                        }
                    };
                    buffer.drain(..used);
                    let answer = match frame.opcode {
                        Opcode::Ping => encode_frame(Opcode::Pong, &frame.payload),
                        Opcode::Close => {
                            let _ = writer.write_all(&encode_frame(Opcode::Close, &[])).await;
                            return;
                        }
                        _ => continue,
                    };
                    if writer.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
            event = events.recv() => {
                let text = match event {
                    Ok(text) => text,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        debug!(missed, "event socket: a slow client missed events");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = writer.write_all(&encode_frame(Opcode::Close, &[])).await;
                        return;
                    }
                };
                if writer.write_all(&encode_frame(Opcode::Text, text.as_bytes())).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{client_ip, ConnectInfo, PeerAddr, Request};
    use axum::body::Body;
    use std::net::IpAddr;

    fn request(peer: &str, forwarded: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/scheduler/internal/v1/workers/");
        if let Some(forwarded) = forwarded {
            builder = builder.header("X-Forwarded-For", forwarded);
        }
        let mut request = builder.body(Body::empty()).unwrap();
        let peer = PeerAddr(peer.parse().unwrap());
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_proxy_on_this_host() {
        // A remote client cannot pass the loopback-only registration by claiming 127.0.0.1.
        let spoofed = request("192.0.2.7:40000", Some("127.0.0.1"));
        assert_eq!(client_ip(&spoofed), ip("192.0.2.7"));
        let proxied = request("127.0.0.1:40000", Some("198.51.100.3, 127.0.0.1"));
        assert_eq!(client_ip(&proxied), ip("198.51.100.3"));
        let local = request("[::1]:40000", Some("not an address"));
        assert_eq!(client_ip(&local), ip("::1"));
        let no_peer = Request::builder().body(Body::empty()).unwrap();
        assert_eq!(client_ip(&no_peer), None);
    }
}
