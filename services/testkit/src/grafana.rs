//! Fakes of the two Grafana APIs `telemetry sync-dashboards` talks to, following their
//! documentation, errors included:
//!
//! - [`FakeGrafana`]: the Grafana HTTP API (Bearer tokens; `/api/datasources`, `/api/folders`,
//!   `/api/search`, `/api/dashboards/uid/{uid}`, `POST /api/dashboards/db` with its 412
//!   `version-mismatch` and `name-exists` answers), with every request recorded.
//! - [`FakeManagedGrafana`]: the Amazon Managed Grafana control plane (restJson: workspaces,
//!   service accounts, service-account tokens). A minted token is accepted by the linked
//!   [`FakeGrafana`] until it is deleted.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::{Value, json};

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct StoredDashboard {
    pub id: i64,
    pub json: Value,
    pub folder_uid: String,
    pub version: i64,
}

#[derive(Default)]
pub struct GrafanaState {
    /// Token -> role (`Viewer`, `Editor`, `Admin`).
    pub tokens: HashMap<String, String>,
    pub datasources: Vec<Value>,
    /// uid -> title.
    pub folders: BTreeMap<String, String>,
    pub dashboards: BTreeMap<String, StoredDashboard>,
    pub requests: Vec<Recorded>,
    /// Answers to give before handling the next requests (e.g. 429, 503), one per request.
    pub faults: VecDeque<StatusCode>,
    next_id: i64,
}

type Shared = Arc<Mutex<GrafanaState>>;

fn lock(state: &Shared) -> MutexGuard<'_, GrafanaState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct FakeGrafana {
    pub url: String,
    state: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeGrafana {
    /// A Grafana with the three datasources a Managed Grafana workspace of the platform has.
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        lock(&state).datasources = vec![
            json!({"id": 1, "uid": "amp-uid", "name": "Amazon Managed Prometheus", "type": "prometheus", "isDefault": true}),
            json!({"id": 2, "uid": "cw-uid", "name": "CloudWatch", "type": "cloudwatch", "isDefault": false}),
            json!({"id": 3, "uid": "xray-uid", "name": "X-Ray", "type": "grafana-x-ray-datasource", "isDefault": false}),
        ];
        let app = Router::new()
            .route("/api/datasources", get(datasources))
            .route("/api/folders", get(folders).post(create_folder))
            .route("/api/search", get(search))
            .route("/api/dashboards/db", post(save_dashboard))
            .route(
                "/api/dashboards/uid/{uid}",
                get(get_dashboard).delete(delete_dashboard),
            )
            .layer(middleware::from_fn_with_state(state.clone(), authenticate))
            .with_state(state.clone());
        let (url, server) = crate::serve_fake(app, "Grafana").await;
        Self {
            url,
            state,
            _server: server,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, GrafanaState> {
        lock(&self.state)
    }

    pub fn add_token(&self, token: &str, role: &str) {
        self.state().tokens.insert(token.into(), role.into());
    }

    /// Requests other than GET that reached a handler.
    pub fn writes(&self) -> Vec<Recorded> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.method != Method::GET)
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// Saves a dashboard as a person in the Grafana UI would.
    pub fn put_dashboard(&self, json: Value, folder_uid: &str) {
        let mut s = self.state();
        s.next_id += 1;
        let id = s.next_id;
        let uid = json["uid"].as_str().unwrap_or_default().to_owned();
        let version = s.dashboards.get(&uid).map_or(1, |d| d.version + 1);
        s.dashboards.insert(
            uid,
            StoredDashboard {
                id,
                json,
                folder_uid: folder_uid.into(),
                version,
            },
        );
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// Bearer auth as Grafana does it, the injected faults, and the request log.
async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let record = |status: StatusCode| {
        lock(&state).requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            status: status.as_u16(),
        });
    };
    let fault = lock(&state).faults.pop_front();
    if let Some(status) = fault {
        record(status);
        let mut r = error(status, "injected fault");
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().expect("header value"));
        }
        return r;
    }
    let role = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| lock(&state).tokens.get(t).cloned());
    let response = match role {
        None => error(StatusCode::UNAUTHORIZED, "invalid API key"),
        Some(role) if role == "Viewer" && method != Method::GET => {
            error(StatusCode::FORBIDDEN, "Access denied")
        }
        Some(_) => next.run(request).await,
    };
    record(response.status());
    response
}

