//! The task store: what happened to each task, for the API and the page.
//!
//! Status changes are conditional transitions ([`Transition`]): each names the statuses it may
//! leave from, and a change from any other status is ignored, not applied. That is what makes
//! duplicate and late deliveries harmless: a message received twice can never move a succeeded
//! task back to running.

mod dynamo;
pub(crate) mod embedded;

use async_trait::async_trait;
use uuid::Uuid;

pub use dynamo::DynamoTaskStore;
pub use embedded::EmbeddedTaskStore;

use crate::{
    model::{Millis, Status, Task},
    queue::TraceId,
};

/// The largest page a list returns.
pub const MAX_PAGE: u32 = 500;

/// A status change requested by a runner or an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// An attempt started on `runner_id`.
    Started {
        runner_id: String,
        trace_id: Option<TraceId>,
    },
    /// The attempt succeeded after `duration_ms`.
    Succeeded { duration_ms: u64 },
    /// The attempt failed; the message goes back to the queue (`retrying`), or, when this was the
    /// last receive the queue allows, to the dead-letter queue (`dead_lettered`).
    Failed {
        error: String,
        duration_ms: u64,
        dead_lettered: bool,
    },
    /// An operator redrove the dead-letter queue.
    Redriven,
}

impl Transition {
    /// The status this transition leads to.
    pub fn target(&self) -> Status {
        match self {
            Transition::Started { .. } => Status::Running,
            Transition::Succeeded { .. } => Status::Succeeded,
            Transition::Failed {
                dead_lettered: false,
                ..
            } => Status::Retrying,
            Transition::Failed {
                dead_lettered: true,
                ..
            } => Status::DeadLettered,
            Transition::Redriven => Status::Queued,
        }
    }

    /// The statuses this transition may leave from. `Succeeded` is in none of them: a succeeded
    /// task never changes again.
    pub fn allowed_from(&self) -> &'static [Status] {
        use Status::*;
        match self {
            // Running: a redelivery after a runner crashed. DeadLettered: a redriven message
            // reached a runner before the operator's store update.
            Transition::Started { .. } => &[Queued, Running, Retrying, DeadLettered],
            Transition::Succeeded { .. } | Transition::Failed { .. } => {
                &[Queued, Running, Retrying]
            }
            Transition::Redriven => &[DeadLettered],
        }
    }
}

/// What a transition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// The task was in `current`, which the transition may not leave from.
    Ignored {
        current: Status,
    },
    /// No task has this id.
    NotFound,
}

/// One page of a newest-first listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Page {
    pub tasks: Vec<Task>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A newest-first listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Number of tasks in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    pub queued: u64,
    pub running: u64,
    pub retrying: u64,
    pub succeeded: u64,
    pub dead_lettered: u64,
}

impl StatusCounts {
    pub fn get_mut(&mut self, s: Status) -> &mut u64 {
        match s {
            Status::Queued => &mut self.queued,
            Status::Running => &mut self.running,
            Status::Retrying => &mut self.retrying,
            Status::Succeeded => &mut self.succeeded,
            Status::DeadLettered => &mut self.dead_lettered,
        }
    }

    pub fn total(&self) -> u64 {
        self.queued + self.running + self.retrying + self.succeeded + self.dead_lettered
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or is overloaded: answer 503 and retry later.
    #[error("task store unavailable: {0}")]
    Unavailable(String),
    /// The caller passed something the store cannot use (a malformed cursor).
    #[error("invalid task store request: {0}")]
    Invalid(String),
    #[error("task store error: {0}")]
    Other(String),
}

/// Where tasks are recorded.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Records new tasks. Ids are fresh, so creation is not conditional.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn create(&self, tasks: &[Task]) -> Result<(), StoreError>;

    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get(&self, id: Uuid) -> Result<Option<Task>, StoreError>;

    /// Applies `t` if the task's current status allows it (see [`Transition::allowed_from`]).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn transition(&self, id: Uuid, t: &Transition) -> Result<Applied, StoreError>;

    /// Tasks newest first.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a cursor this store did not hand out, [`StoreError::Unavailable`].
    async fn list(&self, q: &ListQuery) -> Result<Page, StoreError>;

    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn counts(&self) -> Result<StatusCounts, StoreError>;

    /// Deletes these tasks (those that exist); for tasks the queue never accepted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError>;

    /// Deletes every task; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn clear(&self) -> Result<u64, StoreError>;
}

/// The fields a transition writes, computed once for both backends.
pub(crate) struct Write<'a> {
    pub status: Status,
    pub now: Millis,
    pub runner_id: Option<&'a str>,
    pub trace_id: Option<TraceId>,
    pub duration_ms: Option<u64>,
    pub error: Option<&'a str>,
    /// Adds one to `attempts`.
    pub new_attempt: bool,
    /// Sets `finished_at`.
    pub finishes: bool,
}

impl<'a> Write<'a> {
    pub fn of(t: &'a Transition) -> Self {
        let mut w = Write {
            status: t.target(),
            now: Millis::now(),
            runner_id: None,
            trace_id: None,
            duration_ms: None,
            error: None,
            new_attempt: false,
            finishes: t.target().is_terminal(),
        };
        match t {
            Transition::Started {
                runner_id,
                trace_id,
            } => {
                w.runner_id = Some(runner_id);
                w.trace_id = *trace_id;
                w.new_attempt = true;
            }
            Transition::Succeeded { duration_ms } => w.duration_ms = Some(*duration_ms),
            Transition::Failed {
                error, duration_ms, ..
            } => {
                w.error = Some(error);
                w.duration_ms = Some(*duration_ms);
            }
            Transition::Redriven => {}
        }
        w
    }
}

/// Clamps a requested page size to 1..=[`MAX_PAGE`].
pub(crate) fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}
