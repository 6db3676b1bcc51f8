//! The REST API (`/api/v1`, JSON): everything the pages do, for scripts and other systems.
//! Authenticated by API token (`Authorization: Bearer mm_…`, made on the account page or
//! `POST /api/v1/tokens`) or by the console session with an `X-CSRF-Token` header for changes.
//! Described by `/api/v1/openapi.json` (a test checks every documented route answers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::ops::{self, HeldAction};
use crate::web::{api_error as json_error, api_op_error as json_op_error, blocking, Caller};
use crate::{now, Console};

type Shared = Arc<Console>;

pub const OPENAPI: &str = include_str!("../templates/openapi.json");

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/messages", get(messages))
        .route("/api/v1/messages/{id}", get(message))
        .route("/api/v1/messages/{id}/indicators", get(indicators))
        .route("/api/v1/quarantine", get(quarantine))
        .route("/api/v1/quarantine/{id}/{action}", post(held_action))
        .route("/api/v1/feedback/spam", post(missed_spam))
        .route("/api/v1/exceptions", get(exceptions).post(exception_add))
        .route("/api/v1/exceptions/{eid}", delete(exception_delete))
        .route("/api/v1/changes", get(changes))
        .route("/api/v1/changes/{cid}/impact", get(impact))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/users", get(users).post(user_create))
        .route("/api/v1/tokens", get(tokens).post(token_create))
        .route("/api/v1/tokens/{tid}", delete(token_revoke))
        .route("/api/v1/account/password", post(password_change))
        .route("/api/v1/digests/send", post(digests_send))
}

fn ok<T: serde::Serialize>(r: ops::Result<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => json_op_error(e),
    }
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn me(caller: Caller) -> Response {
    Json(caller.user).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DaysQuery {
    days: Option<i64>,
    symbol: Option<String>,
    limit: Option<usize>,
}

async fn stats(State(c): State<Shared>, caller: Caller, Query(q): Query<DaysQuery>) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::stats(c, &user, q.days.unwrap_or(14), now())
    })
    .await)
}

async fn messages(
    State(c): State<Shared>,
    caller: Caller,
    Query(q): Query<ops::Query>,
) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::messages(c, &user, &q)).await)
}

async fn message(State(c): State<Shared>, caller: Caller, Path(id): Path<String>) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::message_report(c, &user, &id)).await)
}

async fn indicators(State(c): State<Shared>, caller: Caller, Path(id): Path<String>) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::message_report(c, &user, &id).map(|r| r.indicators)
    })
    .await)
}

async fn quarantine(
    State(c): State<Shared>,
    caller: Caller,
    Query(q): Query<ops::Query>,
) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::quarantine(c, &user, &q)).await)
}

async fn held_action(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let Some(action) = HeldAction::parse(&action) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "actions: release, delete, release-allow, false-positive, missed-spam",
        );
    };
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::act(c, &user, &id, action).map(|outcome| json!({ "id": id, "outcome": outcome }))
    })
    .await)
}

/// A message that got through and should not have, sent as received (message/rfc822 body).
async fn missed_spam(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::report_missed_spam(c, &user, &body).map(|outcome| json!({ "outcome": outcome }))
    })
    .await)
}

async fn exceptions(State(c): State<Shared>, caller: Caller) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::exceptions(c, &user)).await)
}

#[derive(Deserialize)]
struct NewException {
    recipient: Option<String>,
    sender: String,
}

async fn exception_add(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Json(e): Json<NewException>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::add_exception(c, &user, e.recipient.as_deref(), &e.sender)
    })
    .await)
}

async fn exception_delete(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(eid): Path<i64>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::remove_exception(c, &user, eid).map(|()| json!({ "removed": eid }))
    })
    .await)
}

async fn changes(State(c): State<Shared>, caller: Caller) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::changes(c, &user)).await)
}

async fn impact(
    State(c): State<Shared>,
    caller: Caller,
    Path(cid): Path<i64>,
    Query(q): Query<DaysQuery>,
) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::impact(
            c,
            &user,
            cid,
            q.symbol.as_deref().unwrap_or(""),
            q.days.unwrap_or(7),
        )
    })
    .await)
}

async fn audit(State(c): State<Shared>, caller: Caller, Query(q): Query<DaysQuery>) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::audit(c, &user, q.limit.unwrap_or(500))).await)
}

async fn users(State(c): State<Shared>, caller: Caller) -> Response {
    let user = caller.user;
    ok(blocking(&c, move |c| ops::users(c, &user)).await)
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    role: String,
    #[serde(default)]
    addresses: Vec<String>,
}

async fn user_create(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Json(u): Json<NewUser>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::create_user(c, &user, &u.name, &u.password, &u.role, &u.addresses)
    })
    .await)
}

#[derive(Deserialize)]
struct NewToken {
    label: String,
}

async fn token_create(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Json(t): Json<NewToken>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::create_token(c, &user, &t.label).map(|token| json!({ "token": token }))
    })
    .await)
}

/// Sends today's quarantine digests that are due now (the daily task does the same on its own).
async fn digests_send(State(c): State<Shared>, caller: Caller, headers: HeaderMap) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        if !user.is_admin() {
            return Err(ops::OpError::Forbidden("administrators only".into()));
        }
        let sent = crate::digest::send_due(c, now()).map_err(ops::OpError::Internal)?;
        c.store.audit(
            now(),
            &user.name,
            "digests-send",
            "",
            &format!("{sent} queued"),
        );
        Ok(json!({ "queued": sent }))
    })
    .await)
}

async fn tokens(State(c): State<Shared>, caller: Caller) -> Response {
    let id = caller.user.id;
    ok(blocking(&c, move |c| Ok(c.store.tokens(id)?)).await)
}

async fn token_revoke(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(tid): Path<i64>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        if !c.store.revoke_token(user.id, tid)? {
            return Err(ops::OpError::NotFound);
        }
        c.store
            .audit(now(), &user.name, "token-revoke", &tid.to_string(), "");
        Ok(json!({ "revoked": tid }))
    })
    .await)
}

#[derive(Deserialize)]
struct NewPassword {
    current: String,
    new: String,
}

async fn password_change(
    State(c): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Json(p): Json<NewPassword>,
) -> Response {
    if let Some(r) = caller.refuse_api(&headers) {
        return r;
    }
    let user = caller.user;
    ok(blocking(&c, move |c| {
        ops::change_password(c, &user, &p.current, &p.new).map(|()| json!({ "changed": true }))
    })
    .await)
}
