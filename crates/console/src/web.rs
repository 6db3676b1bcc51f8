//! HTTP: the HTML pages, the REST API, sign-in, sessions, CSRF and security headers.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use minijinja::{context, Environment};
use serde::Deserialize;
use serde_json::json;

use crate::ops::{self, HeldAction, OpError};
use crate::store::User;
use crate::{charts, format_time, now, Console};

type Shared = Arc<Console>;

const SESSION_COOKIE: &str = "mm_session";
const LOGIN_COOKIE: &str = "mm_login";

// Templates.

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Autoescaping for every template (all are HTML): message content cannot become markup.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, text) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            (
                "dashboard.html",
                include_str!("../templates/dashboard.html"),
            ),
            ("messages.html", include_str!("../templates/messages.html")),
            (
                "quarantine.html",
                include_str!("../templates/quarantine.html"),
            ),
            ("report.html", include_str!("../templates/report.html")),
            (
                "exceptions.html",
                include_str!("../templates/exceptions.html"),
            ),
            ("changes.html", include_str!("../templates/changes.html")),
            ("change.html", include_str!("../templates/change.html")),
            ("audit.html", include_str!("../templates/audit.html")),
            ("users.html", include_str!("../templates/users.html")),
            ("account.html", include_str!("../templates/account.html")),
            ("error.html", include_str!("../templates/error.html")),
        ] {
            // Templates are part of the binary and checked by tests: a broken one is a bug.
            env.add_template(name, text)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env.add_filter("time", |t: i64| format_time(t));
        env.add_filter("score", |s: f64| format!("{s:.1}"));
        env.add_filter("size", |n: u64| {
            if n >= 1 << 20 {
                format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
            } else if n >= 1024 {
                format!("{:.1} KiB", n as f64 / 1024.0)
            } else {
                format!("{n} B")
            }
        });
        env.add_filter("defang", |s: String| defang(&s));
        env.add_filter("color", |s: String| charts::color(&s).to_string());
        env
    })
}

/// A URL or host as inert text: "hxxp://evil[.]example/x" (copying it by accident opens nothing).
pub fn defang(s: &str) -> String {
    s.replacen("http", "hxxp", 1).replace('.', "[.]")
}

fn render(name: &str, ctx: minijinja::Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = %name, error = %format_args!("{e:#}"), "console: template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

// Who is calling.

/// The signed-in caller: by session cookie (pages and API, CSRF token required for changes) or
/// by API token (`Authorization: Bearer`, no cookie, no CSRF needed).
pub struct Caller {
    pub user: User,
    /// The session's CSRF token; `None` for API tokens.
    pub csrf: Option<String>,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn identify(c: &Console, headers: &HeaderMap) -> Option<Caller> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth.strip_prefix("Bearer ")?.trim();
        let user = c.store.token_user(token).ok()??;
        return Some(Caller { user, csrf: None });
    }
    let token = cookie(headers, SESSION_COOKIE)?;
    let (user, csrf) = c.store.session(token, now()).ok()??;
    Some(Caller {
        user,
        csrf: Some(csrf),
    })
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Shared) -> Result<Self, Self::Rejection> {
        // The lookup may ask the site's PostgreSQL: off the async threads, which also serve
        // SMTP sessions.
        let (console, headers) = (c.clone(), parts.headers.clone());
        let found = tokio::task::spawn_blocking(move || identify(&console, &headers))
            .await
            .ok()
            .flatten();
        match found {
            Some(caller) => Ok(caller),
            None if parts.uri.path().starts_with("/api/") => Err(api_error(
                StatusCode::UNAUTHORIZED,
                "sign in, or send an API token as Authorization: Bearer",
            )),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// Constant-time comparison of secrets.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Caller {
    /// The refusal when a form's CSRF token is not the session's.
    fn refuse_form(&self, sent: &str) -> Option<Response> {
        match &self.csrf {
            Some(expected) if same_secret(expected, sent) => None,
            _ => Some(error_page(
                StatusCode::FORBIDDEN,
                "The form has expired. Go back, reload the page and try again.",
            )),
        }
    }

    /// The refusal for an API call that changes something without a token and without the
    /// session's X-CSRF-Token header.
    pub(crate) fn refuse_api(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = self.csrf.as_ref()?;
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        (!same_secret(expected, sent)).then(|| {
            api_error(
                StatusCode::FORBIDDEN,
                "X-CSRF-Token header missing or wrong",
            )
        })
    }
}

// Errors.

fn error_page(status: StatusCode, message: &str) -> Response {
    let mut r = render(
        "error.html",
        context! { message, status => status.as_u16() },
    );
    *r.status_mut() = status;
    r
}

pub(crate) fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn status_of(e: &OpError) -> StatusCode {
    match e {
        OpError::NotFound => StatusCode::NOT_FOUND,
        OpError::Forbidden(_) => StatusCode::FORBIDDEN,
        OpError::Invalid(_) => StatusCode::BAD_REQUEST,
        OpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        OpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn public_message(e: &OpError) -> String {
    match e {
        // Internals (paths, database errors) go to the log, not to the browser.
        OpError::Internal(why) => {
            tracing::error!(error = %why, "console: request failed");
            "something went wrong on the server; the log says what".to_string()
        }
        OpError::Unavailable(why) => {
            tracing::warn!(error = %why, "console: request refused");
            e.to_string()
        }
        OpError::NotFound => "not found (or not yours to see)".to_string(),
        e => e.to_string(),
    }
}

fn page_error(e: OpError) -> Response {
    error_page(status_of(&e), &public_message(&e))
}

pub(crate) fn api_op_error(e: OpError) -> Response {
    api_error(status_of(&e), &public_message(&e))
}

/// Runs an operation off the async threads (argon2, SQLite and unpacking attachments block).
pub(crate) async fn blocking<T: Send + 'static>(
    c: &Shared,
    f: impl FnOnce(&Console) -> ops::Result<T> + Send + 'static,
) -> ops::Result<T> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || f(&c))
        .await
        .map_err(|e| OpError::Internal(format!("task failed: {e}")))?
}

