//! Sign-in for people in a browser: a token typed once into `/login` becomes
//! a server-side session named by a cookie, so staff, sponsors and
//! organisations work in forms instead of sending `Authorization` headers.
//!
//! - `GET /login` shows the form (field `token`); `POST /login`
//!   (form-urlencoded) checks the token with the `TokenRegistry`, creates a
//!   session (a random 32-byte id) and sets the cookie `mz_session`
//!   (HttpOnly, SameSite=Strict, Path=/, Max-Age, and Secure when the server
//!   is configured as running behind TLS), then answers 303 to the role's
//!   home: operators `/console`, sponsors `/sponsor`, organisations
//!   `/organisation`, auditors the public page `/`.
//! - Failed sign-ins are rate-limited per client address and globally
//!   (`SIGN_IN_FAILURES_PER_ADDRESS`, `SIGN_IN_FAILURES_GLOBAL` a minute):
//!   past the limit `POST /login` answers 429 with `Retry-After`, without
//!   looking at the token.
//! - `POST /logout` ends the session and clears the cookie.
//!
//! The token is never put in a URL nor echoed into a page: the form posts
//! its body, and a refused sign-in shows an empty field.
//!
//! **Store:** sessions live in memory in this process (a map from id to
//! principal, CSRF token and expiry). A restart signs everyone out; several
//! servers behind one address need sticky routing. Each request re-checks
//! the session's token in tokens.json, so revoking a token ends its
//! sessions from the next request on.
//!
//! # Using the session in a handler
//!
//! A page for signed-in people takes [`SignedIn`]; without a valid session
//! the request is answered 303 to `/login` before the handler runs:
//!
//! ```ignore
//! async fn statement(State(state): State<AppState>, signed_in: SignedIn) -> Response {
//!     let Principal::Sponsor { donor_id, .. } = &signed_in.principal else {
//!         return session::wrong_role(&signed_in, "sponsor");
//!     };
//!     // every form rendered here carries session::csrf_field(&signed_in)
//! }
//! ```
//!
//! Every POST made with a session takes [`SignedInForm`] instead: it is
//! `SignedIn` plus the form's fields, and it refuses with 403 (nothing read
//! further, nothing written) a form whose hidden `csrf` field is missing or
//! differs from the session's (compared in constant time). Render
//! [`csrf_field`] inside every `<form method="post">`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use parking_lot::Mutex;
use rand::RngCore;

use crate::auth::Principal;
use crate::state::AppState;

/// The cookie naming a session.
pub const SESSION_COOKIE: &str = "mz_session";
/// The hidden form field carrying the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// How long a session lasts when the configuration says nothing: a
/// working day.
pub const SESSION_MAX_AGE_DEFAULT: Duration = Duration::from_secs(8 * 3600);
/// Failed sign-ins one client address may make in `SIGN_IN_WINDOW`.
pub const SIGN_IN_FAILURES_PER_ADDRESS: usize = 5;
/// Failed sign-ins all addresses together may make in `SIGN_IN_WINDOW`:
/// bounds the hashing and logging a spread-out guesser can cause.
pub const SIGN_IN_FAILURES_GLOBAL: usize = 100;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);
/// Live sessions kept at most; signing in beyond it first drops the
/// expired ones, then refuses (503) rather than grow without bound.
pub const SESSIONS_MAX: usize = 100_000;
/// Longest form body a session POST reads (the console's largest form is a
/// pledge with its instalments, a few KiB).
pub const FORM_LEN_MAX: usize = 64 * 1024;

/// How sessions are issued (`config`: `session_max_age_seconds`,
/// `behind_tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub max_age: Duration,
    /// The server is reached over HTTPS (a TLS-terminating proxy in front):
    /// cookies are marked Secure so a browser never sends them in clear.
    pub behind_tls: bool,
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings {
            max_age: SESSION_MAX_AGE_DEFAULT,
            behind_tls: false,
        }
    }
}

struct Session {
    principal: Principal,
    csrf: String,
    expires_at: Instant,
}

/// The live sessions and the sign-in limiter of one server.
pub struct Sessions {
    settings: SessionSettings,
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<SignInFailures>,
}

