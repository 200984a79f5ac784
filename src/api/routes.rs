//! The routes of the local API (CrowdSec's `/v1` paths and JSON shapes) and their handlers.
//!
//! Bouncers authenticate with `X-Api-Key` (403 when missing or unknown); machines with a token from
//! `POST /v1/watchers/login` in `Authorization: Bearer` (401 otherwise). Store calls run on the blocking pool.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth;
use super::query::{self, Unknown};
use crate::decisions::Processor;
use crate::metrics::Metrics;
use crate::store::model::{Alert, Decision};
use crate::store::{AlertFilter, Bouncer, DecisionFilter, Store, StoredDecision, format_time, now_nanos};

/// What the handlers share.
pub struct AppState {
    pub processor: Arc<Processor>,
    pub metrics: Arc<Metrics>,
    /// Token signing key.
    pub secret: Vec<u8>,
    /// Nanoseconds.
    pub token_ttl: i64,
    /// Hex of the store's metrics secret ([`auth::metrics_key`]), accepted on `/metrics`.
    pub metrics_key: String,
}

impl AppState {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self.processor.store())
    }
}

type Shared = Arc<AppState>;

/// An error answer: `{"message": ...}` with a status.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.0 == StatusCode::UNAUTHORIZED {
            json!({"code": 401, "message": self.1})
        } else {
            json!({"message": self.1})
        };
        (self.0, Json(body)).into_response()
    }
}

fn bad_request(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, m.into())
}

fn internal(m: impl std::fmt::Display) -> ApiError {
    tracing::error!("local API: {m}");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, m.to_string())
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(internal),
        Err(e) => Err(internal(format!("store task failed: {e}"))),
    }
}

/// The API router: `/v1/...` and `/health`, plus `/metrics` when `with_metrics`.
pub fn router(state: Shared, max_body: usize, with_metrics: bool) -> Router {
    let mut r = Router::new()
        .route("/v1/decisions", get(get_decisions).head(head_decisions).delete(delete_decisions))
        .route("/v1/decisions/stream", get(stream_decisions).head(head_stream))
        .route("/v1/decisions/{id}", axum::routing::delete(delete_decision))
        .route("/v1/watchers/login", post(login))
        .route("/v1/alerts", get(get_alerts).head(head_alerts).post(post_alerts))
        .route("/v1/alerts/{id}", get(get_alert))
        .route("/v1/heartbeat", get(heartbeat))
        .route("/health", get(health));
    if with_metrics {
        r = r.route("/metrics", get(metrics));
    }
    r.layer(middleware::from_fn_with_state(Arc::clone(&state), count_requests))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// `/metrics` alone (the separate Prometheus listener).
pub fn metrics_router(state: Shared) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

async fn count_requests(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    if let Some(route) = route {
        st.metrics.api.route(&route, &method);
    }
    resp
}

// ---- authentication ----

async fn bouncer(st: &Shared, headers: &HeaderMap) -> Result<Bouncer, ApiError> {
    let forbidden = || ApiError(StatusCode::FORBIDDEN, "access forbidden".to_string());
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).ok_or_else(forbidden)?.trim().to_string();
    let store = st.store();
    let bouncers = blocking(move || store.bouncers()).await?;
    auth::find_bouncer(&bouncers, &key).cloned().ok_or_else(forbidden)
}

async fn machine(st: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, m.to_string());
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("auth header is empty"))?;
    let id = auth::verify_token(&st.secret, token.trim(), now_nanos() / 1_000_000_000)
        .map_err(|e| unauthorized(&e.to_string()))?;
    // A deleted machine's tokens stop working at once.
    let store = st.store();
    let lookup = id.clone();
    match blocking(move || store.machine(&lookup)).await? {
        Some(_) => Ok(id),
        None => Err(unauthorized("machine is not registered")),
    }
}

fn params_of(q: &Query<Vec<(String, String)>>) -> &[(String, String)] {
    &q.0
}