// The router.

pub fn router(c: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/messages", get(messages_page))
        .route("/quarantine", get(quarantine_page))
        .route("/messages/{id}", get(report_page))
        .route("/messages/{id}/report.json", get(report_json))
        .route("/messages/{id}/indicators.txt", get(indicators_txt))
        .route("/messages/{id}/objects/{n}/byteplot.png", get(byteplot_png))
        .route("/messages/{id}/screenshots/{hash}", get(screenshot_png))
        .route(
            "/messages/{id}/objects/{n}/neighbours.svg",
            get(neighbours_svg),
        )
        .route("/quarantine/{id}/{action}", post(held_action))
        .route("/exceptions", get(exceptions_page).post(exception_add))
        .route("/exceptions/{eid}/delete", post(exception_delete))
        .route("/changes", get(changes_page))
        .route("/changes/{cid}", get(change_page))
        .route("/audit", get(audit_page))
        .route("/users", get(users_page).post(user_create))
        .route("/account", get(account_page))
        .route("/account/password", post(password_change))
        .route("/account/tokens", post(token_create))
        .route("/account/tokens/{tid}/revoke", post(token_revoke))
        .route("/static/console.css", get(stylesheet))
        .merge(crate::api::routes())
        .layer(axum::middleware::map_response(security_headers))
        .with_state(c)
}

/// Every response: no scripts, no remote loads, no framing, no referrer, no caching of pages
/// that show mail.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../templates/console.css"),
    )
        .into_response()
}

/// What every page's layout needs.
fn page(caller: &Caller, active: &str) -> minijinja::Value {
    context! {
        me => caller.user.name.clone(),
        admin => caller.user.is_admin(),
        csrf => caller.csrf.clone().unwrap_or_default(),
        active,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    notice: Option<String>,
}

// Sign-in.

async fn home(caller: Caller) -> Redirect {
    if caller.user.is_admin() {
        Redirect::to("/dashboard")
    } else {
        Redirect::to("/quarantine")
    }
}

fn cookie_attributes(c: &Console) -> &'static str {
    if c.config.secure_cookies {
        "; Path=/; HttpOnly; SameSite=Strict; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Strict"
    }
}

/// The sign-in form carries a token also set as a cookie (double submit): a login form on
/// another site cannot sign a victim into an account of the attacker's.
async fn login_page(State(c): State<Shared>, Query(n): Query<Notice>) -> Response {
    let token = crate::store::random_token();
    let mut r = render(
        "login.html",
        context! { login_csrf => token.clone(), notice => n.notice },
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}={token}{}", cookie_attributes(&c)))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    login_csrf: String,
}