async fn datasources(State(state): State<Shared>) -> Json<Value> {
    Json(Value::Array(lock(&state).datasources.clone()))
}

#[derive(serde::Deserialize)]
struct Paging {
    limit: Option<usize>,
    page: Option<usize>,
    tag: Option<String>,
}

fn page<T: Clone>(items: &[T], q: &Paging) -> Vec<T> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 5000);
    let page = q.page.unwrap_or(1).max(1);
    items
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .cloned()
        .collect()
}

async fn folders(State(state): State<Shared>, Query(q): Query<Paging>) -> Json<Value> {
    let s = lock(&state);
    let all: Vec<Value> = s
        .folders
        .iter()
        .map(|(uid, title)| json!({ "uid": uid, "title": title }))
        .collect();
    Json(Value::Array(page(&all, &q)))
}

async fn create_folder(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(uid), Some(title)) = (body["uid"].as_str(), body["title"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    };
    let mut s = lock(&state);
    if s.folders.contains_key(uid) {
        return error(
            StatusCode::CONFLICT,
            "a folder with the same uid already exists",
        );
    }
    if s.folders.values().any(|t| t == title) {
        return error(
            StatusCode::CONFLICT,
            "a folder with the same name already exists",
        );
    }
    s.folders.insert(uid.into(), title.into());
    Json(json!({ "uid": uid, "title": title, "version": 1 })).into_response()
}

async fn search(State(state): State<Shared>, Query(q): Query<Paging>) -> Json<Value> {
    let s = lock(&state);
    let hits: Vec<Value> = s
        .dashboards
        .iter()
        .filter(|(_, d)| {
            q.tag.as_ref().is_none_or(|tag| {
                d.json["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == tag.as_str()))
            })
        })
        .map(|(uid, d)| {
            json!({"id": d.id, "uid": uid, "title": d.json["title"], "type": "dash-db",
                   "tags": d.json["tags"], "folderUid": d.folder_uid})
        })
        .collect();
    Json(Value::Array(page(&hits, &q)))
}

async fn get_dashboard(State(state): State<Shared>, Path(uid): Path<String>) -> Response {
    let s = lock(&state);
    let Some(d) = s.dashboards.get(&uid) else {
        return error(StatusCode::NOT_FOUND, "Dashboard not found");
    };
    let mut dashboard = d.json.clone();
    dashboard["id"] = d.id.into();
    dashboard["version"] = d.version.into();
    Json(json!({
        "dashboard": dashboard,
        "meta": {"folderUid": d.folder_uid, "version": d.version, "slug": uid, "canSave": true},
    }))
    .into_response()
}

async fn save_dashboard(State(state): State<Shared>, body: Json<Value>) -> Response {
    let mut dashboard = body["dashboard"].clone();
    let folder_uid = body["folderUid"].as_str().unwrap_or_default().to_owned();
    let overwrite = body["overwrite"].as_bool().unwrap_or(false);
    let Some(title) = dashboard["title"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        return error(StatusCode::BAD_REQUEST, "Dashboard title cannot be empty");
    };
    let uid = dashboard["uid"].as_str().unwrap_or_default().to_owned();
    if uid.is_empty() {
        return error(StatusCode::BAD_REQUEST, "this fake needs a uid");
    }
    let mut s = lock(&state);
    if !folder_uid.is_empty() && !s.folders.contains_key(&folder_uid) {
        return error(StatusCode::BAD_REQUEST, "folder not found");
    }
    let clash = s.dashboards.iter().any(|(other, d)| {
        *other != uid && d.folder_uid == folder_uid && d.json["title"] == title.as_str()
    });
    if clash && !overwrite {
        return (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({"status": "name-exists", "message": "A dashboard with the same name in the folder already exists"})),
        )
            .into_response();
    }
    let existing = s.dashboards.get(&uid).cloned();
    if let Some(existing) = &existing
        && !overwrite
        && dashboard["version"].as_i64() != Some(existing.version)
    {
        return (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({"status": "version-mismatch", "message": "The dashboard has been changed by someone else"})),
        )
            .into_response();
    }
    let version = existing.as_ref().map_or(1, |d| d.version + 1);
    let id = match &existing {
        Some(d) => d.id,
        None => {
            s.next_id += 1;
            s.next_id
        }
    };
    if let Some(map) = dashboard.as_object_mut() {
        map.remove("id");
        map.remove("version");
    }
    s.dashboards.insert(
        uid.clone(),
        StoredDashboard {
            id,
            json: dashboard,
            folder_uid,
            version,
        },
    );
    Json(
        json!({"id": id, "uid": uid, "status": "success", "version": version,
                "url": format!("/d/{uid}"), "slug": uid}),
    )
    .into_response()
}

