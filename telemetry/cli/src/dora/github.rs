//! Collection from the GitHub REST API: deployments, their statuses, the commits between
//! consecutive successful deployments (compare, paged past its 250-commit cap), merged pull
//! requests and incident issues. Follows `Link` pagination, answers 304s from an ETag cache, and
//! waits out primary (`x-ratelimit-*`) and secondary (`retry-after`) rate limits.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::{StatusCode, header};
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::model::{Commit, Deployment, History, Incident, linked_deployment, split_environment};
use crate::retry::Backoff;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Requests in flight at once (GitHub asks integrators not to hammer it in parallel).
const CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub rejected the token (401 {0}): check GITHUB_TOKEN")]
    Unauthorized(String),
    #[error("{url}: not found (404): check the repository name and that the token can read it")]
    NotFound { url: String },
    #[error(
        "rate limit exhausted until {reset} (in {wait_seconds} s), longer than --max-rate-limit-wait"
    )]
    RateLimited { reset: i64, wait_seconds: u64 },
    #[error("GET {url} answered {status}: {message}")]
    Status {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("GET {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{url}: unexpected answer: {problem}")]
    Shape { url: String, problem: String },
}

#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    pub rate_limited: AtomicU64,
}

struct Cached {
    etag: String,
    body: Value,
    next: Option<String>,
}

pub struct GitHub {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    backoff: Backoff,
    /// The longest rate-limit wait accepted before giving up.
    pub max_rate_limit_wait: Duration,
    cache: Mutex<HashMap<String, Cached>>,
    /// Compare results never change for a pair of shas.
    compares: Mutex<HashMap<(String, String), Vec<Commit>>>,
    pub counts: Counts,
}

