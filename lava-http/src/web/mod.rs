//! The lab's web pages at LAVA's own URLs under `/scheduler/`, and `/metrics`.
//!
//! Server-rendered HTML (minijinja templates with HTML auto-escaping: every value that
//! reaches a page is escaped) that works without JavaScript; the job page has a few lines
//! of script that follow a running job's log. Pages only read: the one change a page
//! offers (canceling a job) is a POST form, refused without a logged-in user.
//!
//! Who sees what is the lab's rule ([`lava_lab::can_view`], [`lava_lab::can_cancel`]):
//! public jobs are visible to all; private jobs and every change need a user, who logs in
//! with the API's username and token through HTTP basic authentication
//! (`/scheduler/login` asks the browser for them).
//!
//! [`Web::page`] answers a request without HTTP (tests and benches); [`routes`] is the axum
//! side, merged into the API's router.

mod pages;

use crate::auth::parse_basic;
use axum::body::Body;
use axum::extract::{Request, State};
pub use axum::http::Method;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lava_lab::Lab;
use lava_store::User;
use minijinja::Environment;
use std::sync::Arc;

/// The realm of the web pages' basic authentication.
pub const REALM: &str = "lava-rs";

/// An answer to one request, before HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Where to go next (a 303 after a POST, or after logging in).
    pub location: Option<String>,
    /// Ask the browser for a username and token (a 401 that logs in).
    pub challenge: bool,
}

impl Page {
    fn html(status: u16, body: String) -> Self {
        Page {
            status,
            content_type: "text/html; charset=utf-8",
            body,
            location: None,
            challenge: false,
        }
    }

    fn text(body: String) -> Self {
        Page {
            content_type: "text/plain; charset=utf-8",
            ..Page::html(200, body)
        }
    }

    fn json(body: String) -> Self {
        Page {
            content_type: "application/json",
            ..Page::html(200, body)
        }
    }

    fn redirect(to: String) -> Self {
        Page {
            location: Some(to),
            ..Page::html(303, String::new())
        }
    }
}

/// Who asks, as the request's credentials say: nobody, a user, or credentials that do not
/// match. (What that user may see is the lab's [`lava_lab::Viewer`].)
#[derive(Debug, Clone)]
pub enum Login {
    /// No credentials: public pages only.
    Anonymous,
    /// A logged-in user.
    User(User),
    /// Credentials that could not be read or do not match a token.
    Refused,
}

impl Login {
    fn user(&self) -> Option<&User> {
        match self {
            Login::User(user) => Some(user),
            _ => None,
        }
    }
}

/// The web pages over a lab.
#[derive(Clone)]
pub struct Web {
    lab: Arc<Lab>,
    templates: Arc<Environment<'static>>,
}

impl Web {
    /// The pages over `lab`.
    pub fn new(lab: Arc<Lab>) -> Self {
        Web {
            lab,
            templates: Arc::new(pages::templates()),
        }
    }

    /// Who asks, from a request's `Authorization` header.
    pub async fn login(&self, authorization: Option<&[u8]>) -> Login {
        let Some(header) = authorization else {
            return Login::Anonymous;
        };
        let Ok((username, token)) = parse_basic(header) else {
            return Login::Refused;
        };
        match self.lab.authenticate(&username, &token).await {
            Ok(Some(user)) => Login::User(user),
            Ok(None) => Login::Refused,
            Err(e) => {
                tracing::warn!("web login of '{username}' could not be checked: {e}");
                Login::Refused
            }
        }
    }