async fn delete_dashboard(State(state): State<Shared>, Path(uid): Path<String>) -> Response {
    match lock(&state).dashboards.remove(&uid) {
        Some(d) => {
            Json(json!({"title": d.json["title"], "message": "Dashboard deleted", "id": d.id}))
                .into_response()
        }
        None => error(StatusCode::NOT_FOUND, "Dashboard not found"),
    }
}

// ---- Managed Grafana control plane ----

#[derive(Debug, Clone)]
pub struct FakeWorkspace {
    pub id: String,
    pub name: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct FakeToken {
    pub id: String,
    pub name: String,
    pub service_account_id: String,
    key: String,
}

#[derive(Default)]
pub struct ControlState {
    pub workspaces: Vec<FakeWorkspace>,
    /// (workspace id, service account id, name, role).
    pub service_accounts: Vec<(String, String, String, String)>,
    /// Live tokens.
    pub tokens: Vec<FakeToken>,
    /// Tokens minted over the fake's life.
    pub tokens_created: usize,
    /// secondsToLive of every minted token.
    pub tokens_ttl: Vec<i64>,
    next: u64,
}

#[derive(Clone)]
struct Control {
    state: Arc<Mutex<ControlState>>,
    grafana: Shared,
    grafana_url: String,
}

pub struct FakeManagedGrafana {
    pub endpoint: String,
    state: Arc<Mutex<ControlState>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeManagedGrafana {
    /// A control plane whose workspaces are all served by `grafana`.
    pub async fn start(grafana: &FakeGrafana) -> Self {
        let control = Control {
            state: Arc::default(),
            grafana: grafana.state.clone(),
            grafana_url: grafana.url.clone(),
        };
        let app = Router::new()
            .route("/workspaces", get(list_workspaces))
            .route(
                "/workspaces/{workspace}/serviceaccounts",
                get(list_service_accounts).post(create_service_account),
            )
            .route(
                "/workspaces/{workspace}/serviceaccounts/{sa}/tokens",
                post(create_token),
            )
            .route(
                "/workspaces/{workspace}/serviceaccounts/{sa}/tokens/{token}",
                delete(delete_token),
            )
            .layer(middleware::from_fn(require_sigv4))
            .with_state(control.clone());
        let (endpoint, server) = crate::serve_fake(app, "Managed Grafana").await;
        Self {
            endpoint,
            state: control.state,
            _server: server,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_workspace(&self, id: &str, environment: &str) {
        self.state().workspaces.push(FakeWorkspace {
            id: id.into(),
            name: format!("task-platform-{environment}"),
            status: "ACTIVE".into(),
            tags: BTreeMap::from([("task-platform:environment".into(), environment.into())]),
        });
    }

    /// Environment for a child process whose AWS SDK should use this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        crate::aws_env(&self.endpoint)
    }
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut r = (status, Json(json!({ "message": message }))).into_response();
    r.headers_mut()
        .insert("x-amzn-errortype", kind.parse().expect("header value"));
    r
}

/// The real API refuses unsigned requests; so does the fake (it does not check the signature).
async fn require_sigv4(headers: HeaderMap, request: Request, next: Next) -> Response {
    let signed = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    if !signed {
        return aws_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "Missing Authentication Token",
        );
    }
    next.run(request).await
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn workspace_missing(id: &str) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!("Workspace {id} not found"),
    )
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "maxResults")]
    max_results: Option<usize>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