impl GitHub {
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .user_agent("task-platform-telemetry")
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            token,
            backoff: Backoff::default(),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            cache: Mutex::default(),
            compares: Mutex::default(),
            counts: Counts::default(),
        }
    }

    /// Every item of a paged list, following `Link: <...>; rel="next"`.
    async fn list(&self, path: &str) -> Result<Vec<Value>, GitHubError> {
        let mut url = format!("{}{path}", self.base);
        let mut items = Vec::new();
        loop {
            let (body, next) = self.get(&url).await?;
            let Value::Array(page) = body else {
                return Err(GitHubError::Shape {
                    url,
                    problem: "expected a JSON array".into(),
                });
            };
            items.extend(page);
            match next {
                Some(n) => url = n,
                None => return Ok(items),
            }
        }
    }

    /// One GET with the ETag cache, retries and rate-limit waits. Returns the body and the next
    /// page's URL.
    async fn get(&self, url: &str) -> Result<(Value, Option<String>), GitHubError> {
        let transport = |source| GitHubError::Transport {
            url: url.to_owned(),
            source,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .http
                .get(url)
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            if let Some(c) = self.lock_cache().get(url) {
                request = request.header(header::IF_NONE_MATCH, &c.etag);
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
            let headers = response.headers().clone();
            if status == StatusCode::NOT_MODIFIED {
                self.counts.not_modified.fetch_add(1, Ordering::Relaxed);
                // Only sent a validator for a cached page, so the page is there.
                return self
                    .lock_cache()
                    .get(url)
                    .map(|c| (c.body.clone(), c.next.clone()))
                    .ok_or_else(|| GitHubError::Status {
                        url: url.to_owned(),
                        status,
                        message: "304 for a page that was never fetched".into(),
                    });
            }
            if let Some(wait) = self.rate_limit_wait(status, &headers, attempt)? {
                self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    url,
                    wait_seconds = wait.as_secs_f64(),
                    "GitHub rate limit: waiting."
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() && attempt < self.backoff.attempts {
                tokio::time::sleep(self.backoff.delay(attempt, Some(&headers))).await;
                continue;
            }
            let text = response.text().await.map_err(transport)?;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if !status.is_success() {
                let message = body["message"].as_str().unwrap_or_default().to_owned();
                return Err(match status {
                    StatusCode::UNAUTHORIZED => GitHubError::Unauthorized(message),
                    StatusCode::NOT_FOUND => GitHubError::NotFound {
                        url: url.to_owned(),
                    },
                    _ => GitHubError::Status {
                        url: url.to_owned(),
                        status,
                        message,
                    },
                });
            }
            let next = next_link(&headers);
            if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
                self.lock_cache().insert(
                    url.to_owned(),
                    Cached {
                        etag: etag.to_owned(),
                        body: body.clone(),
                        next: next.clone(),
                    },
                );
            }
            return Ok((body, next));
        }
    }

    /// How long to wait when GitHub says a rate limit was hit; None when it did not.
    fn rate_limit_wait(
        &self,
        status: StatusCode,
        headers: &header::HeaderMap,
        attempt: u32,
    ) -> Result<Option<Duration>, GitHubError> {
        if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
            return Ok(None);
        }
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        // Secondary limit: GitHub says how long.
        if let Some(after) = crate::retry::retry_after(headers) {
            return self.bounded(
                after,
                OffsetDateTime::now_utc().unix_timestamp() + after.as_secs() as i64,
            );
        }
        // Primary limit: wait for the reset.
        if number("x-ratelimit-remaining") == Some(0) {
            let reset = number("x-ratelimit-reset").unwrap_or_default();
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let wait = Duration::from_secs((reset - now).max(0) as u64 + 1);
            return self.bounded(wait, reset);
        }
        // A 429, or a 403 that is a secondary limit without retry-after: back off and retry.
        if status == StatusCode::TOO_MANY_REQUESTS && attempt < self.backoff.attempts {
            return Ok(Some(
                self.backoff
                    .delay(attempt, None)
                    .max(Duration::from_secs(1)),
            ));
        }
        Ok(None)
    }

    fn bounded(&self, wait: Duration, reset: i64) -> Result<Option<Duration>, GitHubError> {
        if wait > self.max_rate_limit_wait {
            return Err(GitHubError::RateLimited {
                reset,
                wait_seconds: wait.as_secs(),
            });
        }
        Ok(Some(wait))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits in `head` that `base` lacks, every page of them.
    pub async fn compare(
        &self,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Vec<Commit>, GitHubError> {
        let key = (base.to_owned(), head.to_owned());
        if let Some(c) = self
            .compares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let mut url = format!(
            "{}/repos/{repo}/compare/{base}...{head}?per_page=100",
            self.base
        );
        let mut commits = Vec::new();
        loop {
            let (body, next) = self.get(&url).await?;
            let page = body["commits"].as_array().cloned().unwrap_or_default();
            let total = body["total_commits"].as_u64().unwrap_or_default() as usize;
            let empty = page.is_empty();
            for c in page {
                commits.push(Commit {
                    sha: str_field(&c, "sha", &url)?,
                    authored_at: timestamp(&c["commit"]["author"]["date"], &url)?,
                });
            }
            match next {
                Some(n) if !empty && commits.len() < total => url = n,
                _ => break,
            }
        }
        self.compares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, commits.clone());
        Ok(commits)
    }

    /// Everything the metrics need for `repo`, for deployments created after `since`.
    /// `environment` keeps only that DORA environment (`production` keeps `production-api`, ...).
    pub async fn collect(
        &self,
        repo: &str,
        environment: Option<&str>,
        incident_label: &str,
        since: i64,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<History, GitHubError> {
        let url = format!("/repos/{repo}/deployments?per_page=100");
        let mut deployments = Vec::new();
        for d in self.list(&url).await? {
            let github_environment = str_field(&d, "environment", &url)?;
            if environment.is_some_and(|e| split_environment(&github_environment).0 != e) {
                continue;
            }
            deployments.push(Deployment {
                id: d["id"].as_u64().unwrap_or_default(),
                sha: str_field(&d, "sha", &url)?,
                github_environment,
                created_at: timestamp(&d["created_at"], &url)?,
                succeeded_at: None,
                failed_at: None,
            });
        }
        let mut deployments = super::model::window_with_bases(deployments, since);
        progress(&format!("{} deployments", deployments.len()));

        let total = deployments.len();
        let done = AtomicU64::new(0);
        let ids: Vec<u64> = deployments.iter().map(|d| d.id).collect();
        let statuses: Vec<Vec<Value>> = stream::iter(ids)
            .map(|id| {
                let done = &done;
                async move {
                    let s = self
                        .list(&format!(
                            "/repos/{repo}/deployments/{id}/statuses?per_page=100"
                        ))
                        .await;
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 100 == 0 || n as usize == total {
                        progress(&format!("statuses {n}/{total}"));
                    }
                    s
                }
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        for (d, list) in deployments.iter_mut().zip(statuses) {
            let mut events = Vec::new();
            for s in &list {
                events.push((
                    timestamp(&s["created_at"], "statuses")?,
                    s["state"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            // GitHub lists newest first; the outcome is decided oldest first.
            events.sort();
            for (at, state) in events {
                d.apply_status(&state, at);
            }
        }

        let pairs = consecutive_successes(&deployments);
        let changes: Vec<(u64, Vec<Commit>)> = stream::iter(pairs)
            .map(|(id, base, head)| async move {
                let commits = if base == head {
                    Vec::new()
                } else {
                    self.compare(repo, &base, &head).await?
                };
                Ok::<_, GitHubError>((id, commits))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        progress(&format!("compared {} deployment pairs", changes.len()));

        let merges = self.merges(repo, since).await?;
        let incidents = self.incidents(repo, incident_label, since).await?;
        progress(&format!(
            "{} merged pull requests, {} incidents",
            merges.len(),
            incidents.len()
        ));
        Ok(History {
            deployments,
            changes: changes.into_iter().collect(),
            merges,
            incidents,
        })
    }

    /// Merge commit -> merge time of pull requests updated since `since`, newest first, so the
    /// listing stops at the first page older than that.
    async fn merges(&self, repo: &str, since: i64) -> Result<HashMap<String, i64>, GitHubError> {
        let mut url = format!(
            "{}/repos/{repo}/pulls?state=closed&sort=updated&direction=desc&per_page=100",
            self.base
        );
        let mut merges = HashMap::new();
        loop {
            let (body, next) = self.get(&url).await?;
            let page = body.as_array().cloned().unwrap_or_default();
            let mut older = false;
            for pr in &page {
                if timestamp(&pr["updated_at"], &url)? < since {
                    older = true;
                }
                if let (Some(sha), Some(_)) =
                    (pr["merge_commit_sha"].as_str(), pr["merged_at"].as_str())
                {
                    merges.insert(sha.to_owned(), timestamp(&pr["merged_at"], &url)?);
                }
            }
            match next {
                Some(n) if !older => url = n,
                _ => return Ok(merges),
            }
        }
    }

    async fn incidents(
        &self,
        repo: &str,
        label: &str,
        since: i64,
    ) -> Result<Vec<Incident>, GitHubError> {
        let since = OffsetDateTime::from_unix_timestamp(since)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let url =
            format!("/repos/{repo}/issues?labels={label}&state=all&since={since}&per_page=100");
        let mut out = Vec::new();
        for issue in self.list(&url).await? {
            // The issues API also lists pull requests.
            if issue.get("pull_request").is_some() {
                continue;
            }
            let text = format!(
                "{}\n{}",
                issue["title"].as_str().unwrap_or_default(),
                issue["body"].as_str().unwrap_or_default()
            );
            out.push(Incident {
                number: issue["number"].as_u64().unwrap_or_default(),
                created_at: timestamp(&issue["created_at"], &url)?,
                deployment_id: linked_deployment(&text),
            });
        }
        Ok(out)
    }
}

/// (deployment id, previous success's sha, its sha) for every success that has a predecessor
/// in the same GitHub environment.
fn consecutive_successes(deployments: &[Deployment]) -> Vec<(u64, String, String)> {
    let mut by_env: HashMap<&str, Vec<&Deployment>> = HashMap::new();
    for d in deployments.iter().filter(|d| d.succeeded_at.is_some()) {
        by_env.entry(&d.github_environment).or_default().push(d);
    }
    let mut pairs = Vec::new();
    for list in by_env.values_mut() {
        list.sort_by_key(|d| (d.succeeded_at, d.id));
        for w in list.windows(2) {
            pairs.push((w[1].id, w[0].sha.clone(), w[1].sha.clone()));
        }
    }
    pairs
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &header::HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn str_field(v: &Value, name: &str, url: &str) -> Result<String, GitHubError> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| GitHubError::Shape {
            url: url.to_owned(),
            problem: format!("no string {name:?}"),
        })
}

pub fn parse_time(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn timestamp(v: &Value, url: &str) -> Result<i64, GitHubError> {
    v.as_str()
        .and_then(parse_time)
        .ok_or_else(|| GitHubError::Shape {
            url: url.to_owned(),
            problem: format!("expected an RFC 3339 time, got {v}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        let mut h = header::HeaderMap::new();
        h.insert(
            header::LINK,
            r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#
                .parse()
                .expect("header"),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        h.insert(
            header::LINK,
            r#"<https://api.github.com/x?page=1>; rel="prev""#
                .parse()
                .expect("header"),
        );
        assert_eq!(next_link(&h), None);
    }
}
