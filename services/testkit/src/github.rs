//! A fake of the GitHub REST API endpoints the DORA collector reads, serving a scripted
//! repository: deployments (newest first) and their statuses, compare over a linear commit
//! history, closed pull requests and issues. Like GitHub it pages with `per_page`/`page` and
//! `Link` headers, sends ETags and answers `If-None-Match` with 304, wants a token (401 "Bad
//! credentials" otherwise), and can be told to answer one request with the primary rate limit
//! (403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset`).

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

pub const TOKEN: &str = "ghp_fake_token";

#[derive(Default)]
pub struct GitHubState {
    pub repo: String,
    /// Oldest first; the API lists newest first.
    deployments: Vec<Value>,
    statuses: HashMap<u64, Vec<Value>>,
    /// The main branch, oldest first: (sha, author date).
    commits: Vec<(String, String)>,
    pulls: Vec<Value>,
    issues: Vec<Value>,
    /// Answer the request with this number (1-based) with the rate limit, once.
    pub rate_limit_at: Option<u64>,
    pub requests: u64,
    pub not_modified: u64,
    pub rate_limited: u64,
}

type Shared = Arc<Mutex<GitHubState>>;

fn lock(s: &Shared) -> MutexGuard<'_, GitHubState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct FakeGitHub {
    pub url: String,
    state: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    pub async fn start(repo: &str) -> Self {
        let state: Shared = Arc::default();
        lock(&state).repo = repo.into();
        let app = Router::new()
            .route("/repos/{owner}/{repo}/deployments", get(deployments))
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                get(statuses),
            )
            .route("/repos/{owner}/{repo}/compare/{spec}", get(compare))
            .route("/repos/{owner}/{repo}/pulls", get(pulls))
            .route("/repos/{owner}/{repo}/issues", get(issues))
            .layer(middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let (url, server) = crate::serve_fake(app, "GitHub").await;
        Self {
            url,
            state,
            _server: server,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, GitHubState> {
        lock(&self.state)
    }

    /// Appends a commit to main.
    pub fn commit(&self, sha: &str, authored_at: &str) {
        self.state().commits.push((sha.into(), authored_at.into()));
    }

    /// A deployment and its statuses, each `(state, time)`, oldest first.
    pub fn deployment(
        &self,
        id: u64,
        sha: &str,
        environment: &str,
        created_at: &str,
        statuses: &[(&str, &str)],
    ) {
        let mut s = self.state();
        let repo = s.repo.clone();
        s.deployments.push(json!({
            "url": format!("https://api.github.com/repos/{repo}/deployments/{id}"),
            "id": id, "sha": sha, "ref": "main", "task": "deploy", "payload": {},
            "environment": environment, "original_environment": environment,
            "description": null, "created_at": created_at, "updated_at": created_at,
            "statuses_url": format!("https://api.github.com/repos/{repo}/deployments/{id}/statuses"),
        }));
        let list = statuses
            .iter()
            .enumerate()
            .rev()
            .map(|(i, (state, at))| {
                json!({"id": id * 100 + i as u64, "state": state, "environment": environment,
                       "created_at": at, "updated_at": at, "description": ""})
            })
            .collect();
        s.statuses.insert(id, list);
    }

    pub fn pull(&self, number: u64, merge_commit_sha: &str, merged_at: &str) {
        self.state().pulls.push(json!({
            "number": number, "state": "closed", "merge_commit_sha": merge_commit_sha,
            "merged_at": merged_at, "closed_at": merged_at, "updated_at": merged_at,
        }));
    }

    pub fn issue(&self, number: u64, labels: &[&str], title: &str, body: &str, created_at: &str) {
        self.state().issues.push(json!({
            "number": number, "title": title, "body": body, "state": "closed",
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "created_at": created_at, "updated_at": created_at,
        }));
    }
}

/// Token check, unknown repositories (404), the scripted rate limit, and the request count.
async fn gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let n = {
        let mut s = lock(&state);
        s.requests += 1;
        s.requests
    };
    let authorised = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
    if !authorised {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})),
        )
            .into_response();
    }
    if !is_our_repo(&state, request.uri().path()) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    if request.headers().get(header::USER_AGENT).is_none() {
        return (StatusCode::FORBIDDEN, Json(json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}))).into_response();
    }
    let limited = {
        let mut s = lock(&state);
        let hit = s.rate_limit_at == Some(n);
        if hit {
            s.rate_limit_at = None;
            s.rate_limited += 1;
        }
        hit
    };
    if limited {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 1)
            .unwrap_or_default();
        let mut r = (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "API rate limit exceeded for user ID 1."})),
        )
            .into_response();
        let h = r.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        return r;
    }
    next.run(request).await
}