impl Sessions {
    pub fn new(settings: SessionSettings) -> Sessions {
        assert!(settings.max_age > Duration::ZERO, "a session lasts a while");
        Sessions {
            settings,
            live: Mutex::new(HashMap::new()),
            failures: Mutex::new(SignInFailures::default()),
        }
    }

    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    /// A new session for `principal`: its id (the cookie's value).
    fn create(&self, principal: Principal, now: Instant) -> Option<String> {
        let id = random_hex();
        let session = Session {
            principal,
            csrf: random_hex(),
            expires_at: now + self.settings.max_age,
        };
        let mut live = self.live.lock();
        if live.len() >= SESSIONS_MAX {
            live.retain(|_, session| session.expires_at > now);
            if live.len() >= SESSIONS_MAX {
                return None;
            }
        }
        let previous = live.insert(id.clone(), session);
        assert!(previous.is_none(), "a 32-byte random id repeats");
        Some(id)
    }

    /// The session `id` names, if it is live; an expired one is dropped.
    fn find(&self, id: &str, now: Instant) -> Option<(Principal, String)> {
        let mut live = self.live.lock();
        let session = live.get(id)?;
        if session.expires_at <= now {
            live.remove(id);
            return None;
        }
        Some((session.principal.clone(), session.csrf.clone()))
    }

    fn end(&self, id: &str) {
        self.live.lock().remove(id);
    }

    /// How long `address` must wait before its next try, if it must.
    fn sign_in_wait(&self, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        self.failures.lock().wait(address, now)
    }

    fn sign_in_failed(&self, address: Option<IpAddr>, now: Instant) {
        self.failures.lock().record(address, now);
    }
}

/// Failed sign-ins in the last `SIGN_IN_WINDOW`, per address and in all.
#[derive(Default)]
struct SignInFailures {
    by_address: HashMap<Option<IpAddr>, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

impl SignInFailures {
    fn forget_before(&mut self, now: Instant) {
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < SIGN_IN_WINDOW;
        while self.all.front().is_some_and(|at| !fresh(at)) {
            self.all.pop_front();
        }
        self.by_address.retain(|_, times| {
            while times.front().is_some_and(|at| !fresh(at)) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    fn wait(&mut self, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        self.forget_before(now);
        let until_oldest_leaves = |times: &VecDeque<Instant>| {
            let oldest = *times.front().expect("a full window holds failures");
            (oldest + SIGN_IN_WINDOW).saturating_duration_since(now)
        };
        if let Some(times) = self.by_address.get(&address)
            && times.len() >= SIGN_IN_FAILURES_PER_ADDRESS
        {
            return Some(until_oldest_leaves(times));
        }
        if self.all.len() >= SIGN_IN_FAILURES_GLOBAL {
            return Some(until_oldest_leaves(&self.all));
        }
        None
    }

    fn record(&mut self, address: Option<IpAddr>, now: Instant) {
        self.by_address.entry(address).or_default().push_back(now);
        self.all.push_back(now);
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Equal strings, compared in time that depends on their lengths only, so
/// a guesser learns nothing from how fast a wrong token is refused.
pub fn constant_time_eq(left: &str, right: &str) -> bool {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |differ, (a, b)| differ | (a ^ b))
        == 0
}

/// Where a role lands after signing in.
pub fn home_of(principal: &Principal) -> &'static str {
    match principal {
        Principal::Operator { .. } => "/console",
        Principal::Sponsor { .. } => "/sponsor",
        Principal::Organisation { .. } => "/organisation",
        Principal::Auditor { .. } | Principal::Public => "/",
    }
}

/// `/login`, `/logout`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form))
        .route("/login", post(sign_in))
        .route("/logout", post(sign_out))
}

/// A signed-in person: who, and the CSRF token every form they are shown
/// must carry. Without a live session the request is answered 303 to
/// `/login`.
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
    session_id: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session_id = session_cookie(&parts.headers).ok_or_else(to_login)?;
        let (principal, csrf) = state
            .sessions
            .find(&session_id, Instant::now())
            .ok_or_else(to_login)?;
        if !state.tokens.is_active(token_id(&principal)) {
            state.sessions.end(&session_id);
            return Err(to_login());
        }
        Ok(SignedIn {
            principal,
            csrf,
            session_id,
        })
    }
}

fn token_id(principal: &Principal) -> &str {
    match principal {
        Principal::Operator { token_id }
        | Principal::Sponsor { token_id, .. }
        | Principal::Organisation { token_id, .. }
        | Principal::Auditor { token_id } => token_id,
        Principal::Public => unreachable!("no session is made for the public"),
    }
}

/// A POST made with a session: `SignedIn` and the form's fields, in order,
/// the `csrf` field checked and taken out. A missing or wrong `csrf` is
/// refused with 403 before the handler runs. The body is
/// `application/x-www-form-urlencoded` or, for a form with a file input,
/// `multipart/form-data`, whose files are in `files`.
pub struct SignedInForm {
    pub signed_in: SignedIn,
    pub fields: Vec<(String, String)>,
    /// (input name, bytes) of each file chosen; an input left empty is absent.
    pub files: Vec<UploadedFile>,
}

impl FromRequest<AppState> for SignedInForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(multipart_boundary);
        let limit = match boundary {
            Some(_) => FORM_LEN_MAX + crate::documents::DOCUMENT_LEN_MAX,
            None => FORM_LEN_MAX,
        };
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "表单太大",
                "The form is too large",
                &format!("表单最多 {limit} 字节。 A form is at most {limit} bytes."),
            )
        })?;
        let (mut fields, files) = match &boundary {
            Some(boundary) => multipart_form(&bytes, boundary).ok_or_else(|| {
                message_page(
                    StatusCode::BAD_REQUEST,
                    "表单无法读取",
                    "The form cannot be read",
                    "multipart/form-data 格式有误。 The multipart/form-data body is malformed.",
                )
            })?,
            None => (form_urlencoded_pairs(&bytes), Vec::new()),
        };
        let sent_csrf = fields
            .iter()
            .position(|(name, _)| name == CSRF_FIELD)
            .map(|index| fields.remove(index).1);
        match sent_csrf {
            Some(sent) if constant_time_eq(&sent, &signed_in.csrf) => Ok(SignedInForm {
                signed_in,
                fields,
                files,
            }),
            _ => Err(csrf_refused()),
        }
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body.
pub fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parameters = content_type.split(';');
    let essence = parameters.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|boundary| !boundary.is_empty() && boundary.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A `name="..."` parameter of a Content-Disposition header.