async fn login(
    State(c): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(expected, &form.login_csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The sign-in form has expired. Reload the page and try again.",
        );
    }
    let wait = c
        .limiter
        .wait(peer.ip(), &form.name, c.config.login_attempts, now());
    if wait > 0 {
        let mut r = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed sign-ins. Try again in {} minutes.",
                (wait + 59) / 60
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let (name, password) = (form.name.clone(), form.password);
    let hours = i64::from(c.config.session_hours.max(1));
    let ip = peer.ip().to_string();
    // Checking, the session and the audit entry on a blocking thread (argon2; the accounts may
    // be the site's, in PostgreSQL).
    let checked = blocking(&c, move |c| {
        let Some(user) = c.store.check_password(&name, &password)? else {
            c.store.audit(now(), &name, "login-failed", &ip, "");
            return Ok(None);
        };
        let (token, _) = c.store.create_session(user.id, now() + hours * 3600)?;
        c.store.audit(now(), &user.name, "login", &ip, "");
        Ok(Some(token))
    })
    .await;
    match checked {
        Ok(Some(token)) => {
            c.limiter.succeeded(peer.ip(), &form.name);
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{SESSION_COOKIE}={token}{}; Max-Age={}",
                cookie_attributes(&c),
                hours * 3600
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(None) => {
            c.limiter.failed(peer.ip(), &form.name, now());
            let mut r = login_page(
                State(c),
                Query(Notice {
                    notice: Some("Wrong name or password.".into()),
                }),
            )
            .await;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE).map(str::to_string) {
        let _ = blocking(&c, move |c| Ok(c.store.end_session(&token)?)).await;
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=gone{}; Max-Age=0",
        cookie_attributes(&c)
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// Dashboard.

#[derive(Deserialize, Default)]
#[serde(default)]
struct DaysQuery {
    days: Option<i64>,
    symbol: Option<String>,
}

async fn dashboard(
    State(c): State<Shared>,
    caller: Caller,
    Query(q): Query<DaysQuery>,
) -> Response {
    let user = caller.user.clone();
    let days = q.days.unwrap_or(14);
    let stats = match blocking(&c, move |c| ops::stats(c, &user, days, now())).await {
        Ok(s) => s,
        Err(e) => return page_error(e),
    };
    let hourly = charts::stacked_bars(
        &stats.hourly,
        stats.until - 48 * 3600,
        stats.until,
        3600,
        true,
        |t| format_time(t)[11..13].to_string() + "h",
        "Detections per hour, last 48 hours",
    );
    let day0 = stats.since - stats.since.rem_euclid(86400);
    let daily = charts::stacked_bars(
        &stats.daily,
        day0,
        stats.until - stats.until.rem_euclid(86400) + 86400,
        86400,
        false,
        |t| format_time(t)[5..10].to_string(),
        "Messages per day by detection type",
    );
    // The intelligence version the scanner in force loaded (the gateway follows updates).
    let intel = c.gateway.scanner().intel_version().map(str::to_string);
    render(
        "dashboard.html",
        context! { ..page(&caller, "dashboard"), ..context! {
            stats, hourly_svg => hourly, daily_svg => daily, intel,
        }},
    )
}

// Lists.

async fn messages_page(
    State(c): State<Shared>,
    caller: Caller,
    Query(q): Query<ops::Query>,
) -> Response {
    let user = caller.user.clone();
    let query = q.clone();
    match blocking(&c, move |c| ops::messages(c, &user, &query)).await {
        Ok(list) => render(
            "messages.html",
            context! { ..page(&caller, "messages"), ..context! { list, q }},
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct QuarantineQuery {
    #[serde(flatten)]
    q: ops::Query,
    notice: Option<String>,
}

async fn quarantine_page(
    State(c): State<Shared>,
    caller: Caller,
    Query(qq): Query<QuarantineQuery>,
) -> Response {
    let user = caller.user.clone();
    let query = qq.q.clone();
    match blocking(&c, move |c| ops::quarantine(c, &user, &query)).await {
        Ok(list) => render(
            "quarantine.html",
            context! { ..page(&caller, "quarantine"), ..context! { list, q => qq.q, notice => qq.notice }},
        ),
        Err(e) => page_error(e),
    }
}

// Reports.

async fn report_page(State(c): State<Shared>, caller: Caller, Path(id): Path<String>) -> Response {
    let user = caller.user.clone();
    let has_intel = c.intel().is_some_and(|s| !s.is_empty());
    match blocking(&c, move |c| {
        let report = ops::message_report(c, &user, &id)?;
        let screenshots = ops::screenshot_names(c, &user, &id)?;
        Ok((report, screenshots))
    })
    .await
    {
        Ok((report, screenshots)) => {
            // Byte plots are drawn for the objects that scoring evidence names.
            let objects: Vec<&crate::report::ObjectLine> =
                report.objects.iter().filter(|o| o.flagged).collect();
            render(
                "report.html",
                context! { ..page(&caller, "report"), ..context! { r => report, objects, has_intel, screenshots }},
            )
        }
        Err(e) => page_error(e),
    }
}

async fn report_json(State(c): State<Shared>, caller: Caller, Path(id): Path<String>) -> Response {
    let user = caller.user;
    match blocking(&c, move |c| ops::message_report(c, &user, &id)).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_op_error(e),
    }
}

async fn indicators_txt(
    State(c): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let user = caller.user;
    let name = format!(
        "attachment; filename=\"indicators-{}.txt\"",
        id.replace(|ch: char| !ch.is_ascii_alphanumeric(), "")
    );
    match blocking(&c, move |c| ops::message_report(c, &user, &id)).await {
        Ok(r) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (header::CONTENT_DISPOSITION, name),
            ],
            crate::report::indicators_text(&r),
        )
            .into_response(),
        Err(e) => api_op_error(e),
    }
}

async fn byteplot_png(
    State(c): State<Shared>,
    caller: Caller,
    Path((id, n)): Path<(String, u32)>,
) -> Response {
    let user = caller.user;
    match blocking(&c, move |c| ops::byteplot(c, &user, &id, n)).await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => api_op_error(e),
    }
}

async fn screenshot_png(
    State(c): State<Shared>,
    caller: Caller,
    Path((id, hash)): Path<(String, String)>,
) -> Response {
    let user = caller.user;
    match blocking(&c, move |c| ops::screenshot(c, &user, &id, &hash)).await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => api_op_error(e),
    }
}

async fn neighbours_svg(
    State(c): State<Shared>,
    caller: Caller,
    Path((id, n)): Path<(String, u32)>,
) -> Response {
    let user = caller.user;
    match blocking(&c, move |c| ops::neighbours(c, &user, &id, n)).await {
        // An image, never a document: scripts in an SVG do not run from <img>, and the CSP
        // forbids them anyway.
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(e) => api_op_error(e),
    }
}

// Quarantine actions.

async fn held_action(
    State(c): State<Shared>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let Some(action) = HeldAction::parse(&action) else {
        return error_page(StatusCode::NOT_FOUND, "no such action");
    };
    let user = caller.user;
    let shown = id.clone();
    match blocking(&c, move |c| ops::act(c, &user, &id, action)).await {
        Ok(outcome) => Redirect::to(&format!(
            "/quarantine?notice={}",
            url_encode(&format!("{shown}: {outcome}"))
        ))
        .into_response(),
        Err(e) => page_error(e),
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// Exceptions.

async fn exceptions_page(
    State(c): State<Shared>,
    caller: Caller,
    Query(n): Query<Notice>,
) -> Response {
    let user = caller.user.clone();
    match blocking(&c, move |c| ops::exceptions(c, &user)).await {
        Ok(list) => render(
            "exceptions.html",
            context! { ..page(&caller, "exceptions"), ..context! { list, addresses => caller.user.addresses.clone(), notice => n.notice }},
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize)]
struct ExceptionForm {
    csrf: String,
    #[serde(default)]
    recipient: String,
    sender: String,
}

async fn exception_add(
    State(c): State<Shared>,
    caller: Caller,
    Form(f): Form<ExceptionForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user;
    match blocking(&c, move |c| {
        ops::add_exception(c, &user, Some(&f.recipient), &f.sender)
    })
    .await
    {
        Ok(e) => Redirect::to(&format!(
            "/exceptions?notice={}",
            url_encode(&format!("{} now always accepts {}", e.recipient, e.sender))
        ))
        .into_response(),
        Err(e) => page_error(e),
    }
}

async fn exception_delete(
    State(c): State<Shared>,
    caller: Caller,
    Path(eid): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user;
    match blocking(&c, move |c| ops::remove_exception(c, &user, eid)).await {
        Ok(()) => Redirect::to("/exceptions?notice=removed").into_response(),
        Err(e) => page_error(e),
    }
}

// Changes, audit, users, account.

async fn changes_page(State(c): State<Shared>, caller: Caller) -> Response {
    let user = caller.user.clone();
    match blocking(&c, move |c| ops::changes(c, &user)).await {
        Ok(list) => render(
            "changes.html",
            context! { ..page(&caller, "changes"), ..context! { list }},
        ),
        Err(e) => page_error(e),
    }
}

async fn change_page(
    State(c): State<Shared>,
    caller: Caller,
    Path(cid): Path<i64>,
    Query(q): Query<DaysQuery>,
) -> Response {
    let user = caller.user.clone();
    let symbol = q.symbol.clone().unwrap_or_default();
    let days = q.days.unwrap_or(7);
    match blocking(&c, move |c| ops::impact(c, &user, cid, &symbol, days)).await {
        Ok(impact) => {
            let svg = charts::before_after(
                &impact.per_day,
                impact.since,
                impact.until,
                impact.change.at - impact.change.at.rem_euclid(3600),
                86400,
                |t| format_time(t)[5..10].to_string(),
                "Detections per day before and after the change",
            );
            render(
                "change.html",
                context! { ..page(&caller, "changes"), ..context! { impact, svg }},
            )
        }
        Err(e) => page_error(e),
    }
}

async fn audit_page(State(c): State<Shared>, caller: Caller) -> Response {
    let user = caller.user.clone();
    match blocking(&c, move |c| {
        Ok((ops::audit(c, &user, 500)?, ops::changes(c, &user)?))
    })
    .await
    {
        Ok((list, changes)) => render(
            "audit.html",
            context! { ..page(&caller, "audit"), ..context! { list, changes }},
        ),
        Err(e) => page_error(e),
    }
}

async fn users_page(State(c): State<Shared>, caller: Caller, Query(n): Query<Notice>) -> Response {
    let user = caller.user.clone();
    match blocking(&c, move |c| ops::users(c, &user)).await {
        Ok(list) => render(
            "users.html",
            context! { ..page(&caller, "users"), ..context! { list, notice => n.notice }},
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize)]
struct UserForm {
    csrf: String,
    name: String,
    password: String,
    role: String,
    #[serde(default)]
    addresses: String,
}

async fn user_create(State(c): State<Shared>, caller: Caller, Form(f): Form<UserForm>) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user;
    match blocking(&c, move |c| {
        ops::create_user(c, &user, &f.name, &f.password, &f.role, &[f.addresses])
    })
    .await
    {
        Ok(u) => Redirect::to(&format!(
            "/users?notice={}",
            url_encode(&format!("user {} created", u.name))
        ))
        .into_response(),
        Err(e) => page_error(e),
    }
}

async fn account_page(
    State(c): State<Shared>,
    caller: Caller,
    Query(n): Query<Notice>,
) -> Response {
    let id = caller.user.id;
    match blocking(&c, move |c| Ok(c.store.tokens(id)?)).await {
        Ok(tokens) => render(
            "account.html",
            context! { ..page(&caller, "account"), ..context! { tokens, addresses => caller.user.addresses.clone(), notice => n.notice }},
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

async fn password_change(
    State(c): State<Shared>,
    caller: Caller,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user;
    match blocking(&c, move |c| {
        ops::change_password(c, &user, &f.current, &f.new)
    })
    .await
    {
        Ok(()) => {
            Redirect::to("/login?notice=Password%20changed.%20Sign%20in%20again.").into_response()
        }
        Err(e) => page_error(e),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
    label: String,
}

async fn token_create(
    State(c): State<Shared>,
    caller: Caller,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user.clone();
    let made = blocking(&c, move |c| {
        let token = ops::create_token(c, &user, &f.label)?;
        Ok((token, c.store.tokens(user.id).unwrap_or_default()))
    })
    .await;
    match made {
        // Shown once, on this page; never stored in the clear.
        Ok((token, tokens)) => render(
            "account.html",
            context! { ..page(&caller, "account"), ..context! { tokens, new_token => token, addresses => caller.user.addresses.clone() }},
        ),
        Err(e) => page_error(e),
    }
}

async fn token_revoke(
    State(c): State<Shared>,
    caller: Caller,
    Path(tid): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = caller.refuse_form(&f.csrf) {
        return r;
    }
    let user = caller.user.clone();
    let revoked = blocking(&c, move |c| {
        let revoked = c.store.revoke_token(user.id, tid)?;
        if revoked {
            c.store
                .audit(now(), &user.name, "token-revoke", &tid.to_string(), "");
        }
        Ok(revoked)
    })
    .await;
    match revoked {
        Ok(true) => Redirect::to("/account?notice=Token%20revoked.").into_response(),
        Ok(false) => error_page(StatusCode::NOT_FOUND, "no such token"),
        Err(e) => page_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = templates();
        for name in [
            "base.html",
            "login.html",
            "dashboard.html",
            "report.html",
            "quarantine.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn defanged_links_are_inert_text() {
        assert_eq!(defang("https://evil.example/x"), "hxxps://evil[.]example/x");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; mm_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "mm_session"), Some("abc"));
        assert_eq!(cookie(&h, "mm"), None);
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("ab", "abc")
        );
    }
}
