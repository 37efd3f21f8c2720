//! Every telemetry event the API emits, in one place: each `emit` writes the log line (which is
//! also a span event) and updates its metrics, so call sites stay one line.

use task_core::{Task, queue::QueueError};

use crate::metrics::{ApiMetrics, SendOutcome};

/// Tasks were accepted and are on the queue.
pub struct TasksSubmitted<'a> {
    pub tasks: &'a [Task],
}

impl TasksSubmitted<'_> {
    pub fn emit(self, m: &ApiMetrics) {
        for t in self.tasks {
            m.tasks_submitted(t.spec.kind, t.spec.intensity);
        }
        m.messages_sent(SendOutcome::Sent, self.tasks.len() as u64);
        // Debug, not info: every accepted request already has its server span and metrics; an
        // info line per request would cost a sixth of the API's throughput and say nothing new.
        tracing::debug!(tasks.count = self.tasks.len(), "Tasks submitted.");
    }
}

/// A task could not be put on the queue after retries; it was removed from the store and the
/// client is told which.
pub struct TaskEnqueueError<'a> {
    pub task: &'a Task,
    pub error: &'a QueueError,
}

impl TaskEnqueueError<'_> {
    pub fn emit(self, m: &ApiMetrics) {
        m.messages_sent(SendOutcome::from(self.error), 1);
        tracing::error!(
            task.id = %self.task.id,
            "error.type" = SendOutcome::from(self.error).as_str(),
            error.message = %self.error,
            "Task could not be queued; it was not accepted."
        );
    }
}

/// A backend did not answer; the client got 503 + Retry-After.
pub struct BackendUnavailable<'a> {
    pub backend: &'a str,
    pub detail: &'a str,
}

impl BackendUnavailable<'_> {
    pub fn emit(self) {
        tracing::error!(
            backend = self.backend,
            error.message = self.detail,
            "Backend unavailable; answering 503."
        );
    }
}

/// Tasks were removed from a failed submission but the store did not confirm it.
pub struct OrphanCleanupError<'a> {
    pub count: usize,
    pub error: &'a dyn std::fmt::Display,
}

impl OrphanCleanupError<'_> {
    pub fn emit(self) {
        tracing::error!(
            tasks.count = self.count,
            error.message = %self.error,
            "Tasks that never reached the queue could not be removed from the store; they stay queued."
        );
    }
}
