//! A small client of the Grafana HTTP API: the calls `sync-dashboards` makes, each counted as a
//! read or a write, retried on 429 and 5xx, with Grafana's error answers turned into errors that
//! say what to do.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::retry::Backoff;

#[derive(Debug, thiserror::Error)]
pub enum GrafanaError {
    #[error(
        "Grafana at {url} rejected the token (401 {message}): check that it is set, not expired and belongs to this Grafana"
    )]
    Unauthorized { url: String, message: String },
    #[error(
        "the token may not {action} (403 {message}): the service account needs the Editor or Admin role"
    )]
    Forbidden { action: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{method} {path} answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {path} failed: {source}")]
    Transport {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
}

/// Reads and writes made, for the report and the benchmark.
#[derive(Debug, Default)]
pub struct RequestCounts {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl RequestCounts {
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Datasource {
    pub uid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "isDefault")]
    pub is_default: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FolderRef {
    pub uid: String,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchHit {
    pub uid: String,
    pub title: String,
    #[serde(default, rename = "folderUid")]
    pub folder_uid: Option<String>,
}

/// A dashboard as Grafana has it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub dashboard: Value,
    pub folder_uid: Option<String>,
    pub version: i64,
}

pub struct Grafana {
    http: reqwest::Client,
    base: String,
    token: String,
    backoff: Backoff,
    counts: RequestCounts,
}

impl Grafana {
    pub fn new(base: &str, token: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            token,
            backoff: Backoff::default(),
            counts: RequestCounts::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn counts(&self) -> &RequestCounts {
        &self.counts
    }

    pub async fn datasources(&self) -> Result<Vec<Datasource>, GrafanaError> {
        self.get_json("/api/datasources", &[]).await
    }

    /// Every folder (Grafana pages this list; 1000 a page is its maximum).
    pub async fn folders(&self) -> Result<Vec<FolderRef>, GrafanaError> {
        self.paged("/api/folders", &[]).await
    }

    pub async fn create_folder(&self, uid: &str, title: &str) -> Result<(), GrafanaError> {
        self.send(
            Method::POST,
            "/api/folders",
            &[],
            Some(json!({ "uid": uid, "title": title })),
        )
        .await
        .map(drop)
    }

    /// Dashboards carrying `tag`.
    pub async fn search_tagged(&self, tag: &str) -> Result<Vec<SearchHit>, GrafanaError> {
        self.paged("/api/search", &[("type", "dash-db"), ("tag", tag)])
            .await
    }

    pub async fn dashboard(&self, uid: &str) -> Result<Option<Stored>, GrafanaError> {
        let path = format!("/api/dashboards/uid/{uid}");
        match self.send(Method::GET, &path, &[], None).await {
            Ok(body) => {
                let version = body["dashboard"]["version"]
                    .as_i64()
                    .or_else(|| body["meta"]["version"].as_i64())
                    .unwrap_or(0);
                let folder_uid = body["meta"]["folderUid"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                Ok(Some(Stored {
                    dashboard: body["dashboard"].clone(),
                    folder_uid,
                    version,
                }))
            }
            Err(GrafanaError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or updates a dashboard. `version` is the one read just before (None for a new
    /// dashboard): Grafana refuses with 412 if someone saved it in between, and nothing is lost.
    pub async fn save(
        &self,
        dashboard: &Value,
        version: Option<i64>,
        folder_uid: &str,
        message: &str,
    ) -> Result<i64, GrafanaError> {
        let mut dashboard = dashboard.clone();
        if let Some(map) = dashboard.as_object_mut() {
            map.remove("id");
            match version {
                Some(v) => map.insert("version".into(), v.into()),
                None => map.remove("version"),
            };
        }
        let uid = dashboard["uid"].as_str().unwrap_or_default().to_owned();
        let title = dashboard["title"].as_str().unwrap_or_default().to_owned();
        let body = json!({
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "overwrite": false,
            "message": message,
        });
        match self
            .send(Method::POST, "/api/dashboards/db", &[], Some(body))
            .await
        {
            Ok(answer) => Ok(answer["version"].as_i64().unwrap_or_default()),
            Err(GrafanaError::Status {
                status: StatusCode::PRECONDITION_FAILED,
                message,
                ..
            }) => Err(GrafanaError::Conflict(explain_412(
                &uid, &title, folder_uid, &message,
            ))),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_dashboard(&self, uid: &str) -> Result<(), GrafanaError> {
        let path = format!("/api/dashboards/uid/{uid}");
        self.send(Method::DELETE, &path, &[], None).await.map(drop)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, GrafanaError> {
        let body = self.send(Method::GET, path, query, None).await?;
        serde_json::from_value(body).map_err(|e| GrafanaError::Status {
            method: Method::GET,
            path: path.to_owned(),
            status: StatusCode::OK,
            message: format!("unexpected answer: {e}"),
        })
    }

    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, GrafanaError> {
        const LIMIT: usize = 1000;
        let limit = LIMIT.to_string();
        let mut all = Vec::new();
        for page in 1.. {
            let page = page.to_string();
            let mut q = query.to_vec();
            q.extend([("limit", limit.as_str()), ("page", page.as_str())]);
            let items: Vec<T> = self.get_json(path, &q).await?;
            let last = items.len() < LIMIT;
            all.extend(items);
            if last {
                break;
            }
        }
        Ok(all)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, GrafanaError> {
        let counter = if method == Method::GET {
            &self.counts.reads
        } else {
            &self.counts.writes
        };
        let transport = |source| GrafanaError::Transport {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            counter.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .query(query)
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let Some(response) = self
                .backoff
                .send(attempt, request)
                .await
                .map_err(transport)?
            else {
                continue;
            };
            let status = response.status();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < self.backoff.attempts {
                let wait = self.backoff.delay(attempt, Some(response.headers()));
                tracing::debug!(%status, path, ?wait, "Grafana asked to retry.");
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response.text().await.map_err(transport)?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status.is_success() {
                return Ok(value);
            }
            let message = value["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            return Err(match status {
                StatusCode::UNAUTHORIZED => GrafanaError::Unauthorized {
                    url: self.base.clone(),
                    message,
                },
                StatusCode::FORBIDDEN => GrafanaError::Forbidden {
                    action: format!("{method} {path}"),
                    message,
                },
                _ => GrafanaError::Status {
                    method,
                    path: path.to_owned(),
                    status,
                    message,
                },
            });
        }
    }
}

/// Grafana answers 412 for two different conflicts; say which and what to do.
fn explain_412(uid: &str, title: &str, folder_uid: &str, message: &str) -> String {
    let lower = message.to_lowercase();
    if lower.contains("same name") || lower.contains("name-exists") {
        format!(
            "dashboard {uid} ({title:?}): another dashboard with this title already exists in folder {folder_uid} \
             (412: {message}). Rename one of them or delete the other in Grafana, then sync again."
        )
    } else {
        format!(
            "dashboard {uid} ({title:?}) was saved in Grafana by someone else while this sync ran \
             (412: {message}). Nothing was overwritten; run the sync again to publish the repository's version."
        )
    }
}