fn disposition_parameter(disposition: &str, wanted: &str) -> Option<String> {
    disposition
        .split(';')
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// A file chosen in a form: (input name, bytes).
pub type UploadedFile = (String, Vec<u8>);

/// A multipart form's text fields and files.
type MultipartForm = (Vec<(String, String)>, Vec<UploadedFile>);

/// The text fields and the chosen files of a `multipart/form-data` body
/// (RFC 7578), as browsers send it; `None` when it is malformed.
fn multipart_form(body: &[u8], boundary: &str) -> Option<MultipartForm> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    let mut rest = &body[find(body, &delimiter)? + delimiter.len()..];
    let (mut fields, mut files) = (Vec::new(), Vec::new());
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, &next_delimiter)?;
        let part = &rest[..end];
        rest = &rest[end + next_delimiter.len()..];
        let headers_end = find(part, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&part[..headers_end]).ok()?;
        let data = &part[headers_end + 4..];
        let disposition = headers.split("\r\n").find(|line| {
            line.to_ascii_lowercase()
                .starts_with("content-disposition:")
        })?;
        let name = disposition_parameter(disposition, "name")?;
        match disposition_parameter(disposition, "filename") {
            Some(file_name) if file_name.is_empty() && data.is_empty() => {}
            Some(_) => files.push((name, data.to_vec())),
            None => fields.push((name, String::from_utf8_lossy(data).into_owned())),
        }
    }
    Some((fields, files))
}

/// The hidden field every form posted with a session carries.
pub fn csrf_field(signed_in: &SignedIn) -> Markup {
    csrf_input(&signed_in.csrf)
}

/// `csrf_field` for a page rendered from the token alone.
pub fn csrf_input(csrf: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(csrf); }
}

/// The answer to a signed-in person on a page that is not for their role.
pub fn wrong_role(signed_in: &SignedIn, page_is_for: &str) -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "这一页不属于您的角色",
        "This page is not for your role",
        &format!(
            "本页供{page_is_for}使用；您以{}身份登录。 This page is for the {page_is_for} role; you are signed in as {}.",
            signed_in.principal.role_name(),
            signed_in.principal.role_name()
        ),
    )
}

fn csrf_refused() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "表单已失效，未记录任何内容",
        "The form is no longer valid; nothing was recorded",
        "表单缺少或带有错误的防伪令牌（csrf）。请重新打开页面再提交。 The form's anti-forgery token (csrf) is missing or wrong. Open the page again and resubmit.",
    )
}

fn to_login() -> Response {
    see_other("/login")
}

pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set_cookie(settings: SessionSettings, value: &str, max_age_seconds: u64) -> HeaderValue {
    let secure = if settings.behind_tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_seconds}{secure}"
    ))
    .expect("a cookie of hex digits and attributes is a header value")
}