/// `null` for an empty list, as CrowdSec's Go encoder writes a nil slice.
fn decisions_json(v: &[StoredDecision], now: i64) -> serde_json::Value {
    if v.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(v.iter().map(|d| d.to_api(now)).collect::<Vec<Decision>>()).unwrap_or_default()
    }
}

// ---- bouncers ----

async fn query_decisions(
    st: &Shared,
    headers: &HeaderMap,
    q: &Query<Vec<(String, String)>>,
    method: &str,
) -> Result<Vec<StoredDecision>, ApiError> {
    let b = bouncer(st, headers).await?;
    st.metrics.api.bouncer(&b.name, "/v1/decisions", method);
    let f = query::decision_filter(params_of(q), Unknown::Ignore).map_err(bad_request)?;
    let store = st.store();
    let now = now_nanos();
    let found = blocking(move || store.decisions(&f, now)).await?;
    st.metrics.api.decisions_answer(&b.name, found.is_empty());
    Ok(found)
}

async fn get_decisions(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let found = query_decisions(&st, &headers, &q, "GET").await?;
    Ok(Json(decisions_json(&found, now_nanos())).into_response())
}

async fn head_decisions(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<StatusCode, ApiError> {
    query_decisions(&st, &headers, &q, "HEAD").await?;
    Ok(StatusCode::OK)
}

async fn stream_decisions(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let b = bouncer(&st, &headers).await?;
    st.metrics.api.bouncer(&b.name, "/v1/decisions/stream", "GET");
    let params = params_of(&q);
    let startup = params.iter().any(|(k, v)| k == "startup" && v.eq_ignore_ascii_case("true"));
    let mut f = query::decision_filter(params, Unknown::Ignore).map_err(bad_request)?;
    // Bouncers that name no scope get addresses and ranges, as from CrowdSec.
    if !params.iter().any(|(k, _)| k == "scopes") {
        f.scopes = vec!["Ip".into(), "Range".into()];
    }
    let store = st.store();
    let now = now_nanos();
    let id = b.id;
    let batch = blocking(move || store.pull(id, startup, &f, now)).await?;
    // Go encodes map keys sorted: "deleted" before "new".
    let body = json!({"deleted": decisions_json(&batch.deleted, now), "new": decisions_json(&batch.new, now)});
    Ok(Json(body).into_response())
}

async fn head_stream(State(st): State<Shared>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    // HEAD does not count as a pull: the next GET still gets everything since the previous one.
    let b = bouncer(&st, &headers).await?;
    st.metrics.api.bouncer(&b.name, "/v1/decisions/stream", "HEAD");
    Ok(StatusCode::OK)
}

// ---- machines ----

#[derive(Deserialize)]
struct LoginRequest {
    machine_id: String,
    password: String,
    #[serde(default)]
    #[allow(dead_code)]
    scenarios: Option<Vec<String>>,
}

async fn login(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: LoginRequest = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    let store = st.store();
    let id = req.machine_id.clone();
    let machine = blocking(move || store.machine(&id)).await?;
    let denied = || ApiError(StatusCode::UNAUTHORIZED, "incorrect Username or Password".to_string());
    let Some(m) = machine else {
        // Hash anyway, so an unknown machine id takes as long as a wrong password.
        let _ = tokio::task::spawn_blocking(move || auth::hash_password(&req.password)).await;
        return Err(denied());
    };
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&req.password, &m.password_hash))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(denied());
    }
    st.metrics.api.machine(&req.machine_id, "/v1/watchers/login", "POST");
    let now = now_nanos();
    let exp_ns = now.saturating_add(st.token_ttl);
    let token = auth::issue_token(&st.secret, &req.machine_id, now / 1_000_000_000, exp_ns / 1_000_000_000);
    Ok(Json(json!({"code": 200, "expire": format_time(exp_ns), "token": token})).into_response())
}