#[derive(serde::Deserialize, Default)]
struct Paging {
    per_page: Option<usize>,
    page: Option<usize>,
    environment: Option<String>,
    labels: Option<String>,
}

fn paging(uri: &Uri) -> Paging {
    uri.query()
        .and_then(serde_urlencoded_lite)
        .unwrap_or_default()
}

/// Query strings here are simple `k=v&k=v`; decoding through serde_json keeps the fake free of
/// another dependency.
fn serde_urlencoded_lite(q: &str) -> Option<Paging> {
    let map: serde_json::Map<String, Value> = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = match v.parse::<u64>() {
                Ok(n) if k == "per_page" || k == "page" => Value::from(n),
                _ => Value::from(v.to_owned()),
            };
            (k.to_owned(), v)
        })
        .collect();
    serde_json::from_value(Value::Object(map)).ok()
}

/// One page of `items` with GitHub's Link header, and the ETag/304 handling.
fn respond(
    headers: &HeaderMap,
    uri: &Uri,
    state: &Shared,
    body_for: impl Fn(&[Value]) -> Value,
    items: &[Value],
) -> Response {
    let p = paging(uri);
    let per_page = p.per_page.unwrap_or(30).clamp(1, 100);
    let page = p.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let body = body_for(&slice);
    let text = body.to_string();
    let etag = format!(
        "W/\"{:016x}\"",
        BuildHasherDefault::<DefaultHasher>::default().hash_one(&text)
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        lock(state).not_modified += 1;
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert(header::ETAG, etag.parse().expect("etag"));
        return r;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let link_to = |n: usize| {
        let query: Vec<String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|kv| !kv.starts_with("page=") && !kv.is_empty())
            .map(str::to_owned)
            .chain([format!("page={n}")])
            .collect();
        format!("<http://{host}{}?{}>", uri.path(), query.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    let mut r = (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        text,
    )
        .into_response();
    r.headers_mut()
        .insert(header::ETAG, etag.parse().expect("etag"));
    if !links.is_empty() {
        r.headers_mut()
            .insert(header::LINK, links.join(", ").parse().expect("link"));
    }
    r
}

/// Whether a `/repos/{owner}/{repo}/...` path names the scripted repository.
fn is_our_repo(state: &Shared, path: &str) -> bool {
    let mut parts = path.trim_start_matches('/').split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(owner), Some(repo)) => lock(state).repo == format!("{owner}/{repo}"),
        _ => false,
    }
}

fn array(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}

async fn deployments(State(state): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let env = paging(&uri).environment;
    let items: Vec<Value> = lock(&state)
        .deployments
        .iter()
        .rev()
        .filter(|d| env.as_ref().is_none_or(|e| d["environment"] == e.as_str()))
        .cloned()
        .collect();
    respond(&headers, &uri, &state, array, &items)
}

async fn statuses(
    State(state): State<Shared>,
    Path((_, _, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let items = lock(&state).statuses.get(&id).cloned();
    match items {
        Some(items) => respond(&headers, &uri, &state, array, &items),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response(),
    }
}

async fn compare(
    State(state): State<Shared>,
    Path((_, _, spec)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some((base, head)) = spec.split_once("...") else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    };
    let commits = lock(&state).commits.clone();
    let index = |sha: &str| commits.iter().position(|(s, _)| s == sha);
    let (Some(b), Some(h)) = (index(base), index(head)) else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    };
    let (status, ahead) = match h.cmp(&b) {
        std::cmp::Ordering::Greater => ("ahead", &commits[b + 1..=h]),
        std::cmp::Ordering::Equal => ("identical", &commits[0..0]),
        std::cmp::Ordering::Less => ("behind", &commits[0..0]),
    };
    let items: Vec<Value> = ahead
        .iter()
        .map(|(sha, date)| json!({"sha": sha, "commit": {"author": {"date": date}, "committer": {"date": date}}}))
        .collect();
    let total = items.len();
    let behind = b.saturating_sub(h);
    respond(
        &headers,
        &uri,
        &state,
        |page| json!({"status": status, "ahead_by": total, "behind_by": behind, "total_commits": total, "commits": page}),
        &items,
    )
}

async fn pulls(State(state): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let mut items = lock(&state).pulls.clone();
    items.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
    respond(&headers, &uri, &state, array, &items)
}

async fn issues(State(state): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let label = paging(&uri).labels;
    let items: Vec<Value> = lock(&state)
        .issues
        .iter()
        .filter(|i| {
            label.as_ref().is_none_or(|l| {
                i["labels"]
                    .as_array()
                    .is_some_and(|ls| ls.iter().any(|x| x["name"] == l.as_str()))
            })
        })
        .cloned()
        .collect();
    respond(&headers, &uri, &state, array, &items)
}