fn client_address(parts_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

async fn login_form(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if let Ok(signed_in) = SignedIn::from_request_parts(&mut parts, &state).await {
        return see_other(home_of(&signed_in.principal));
    }
    staff_html(StatusCode::OK, login_page(None))
}

/// Whether a request's `Origin`, when the browser sent one, is this site:
/// a sign-in form posted from another site would sign the visitor into the
/// other site's account (login CSRF), which SameSite cannot stop, since
/// there is no session cookie yet.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    matches!((origin_host, host), (Some(origin_host), Some(host)) if origin_host == host)
}

async fn sign_in(State(state): State<AppState>, request: Request) -> Response {
    if !same_origin(request.headers()) {
        return staff_html(
            StatusCode::FORBIDDEN,
            login_page(Some(
                "登录表单只能从本站提交。 The sign-in form may be posted from this site only.",
            )),
        );
    }
    let address = client_address(request.extensions());
    let now = Instant::now();
    if let Some(wait) = state.sessions.sign_in_wait(address, now) {
        let seconds = wait.as_secs().max(1);
        let mut response = staff_html(
            StatusCode::TOO_MANY_REQUESTS,
            login_page(Some(&format!(
                "登录失败次数过多，请 {seconds} 秒后再试。 Too many failed sign-ins; try again in {seconds} s."
            ))),
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds.to_string()).expect("digits"),
        );
        return response;
    }
    let bytes = match axum::body::to_bytes(request.into_body(), FORM_LEN_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return staff_html(
                StatusCode::PAYLOAD_TOO_LARGE,
                login_page(Some("表单太大。 The form is too large.")),
            );
        }
    };
    let token = form_urlencoded_pairs(&bytes)
        .into_iter()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    if token.is_empty() {
        return staff_html(
            StatusCode::BAD_REQUEST,
            login_page(Some(
                "token：请填写令牌（mz_ 开头）。 token: enter your token (it starts with mz_).",
            )),
        );
    }
    let principal = match state.tokens.authenticate(Some(&format!("Bearer {token}"))) {
        Ok(principal) if principal != Principal::Public => principal,
        _ => {
            state.sessions.sign_in_failed(address, now);
            return staff_html(
                StatusCode::UNAUTHORIZED,
                login_page(Some(
                    "token：令牌无效或已吊销。 token: the token is unknown or revoked.",
                )),
            );
        }
    };
    let home = home_of(&principal);
    let Some(session_id) = state.sessions.create(principal, now) else {
        return staff_html(
            StatusCode::SERVICE_UNAVAILABLE,
            login_page(Some(
                "登录人数已满，请稍后再试。 Too many people are signed in; try again later.",
            )),
        );
    };
    let settings = state.sessions.settings();
    let mut response = see_other(home);
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(settings, &session_id, settings.max_age.as_secs().max(1)),
    );
    response
}

async fn sign_out(State(state): State<AppState>, form: SignedInForm) -> Response {
    state.sessions.end(&form.signed_in.session_id);
    let mut response = see_other("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(state.sessions.settings(), "", 0),
    );
    response
}

fn login_page(problem: Option<&str>) -> String {
    staff_layout(
        "登录 · Sign in",
        None,
        html! {
            h1 { "登录 " span lang="en" { "Sign in" } }
            form.staff method="post" action="/login" {
                @if let Some(problem) = problem {
                    p.problem #token-error role="alert" { (problem) }
                }
                label for="token" {
                    "令牌 " span lang="en" { "Token" }
                }
                input #token type="password" name="token" required autocomplete="current-password"
                    spellcheck="false" autocapitalize="off"
                    aria-describedby=[problem.map(|_| "token-error")];
                p.small {
                    "令牌由管理员用 mingzhang token create 发放，只显示一次；它不会出现在网址或页面中。 "
                    span lang="en" { "Your token was issued once by an administrator (mingzhang token create); it never appears in an address or a page." }
                }
                button type="submit" { "登录 " span lang="en" { "Sign in" } }
            }
        },
    )
}

/// Staff pages look like the public page (its style sheet) with a few
/// rules for forms; every label is Chinese first, English second.
pub const STAFF_STYLE: &str = include_str!("../static/staff.css");