    /// Answers `method path?query` for `login`. GET never changes the lab.
    pub async fn page(&self, method: &Method, path: &str, query: &str, login: &Login) -> Page {
        if matches!(login, Login::Refused) {
            return self.challenge("The username or token is not valid.");
        }
        let viewer = match self.lab.viewer(login.user()).await {
            Ok(viewer) => viewer,
            Err(e) => {
                let anonymous = lava_lab::Viewer::default();
                let pages = pages::Pages {
                    lab: &self.lab,
                    templates: &self.templates,
                    viewer: None,
                    groups: &anonymous,
                };
                return pages.error(&pages::PageError::from(e));
            }
        };
        let pages = pages::Pages {
            lab: &self.lab,
            templates: &self.templates,
            viewer: login.user(),
            groups: &viewer,
        };
        let segments: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        let result = match (method, segments.as_slice()) {
            (&Method::GET, ["metrics"]) => pages.metrics().await,
            (&Method::GET, ["scheduler"]) => pages.index().await,
            (&Method::GET, ["scheduler", "alljobs"]) => pages.all_jobs(query).await,
            (&Method::GET, ["scheduler", "queue"]) => pages.queue(query).await,
            (&Method::GET, ["scheduler", "alldevices"]) => pages.all_devices().await,
            (&Method::GET, ["scheduler", "allworkers"]) => pages.all_workers().await,
            (&Method::GET, ["scheduler", "login"]) => pages.login(query),
            (&Method::GET, ["scheduler", "job", id]) => pages.job(id).await,
            (&Method::GET, ["scheduler", "job", id, "log_file", "plain"]) => {
                pages.log_plain(id).await
            }
            (&Method::GET, ["scheduler", "job", id, "log_pipeline_incremental"]) => {
                pages.log_incremental(id, query).await
            }
            (&Method::POST, ["scheduler", "job", id, "cancel"]) => pages.cancel(id).await,
            (&Method::GET, ["scheduler", "device", hostname]) => pages.device(hostname).await,
            (&Method::GET, ["scheduler", "worker", hostname]) => pages.worker(hostname).await,
            _ => Err(pages::PageError::NotFound(format!("no page at {path}"))),
        };
        match result {
            Ok(page) => page,
            Err(pages::PageError::LoginRequired(why)) => self.challenge(&why),
            Err(e) => pages.error(&e),
        }
    }

    fn challenge(&self, why: &str) -> Page {
        let anonymous = lava_lab::Viewer::default();
        let mut page = pages::Pages {
            lab: &self.lab,
            templates: &self.templates,
            viewer: None,
            groups: &anonymous,
        }
        .error(&pages::PageError::LoginRequired(why.to_owned()));
        page.challenge = true;
        page
    }
}

/// The pages' routes: LAVA's URLs under `/scheduler/` and `/metrics`. Only these paths
/// are routed, so that other parts of the server can add their own under `/scheduler/`.
pub fn routes(lab: Arc<Lab>) -> Router {
    let get_only = get(serve);
    Router::new()
        .route("/metrics", get_only.clone())
        .route("/scheduler", get_only.clone())
        .route("/scheduler/", get_only.clone())
        .route("/scheduler/login", get_only.clone())
        .route("/scheduler/alljobs", get_only.clone())
        .route("/scheduler/queue", get_only.clone())
        .route("/scheduler/alldevices", get_only.clone())
        .route("/scheduler/allworkers", get_only.clone())
        .route("/scheduler/job/{id}", get_only.clone())
        .route("/scheduler/job/{id}/log_file/plain", get_only.clone())
        .route(
            "/scheduler/job/{id}/log_pipeline_incremental",
            get_only.clone(),
        )
        .route("/scheduler/job/{id}/cancel", axum::routing::post(serve))
        .route("/scheduler/device/{hostname}", get_only.clone())
        .route("/scheduler/worker/{hostname}", get_only)
        .with_state(Web::new(lab))
}

/// Whether a POST comes from a page of this server: a browser says where a form was
/// sent from (`Origin`, or `Sec-Fetch-Site`), so that another site cannot make a logged-in
/// browser change the lab.
fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, o)| o.as_bytes() == host.as_bytes()),
        // No Origin: not a cross-site browser form (browsers send it on every POST).
        (None, _) => true,
        (Some(_), None) => false,
    }
}

async fn serve(State(web): State<Web>, request: Request) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let login = web.login(authorization.as_deref()).await;
    let page = if request.method() == Method::POST && !same_origin(&request) {
        Page::html(
            403,
            "a change sent from another site was refused".to_owned(),
        )
    } else {
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        web.page(request.method(), &path, &query, &login).await
    };
    into_response(page)
}

fn into_response(page: Page) -> Response {
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::from(page.body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(page.content_type),
    );
    // A log or a definition served as text must never be read as HTML by a browser.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(location) = page.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if page.challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"lava-rs\""),
        );
    }
    response
}