async fn post_alerts(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let m = machine(&st, &headers).await?;
    st.metrics.api.machine(&m, "/v1/alerts", "POST");
    let alerts: Vec<Alert> = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    for a in &alerts {
        if a.source.scope.trim().is_empty() || a.source.value.trim().is_empty() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "source.scope and source.value are required".into(),
            ));
        }
    }
    let p = Arc::clone(&st.processor);
    let now = now_nanos();
    let recorded = blocking(move || p.add_alerts(&m, alerts, now)).await?;
    let ids: Vec<String> = recorded.iter().map(|r| r.alert_id.to_string()).collect();
    Ok((StatusCode::CREATED, Json(ids)).into_response())
}

async fn find_alerts(
    st: &Shared,
    headers: &HeaderMap,
    q: &Query<Vec<(String, String)>>,
    method: &str,
) -> Result<Vec<Alert>, ApiError> {
    let m = machine(st, headers).await?;
    st.metrics.api.machine(&m, "/v1/alerts", method);
    let now = now_nanos();
    let f = query::alert_filter(params_of(q), now).map_err(bad_request)?;
    let store = st.store();
    blocking(move || store.alerts(&f, now)).await
}

async fn get_alerts(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let alerts = find_alerts(&st, &headers, &q, "GET").await?;
    Ok(Json(if alerts.is_empty() { serde_json::Value::Null } else { serde_json::to_value(alerts).unwrap_or_default() })
        .into_response())
}

async fn head_alerts(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<StatusCode, ApiError> {
    find_alerts(&st, &headers, &q, "HEAD").await?;
    Ok(StatusCode::OK)
}

async fn get_alert(State(st): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let m = machine(&st, &headers).await?;
    st.metrics.api.machine(&m, "/v1/alerts/{id}", "GET");
    let id: i64 = id.parse().map_err(|_| bad_request("alert_id must be valid integer"))?;
    let store = st.store();
    let now = now_nanos();
    let f = AlertFilter { id: Some(id), include_simulated: true, ..Default::default() };
    let mut found = blocking(move || store.alerts(&f, now)).await?;
    match found.pop() {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, "object not found".into())),
    }
}

async fn delete_decisions(
    State(st): State<Shared>,
    headers: HeaderMap,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let m = machine(&st, &headers).await?;
    st.metrics.api.machine(&m, "/v1/decisions", "DELETE");
    let f = query::decision_filter(params_of(&q), Unknown::Reject).map_err(bad_request)?;
    let f = DecisionFilter { include_simulated: true, ..f };
    let store = st.store();
    let ended = blocking(move || store.expire_decisions(&f, now_nanos())).await?;
    Ok(Json(json!({"nbDeleted": ended.len().to_string()})).into_response())
}

async fn delete_decision(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = machine(&st, &headers).await?;
    st.metrics.api.machine(&m, "/v1/decisions/{id}", "DELETE");
    let id: i64 = id.parse().map_err(|_| bad_request("decision_id must be valid integer"))?;
    let f = DecisionFilter { id: Some(id), include_simulated: true, ..Default::default() };
    let store = st.store();
    let ended = blocking(move || store.expire_decisions(&f, now_nanos())).await?;
    Ok(Json(json!({"nbDeleted": ended.len().to_string()})).into_response())
}

async fn heartbeat(State(st): State<Shared>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let m = machine(&st, &headers).await?;
    st.metrics.api.machine(&m, "/v1/heartbeat", "GET");
    Ok(StatusCode::OK)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "up"}))
}

/// `/metrics` reader: a bouncer key or the local metrics key, as `X-Api-Key: K` or `Authorization: Bearer K`
/// (what Prometheus sends with `authorization: {credentials: K}`).
async fn metrics_reader(st: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = || ApiError(StatusCode::FORBIDDEN, "access forbidden".to_string());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).or(bearer).ok_or_else(forbidden)?.trim();
    if !st.metrics_key.is_empty() && auth::constant_time_eq(key.as_bytes(), st.metrics_key.as_bytes()) {
        return Ok(());
    }
    let key = key.to_string();
    let store = st.store();
    let bouncers = blocking(move || store.bouncers()).await?;
    auth::find_bouncer(&bouncers, &key).map(|_| ()).ok_or_else(forbidden)
}

