//! The task resource: submit, list, read, clear, and the dead-letter redrive.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
};
use serde::Serialize;
use serde_json::Value;
use task_core::{
    Status, Task,
    queue::Redrive,
    store::{Applied, ListQuery, Transition},
};
use uuid::Uuid;

use crate::{
    error::ApiError,
    startup::AppState,
    submit::{self, Rejected},
};

/// The default page size of `GET /api/tasks`.
const DEFAULT_PAGE: u32 = 50;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Submitted {
    /// The tasks now on the queue.
    pub tasks: Vec<Task>,
    /// Tasks the queue did not take after retries; they were not created.
    pub rejected: Vec<Rejected>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Redriven {
    pub queue: Redrive,
    /// Dead-lettered tasks set back to `queued`.
    pub tasks: u64,
}

/// A task entry of a submission.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Documents the request body; parsing is `submit::parse`, which names fields.
pub struct NewTask {
    kind: task_core::Kind,
    intensity: task_core::Intensity,
    /// Chance in percent that each attempt fails. Default 0.
    #[schema(maximum = 100)]
    fail_percent: Option<u8>,
    /// How many tasks like this one. Default 1.
    #[schema(minimum = 1)]
    count: Option<u32>,
}

/// One task entry or an array of them.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum Submission {
    One(NewTask),
    Many(Vec<NewTask>),
}

/// The body of a JSON request, or the error for a wrong content type or an unreadable body.
fn json_bytes(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::invalid("unreadable_body", e.body_text())
        }
    })
}

async fn submit_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let bytes = json_bytes(headers, body, state.limits.max_body_bytes)?;
    let max_tasks = state.limits.max_tasks_per_request;
    let specs = match submit::parse_valid(&bytes, max_tasks) {
        Some(specs) => specs,
        // Whatever the typed parse refused, the general one names the problem.
        None => {
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid("malformed_json", format!("malformed JSON: {e}")))?;
            submit::parse(&value, max_tasks)?
        }
    };
    let (tasks, rejected) = submit::enqueue(state, specs).await?;
    Ok((StatusCode::ACCEPTED, Json(Submitted { tasks, rejected })))
}

/// Submit one task or an array of tasks (each with an optional `count`).
#[utoipa::path(
    post,
    path = "/api/tasks",
    tag = "tasks",
    request_body(content = Submission, content_type = "application/json"),
    responses(
        (status = 202, description = "On the queue", body = Submitted),
        (status = 400, description = "Invalid task; `field` names it", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 503, description = "Queue or store down; retry after Retry-After", body = crate::error::ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    submit_body(&state, &headers, body).await
}

/// The original clients' submit route: same as `POST /api/tasks`.
#[utoipa::path(
    post,
    path = "/api/tasks/create",
    tag = "compatibility",
    request_body(content = Submission, content_type = "application/json"),
    responses((status = 202, description = "On the queue", body = Submitted))
)]
pub async fn submit_compat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    submit_body(&state, &headers, body).await
}

/// Tasks, newest first, a page at a time, optionally of one status.
#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    params(
        ("status" = Option<Status>, Query, description = "Only tasks in this status"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-500 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, body = TaskPage),
        (status = 400, description = "Invalid parameter", body = crate::error::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<TaskPage>, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["status", "limit", "cursor"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            unknown.as_str(),
            "unknown parameter; expected status, limit, cursor",
        ));
    }
    let status = params
        .get("status")
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| ApiError::field("status", e))
        })
        .transpose()?;
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=task_core::store::MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!(
                        "must be a whole number from 1 to {}",
                        task_core::store::MAX_PAGE
                    ),
                ));
            }
        },
    };
    let page = state
        .backends
        .store
        .list(&ListQuery {
            status,
            limit,
            cursor: params.get("cursor").cloned(),
        })
        .await?;
    Ok(Json(TaskPage {
        tasks: page.tasks,
        next_cursor: page.next_cursor,
    }))
}

/// One task.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, body = Task),
        (status = 400, description = "Not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "No such task", body = crate::error::ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::field("id", "must be a UUID"))?;
    state
        .backends
        .store
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no task {id}")))
}

/// Clears the task list. Messages already on the queue are dropped by the runner that receives
/// them: their task no longer exists.
#[utoipa::path(delete, path = "/api/tasks", tag = "tasks", responses((status = 200, body = Deleted)))]
pub async fn clear(State(state): State<AppState>) -> Result<Json<Deleted>, ApiError> {
    let deleted = state.backends.store.clear().await?;
    Ok(Json(Deleted { deleted }))
}

/// The original clients' clear route: same as `DELETE /api/tasks`.
#[utoipa::path(delete, path = "/api/tasks/all", tag = "compatibility", responses((status = 200, body = Deleted)))]
pub async fn clear_compat(State(state): State<AppState>) -> Result<Json<Deleted>, ApiError> {
    clear(State(state)).await
}

/// Moves every dead-lettered message back to the queue and sets its task to `queued`.
#[utoipa::path(
    post,
    path = "/api/dead-letters/redrive",
    tag = "tasks",
    responses((status = 200, body = Redriven), (status = 503, body = crate::error::ErrorBody))
)]
pub async fn redrive(State(state): State<AppState>) -> Result<Json<Redriven>, ApiError> {
    let queue = state.backends.queue.redrive().await?;
    let store = &state.backends.store;
    let mut tasks = 0;
    // Each transition takes the task out of the dead_lettered listing, so the first page is
    // always the next one; stop when a page changes nothing (tasks redriven concurrently).
    loop {
        let page = store
            .list(&ListQuery {
                status: Some(Status::DeadLettered),
                limit: task_core::store::MAX_PAGE,
                cursor: None,
            })
            .await?;
        let mut changed = 0;
        for t in &page.tasks {
            if store.transition(t.id, &Transition::Redriven).await? == Applied::Yes {
                changed += 1;
            }
        }
        tasks += changed;
        if page.next_cursor.is_none() || changed == 0 {
            break;
        }
    }
    Ok(Json(Redriven { queue, tasks }))
}