/// The frame of every signed-in page: the public page's header, a sign-out
/// button when signed in, `body` in `main`.
pub fn staff_layout(title: &str, signed_in: Option<&SignedIn>, body: Markup) -> String {
    html! {
        (maud::DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 明账 Mingzhang" }
                link rel="icon" type="image/svg+xml" href="/favicon.svg";
                style { (PreEscaped(crate::page::render::STYLE)) (PreEscaped(STAFF_STYLE)) }
            }
            body {
                header.top {
                    a.brand href="/" { "明账 " span lang="en" { "Mingzhang" } }
                    @if let Some(signed_in) = signed_in {
                        form.signout method="post" action="/logout" {
                            (csrf_field(signed_in))
                            span.small-light { (signed_in.principal.role_name()) " " }
                            button type="submit" { "退出 " span lang="en" { "Sign out" } }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// Signed-in pages are never cached nor framed, and post only here.
const STAFF_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub fn staff_html(status: StatusCode, body: String) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(STAFF_CONTENT_SECURITY_POLICY),
    );
    // Not `no-referrer`: under it a browser posts the sign-in form with
    // `Origin: null`, which the login CSRF check refuses.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page saying one thing, announced to screen readers.
pub fn message_page(status: StatusCode, zh_title: &str, en_title: &str, detail: &str) -> Response {
    staff_html(
        status,
        staff_layout(
            zh_title,
            None,
            html! {
                h1 { (zh_title) " " span lang="en" { (en_title) } }
                p.problem role="alert" { (detail) }
                p { a href="/login" { "登录 " span lang="en" { "Sign in" } } }
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_address_limit_wait_until_the_oldest_leaves_the_window() {
        let mut failures = SignInFailures::default();
        let start = Instant::now();
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        for second in 0..SIGN_IN_FAILURES_PER_ADDRESS as u64 {
            assert_eq!(
                failures.wait(here, start + Duration::from_secs(second)),
                None
            );
            failures.record(here, start + Duration::from_secs(second));
        }
        let now = start + Duration::from_secs(10);
        assert_eq!(failures.wait(here, now), Some(Duration::from_secs(50)));
        assert_eq!(
            failures.wait(there, now),
            None,
            "another address is not held"
        );
        assert_eq!(failures.wait(here, start + SIGN_IN_WINDOW), None);
    }

    #[test]
    fn failures_past_the_global_limit_hold_every_address() {
        let mut failures = SignInFailures::default();
        let now = Instant::now();
        for index in 0..SIGN_IN_FAILURES_GLOBAL {
            failures.record(
                Some(IpAddr::from([10, 0, (index / 250) as u8, index as u8])),
                now,
            );
        }
        assert!(
            failures
                .wait(Some(IpAddr::from([192, 168, 0, 1])), now)
                .is_some()
        );
    }

    #[test]
    fn a_session_ends_at_its_max_age() {
        let sessions = Sessions::new(SessionSettings {
            max_age: Duration::from_secs(60),
            behind_tls: false,
        });
        let now = Instant::now();
        let principal = Principal::Operator {
            token_id: "tok_1".into(),
        };
        let id = sessions.create(principal.clone(), now).unwrap();
        assert_eq!(id.len(), 64);
        let (found, csrf) = sessions.find(&id, now + Duration::from_secs(59)).unwrap();
        assert_eq!(found, principal);
        assert_eq!(csrf.len(), 64);
        assert_ne!(csrf, id);
        assert!(sessions.find(&id, now + Duration::from_secs(60)).is_none());
        assert!(
            sessions.find(&id, now).is_none(),
            "an expired session is gone"
        );
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_behind_tls() {
        let plain = set_cookie(SessionSettings::default(), "ab", 28800);
        assert_eq!(
            plain.to_str().unwrap(),
            "mz_session=ab; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800"
        );
        let behind_tls = SessionSettings {
            behind_tls: true,
            ..SessionSettings::default()
        };
        assert!(
            set_cookie(behind_tls, "ab", 1)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }

    #[test]
    fn a_multipart_form_gives_its_fields_and_chosen_files() {
        let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"report_sha256__file\"; filename=\"r.txt\"\r\n\
            Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"other__file\"; filename=\"\"\r\n\r\n\r\n\
            --XyZ--\r\n";
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            multipart_boundary("application/x-www-form-urlencoded"),
            None
        );
        let (fields, files) = multipart_form(body.as_bytes(), "XyZ").unwrap();
        assert_eq!(fields, vec![("csrf".to_owned(), "abc".to_owned())]);
        assert_eq!(
            files,
            vec![(
                "report_sha256__file".to_owned(),
                b"line one\r\nline two".to_vec()
            )]
        );
        assert!(multipart_form(b"--XyZ\r\nno headers end", "XyZ").is_none());
    }

    #[test]
    fn a_sign_in_posted_from_another_site_is_not_same_origin() {
        let headers = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static("fund.example:8080"));
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            headers
        };
        assert!(
            same_origin(&headers(None)),
            "no Origin: a form by hand or an old browser"
        );
        assert!(same_origin(&headers(Some("http://fund.example:8080"))));
        assert!(same_origin(&headers(Some("https://fund.example:8080"))));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(!constant_time_eq("", "a"));
    }
}