async fn list_workspaces(State(c): State<Control>, Query(q): Query<ListQuery>) -> Response {
    // Pages of 2 unless asked otherwise, so the paginator is exercised.
    let size = q.max_results.unwrap_or(2).clamp(1, 100);
    let start: usize = q.next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let s = c.lock();
    let items: Vec<Value> = s
        .workspaces
        .iter()
        .skip(start)
        .take(size)
        .map(|w| {
            json!({
                "id": w.id, "name": w.name, "status": w.status, "tags": w.tags,
                // Real workspaces answer a host name; the fake gives its URL (plain HTTP).
                "endpoint": c.grafana_url, "grafanaVersion": "10.4",
                "created": 1_700_000_000, "modified": 1_700_000_000,
                "authentication": {"providers": ["AWS_SSO"]}, "notificationDestinations": [],
            })
        })
        .collect();
    let mut body = json!({ "workspaces": items });
    if start + size < s.workspaces.len() {
        body["nextToken"] = (start + size).to_string().into();
    }
    Json(body).into_response()
}

fn has_workspace(s: &ControlState, id: &str) -> bool {
    s.workspaces.iter().any(|w| w.id == id)
}

async fn list_service_accounts(State(c): State<Control>, Path(ws): Path<String>) -> Response {
    let s = c.lock();
    if !has_workspace(&s, &ws) {
        return workspace_missing(&ws);
    }
    let accounts: Vec<Value> = s
        .service_accounts
        .iter()
        .filter(|a| a.0 == ws)
        .map(|a| json!({"id": a.1, "name": a.2, "grafanaRole": a.3, "isDisabled": "false"}))
        .collect();
    Json(json!({ "serviceAccounts": accounts, "workspaceId": ws })).into_response()
}

async fn create_service_account(
    State(c): State<Control>,
    Path(ws): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = c.lock();
    if !has_workspace(&s, &ws) {
        return workspace_missing(&ws);
    }
    let (Some(name), Some(role)) = (body["name"].as_str(), body["grafanaRole"].as_str()) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "name and grafanaRole are required",
        );
    };
    if s.service_accounts.iter().any(|a| a.0 == ws && a.2 == name) {
        return aws_error(
            StatusCode::CONFLICT,
            "ConflictException",
            "A service account with that name already exists",
        );
    }
    s.next += 1;
    let id = s.next.to_string();
    s.service_accounts
        .push((ws.clone(), id.clone(), name.into(), role.into()));
    Json(json!({"id": id, "name": name, "grafanaRole": role, "workspaceId": ws})).into_response()
}

async fn create_token(
    State(c): State<Control>,
    Path((ws, sa)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = c.lock();
    if !has_workspace(&s, &ws) {
        return workspace_missing(&ws);
    }
    let Some(role) = s
        .service_accounts
        .iter()
        .find(|a| a.0 == ws && a.1 == sa)
        .map(|a| a.3.clone())
    else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Service account not found",
        );
    };
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let ttl = body["secondsToLive"].as_i64().unwrap_or(0);
    if name.is_empty() || !(1..=2_592_000).contains(&ttl) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "name is required and secondsToLive must be 1 to 2592000",
        );
    }
    if s.tokens
        .iter()
        .any(|t| t.service_account_id == sa && t.name == name)
    {
        return aws_error(
            StatusCode::CONFLICT,
            "ConflictException",
            "A token with that name already exists",
        );
    }
    s.next += 1;
    let token = FakeToken {
        id: s.next.to_string(),
        name: name.clone(),
        service_account_id: sa.clone(),
        key: format!("glsa_fake_{}_{:016x}", s.next, rand_u64()),
    };
    s.tokens_created += 1;
    s.tokens_ttl.push(ttl);
    s.tokens.push(token.clone());
    lock(&c.grafana).tokens.insert(token.key.clone(), role);
    Json(json!({
        "serviceAccountToken": {"id": token.id, "name": name, "key": token.key},
        "serviceAccountId": sa, "workspaceId": ws,
    }))
    .into_response()
}

async fn delete_token(
    State(c): State<Control>,
    Path((ws, sa, token)): Path<(String, String, String)>,
) -> Response {
    let mut s = c.lock();
    let Some(i) = s
        .tokens
        .iter()
        .position(|t| t.id == token && t.service_account_id == sa)
    else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Token not found",
        );
    };
    let removed = s.tokens.remove(i);
    lock(&c.grafana).tokens.remove(&removed.key);
    Json(json!({"serviceAccountId": sa, "tokenId": token, "workspaceId": ws})).into_response()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