async fn metrics(State(st): State<Shared>, method: Method, headers: HeaderMap) -> Response {
    if let Err(e) = metrics_reader(&st, &headers).await {
        return e.into_response();
    }
    let m = Arc::clone(&st.metrics);
    let text = tokio::task::spawn_blocking(move || m.render()).await.unwrap_or_default();
    if method == Method::HEAD {
        return StatusCode::OK.into_response();
    }
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::decisions::Profiles;
    use crate::store::{NewAlert, NewDecision, Source, SqliteStore};

    struct Api {
        _dir: tempfile::TempDir,
        router: Router,
        store: Arc<dyn Store>,
        key: String,
    }

    fn api() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("a.db")).unwrap());
        let key = auth::new_api_key();
        store.add_bouncer("fw", &auth::hash_api_key(&key), 0).unwrap();
        let profiles = Profiles::empty(Arc::new(crate::expr::Services::new()));
        let processor = Arc::new(Processor::new(Arc::clone(&store), profiles, "local"));
        let state = Arc::new(AppState {
            processor,
            metrics: Metrics::new(),
            secret: b"test secret, 32 bytes long......".to_vec(),
            token_ttl: 3_600_000_000_000,
            metrics_key: "local metrics key".into(),
        });
        Api { _dir: dir, router: router(state, 1 << 20, true), store, key }
    }

    fn ban(store: &dyn Store, value: &str, scope: &str, secs: i64) {
        let alert = Alert {
            scenario: "s".into(),
            message: format!("{value} {secs}"),
            source: Source { scope: scope.into(), value: value.into(), ..Default::default() },
            ..Default::default()
        };
        let d = NewDecision {
            origin: "crowdsec".into(),
            kind: "ban".into(),
            scope: scope.into(),
            value: value.into(),
            scenario: "s".into(),
            simulated: false,
            duration: secs * 1_000_000_000,
        };
        store.add_alerts("m", &[NewAlert { alert, decisions: vec![d] }], now_nanos()).unwrap();
    }

    async fn call(r: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = r.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn bouncer_keys_are_checked() {
        let a = api();
        let (st, body) = call(&a.router, "GET", "/v1/decisions", &[]).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(body["message"], "access forbidden");
        let (st, _) = call(&a.router, "GET", "/v1/decisions", &[("X-Api-Key", "wrong")]).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = call(&a.router, "GET", "/v1/decisions/stream", &[("X-Api-Key", &a.key[1..])]).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, body) = call(&a.router, "GET", "/v1/decisions", &[("X-Api-Key", &a.key)]).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.is_null(), "no decision is null, as in CrowdSec");
        // A deleted bouncer's key stops working.
        a.store.delete_bouncer("fw").unwrap();
        let (st, _) = call(&a.router, "GET", "/v1/decisions", &[("X-Api-Key", &a.key)]).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn ip_queries_match_ranges_over_http() {
        let a = api();
        ban(&*a.store, "192.0.2.0/24", "Range", 3600);
        ban(&*a.store, "198.51.100.1", "Ip", 3600);
        let k = [("X-Api-Key", a.key.as_str())];
        let (_, body) = call(&a.router, "GET", "/v1/decisions?ip=192.0.2.200", &k).await;
        assert_eq!(body[0]["value"], "192.0.2.0/24");
        assert_eq!(body[0]["scope"], "Range");
        let (_, body) = call(&a.router, "GET", "/v1/decisions?ip=192.0.3.1", &k).await;
        assert!(body.is_null());
        let (_, body) = call(&a.router, "GET", "/v1/decisions?scope=ip&value=198.51.100.1", &k).await;
        assert_eq!(body.as_array().map(Vec::len), Some(1));
        let (st, body) = call(&a.router, "GET", "/v1/decisions?ip=not-an-ip", &k).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(body["message"].as_str().unwrap().contains("not-an-ip"));
        let (st, _) = call(&a.router, "HEAD", "/v1/decisions?ip=192.0.2.1", &k).await;
        assert_eq!(st, StatusCode::OK);
    }

    #[tokio::test]
    async fn stream_is_tracked_per_bouncer_and_head_is_not_a_pull() {
        let a = api();
        let key2 = auth::new_api_key();
        a.store.add_bouncer("other", &auth::hash_api_key(&key2), 0).unwrap();
        ban(&*a.store, "192.0.2.1", "Ip", 3600);
        ban(&*a.store, "alice", "username", 3600);
        let k1 = [("X-Api-Key", a.key.as_str())];
        let (_, body) = call(&a.router, "GET", "/v1/decisions/stream?startup=true", &k1).await;
        let new: Vec<_> = body["new"].as_array().unwrap().iter().map(|d| d["value"].clone()).collect();
        assert_eq!(new, ["192.0.2.1"], "default scopes are ip and range");
        assert!(body["deleted"].is_null());
        ban(&*a.store, "192.0.2.2", "Ip", 3600);
        let (st, _) = call(&a.router, "HEAD", "/v1/decisions/stream", &k1).await;
        assert_eq!(st, StatusCode::OK);
        let (_, body) = call(&a.router, "GET", "/v1/decisions/stream", &k1).await;
        assert_eq!(body["new"][0]["value"], "192.0.2.2", "HEAD did not consume the delta: {body}");
        let (_, body) = call(&a.router, "GET", "/v1/decisions/stream", &k1).await;
        assert!(body["new"].is_null() && body["deleted"].is_null(), "{body}");
        // The other bouncer starts from scratch, with custom scopes.
        let k2 = [("X-Api-Key", key2.as_str())];
        let (_, body) = call(&a.router, "GET", "/v1/decisions/stream?startup=true&scopes=username", &k2).await;
        assert_eq!(body["new"][0]["value"], "alice");
        // A deletion reaches the first bouncer.
        a.store
            .expire_decisions(&DecisionFilter { value: Some("192.0.2.1".into()), ..Default::default() }, now_nanos())
            .unwrap();
        let (_, body) = call(&a.router, "GET", "/v1/decisions/stream", &k1).await;
        assert_eq!(body["deleted"][0]["value"], "192.0.2.1", "{body}");
    }

    #[tokio::test]
    async fn machine_routes_need_a_valid_token() {
        let a = api();
        a.store.add_machine("agent", &auth::hash_password("pw").unwrap(), 0).unwrap();
        let (st, body) = call(&a.router, "GET", "/v1/alerts", &[]).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], 401);
        let secret = b"test secret, 32 bytes long......";
        let now = now_nanos() / 1_000_000_000;
        let good = format!("Bearer {}", auth::issue_token(secret, "agent", now, now + 60));
        let expired = format!("Bearer {}", auth::issue_token(secret, "agent", now - 120, now - 60));
        let stranger = format!("Bearer {}", auth::issue_token(secret, "nobody", now, now + 60));
        let (st, _) = call(&a.router, "GET", "/v1/alerts", &[("Authorization", &good)]).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = call(&a.router, "GET", "/v1/alerts", &[("Authorization", &expired)]).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = call(&a.router, "GET", "/v1/alerts", &[("Authorization", &stranger)]).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = call(&a.router, "DELETE", "/v1/decisions?ip=192.0.2.1", &[("X-Api-Key", &a.key)]).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "a bouncer key is not a machine token");
        let (st, body) = call(&a.router, "GET", "/health", &[]).await;
        assert_eq!((st, body["status"].as_str()), (StatusCode::OK, Some("up")));
    }
}
