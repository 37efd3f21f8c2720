//! Every telemetry event the runner emits, in one place. Each `emit` writes the log line (inside
//! the task's span, so it is also a span event with the task's trace id) and updates its metrics.
//! WARN means nothing was lost; ERROR means an operator should look.

use std::time::Duration;

use task_core::{TaskMessage, queue::QueueError, store::StoreError};

use crate::{
    metrics::{Operation, Outcome, RunnerMetrics},
    work::TaskError,
};

/// Messages arrived for free worker slots.
pub struct TasksReceived {
    pub count: usize,
}

impl TasksReceived {
    pub fn emit(self, m: &RunnerMetrics) {
        m.consumed(self.count);
        m.operation(Operation::Receive, "");
        tracing::debug!(messages.count = self.count, "Task messages received.");
    }
}

pub struct TaskStarted<'a> {
    pub task: &'a TaskMessage,
    pub attempt: u32,
}

impl TaskStarted<'_> {
    pub fn emit(self) {
        tracing::info!(task.id = %self.task.id, task.kind = %self.task.spec.kind, attempt = self.attempt, "Task started.");
    }
}

pub struct TaskSucceeded<'a> {
    pub task: &'a TaskMessage,
    pub duration: Duration,
}

impl TaskSucceeded<'_> {
    pub fn emit(self, m: &RunnerMetrics) {
        m.run(
            self.task.spec.kind,
            self.task.spec.intensity,
            Outcome::Succeeded,
        );
        m.processed(self.task.spec.kind, "", self.duration.as_secs_f64());
        tracing::info!(task.id = %self.task.id, duration_ms = self.duration.as_millis() as u64, "Task succeeded.");
    }
}

/// An attempt failed; the message returns to the queue for a retry after `backoff`.
pub struct TaskFailed<'a> {
    pub task: &'a TaskMessage,
    pub attempt: u32,
    pub error: &'a TaskError,
    pub duration: Duration,
    pub backoff: Duration,
}

impl TaskFailed<'_> {
    pub fn emit(self, m: &RunnerMetrics) {
        m.run(
            self.task.spec.kind,
            self.task.spec.intensity,
            Outcome::Failed,
        );
        m.processed(
            self.task.spec.kind,
            self.error.kind(),
            self.duration.as_secs_f64(),
        );
        tracing::warn!(
            task.id = %self.task.id,
            attempt = self.attempt,
            "error.type" = self.error.kind(),
            error.message = %self.error,
            retry_in_ms = self.backoff.as_millis() as u64,
            "Task attempt failed; it will be retried."
        );
    }
}

/// The last attempt the queue allows failed: the message goes to the dead-letter queue.
pub struct TaskDeadLettered<'a> {
    pub task: &'a TaskMessage,
    pub attempt: u32,
    pub error: &'a TaskError,
    pub duration: Duration,
}

impl TaskDeadLettered<'_> {
    pub fn emit(self, m: &RunnerMetrics) {
        m.run(
            self.task.spec.kind,
            self.task.spec.intensity,
            Outcome::DeadLettered,
        );
        m.processed(
            self.task.spec.kind,
            self.error.kind(),
            self.duration.as_secs_f64(),
        );
        tracing::error!(
            task.id = %self.task.id,
            attempt = self.attempt,
            "error.type" = self.error.kind(),
            error.message = %self.error,
            "Task failed its last attempt; it is dead-lettered."
        );
    }
}

/// A redelivered message of a task that already finished (or was cleared): deleted, not run.
pub struct TaskDuplicateSkipped<'a> {
    pub task: &'a TaskMessage,
    pub status: &'a str,
}

impl TaskDuplicateSkipped<'_> {
    pub fn emit(self) {
        tracing::info!(task.id = %self.task.id, task.status = self.status, "Duplicate delivery skipped.");
    }
}

pub struct TaskVisibilityExtended;

impl TaskVisibilityExtended {
    pub fn emit(self, m: &RunnerMetrics) {
        m.operation(Operation::ExtendVisibility, "");
    }
}

/// A message was handed back to the queue unstarted (shutdown, or the store was down).
pub struct TaskReleased<'a> {
    pub message_id: &'a str,
    pub reason: &'static str,
}

impl TaskReleased<'_> {
    pub fn emit(self, m: &RunnerMetrics) {
        m.operation(Operation::Release, "");
        tracing::info!(
            messaging.message.id = self.message_id,
            reason = self.reason,
            "Task message handed back."
        );
    }
}

/// A body that is not a task: it is handed back until the queue dead-letters it.
pub struct MessageMalformedError<'a> {
    pub message_id: &'a str,
    pub error: &'a serde_json::Error,
}

impl MessageMalformedError<'_> {
    pub fn emit(self) {
        tracing::error!(messaging.message.id = self.message_id, error.message = %self.error, "Message is not a task; it will be dead-lettered.");
    }
}

/// A queue call failed.
pub struct QueueOperationError<'a> {
    pub operation: Operation,
    pub error: &'a QueueError,
}

impl QueueOperationError<'_> {
    pub fn emit(self, m: &RunnerMetrics) {
        let error_type = match self.error {
            QueueError::Unavailable(_) => "unavailable",
            QueueError::ReceiptExpired(_) => "receipt_expired",
            QueueError::Invalid(_) => "invalid",
            QueueError::Other(_) => "other",
        };
        m.operation(self.operation, error_type);
        // An expired receipt means the message was redelivered: nothing lost, the store's
        // conditional transitions absorb the duplicate.
        if matches!(self.error, QueueError::ReceiptExpired(_)) {
            tracing::warn!(operation = ?self.operation, error.message = %self.error, "Queue call found the message redelivered.");
        } else {
            tracing::error!(operation = ?self.operation, error.message = %self.error, error.cause_chain = ?self.error, "Queue call failed.");
        }
    }
}

pub struct StoreUpdateError<'a> {
    pub task: &'a TaskMessage,
    pub error: &'a StoreError,
}

impl StoreUpdateError<'_> {
    pub fn emit(self) {
        tracing::error!(task.id = %self.task.id, error.message = %self.error, "Task store update failed.");
    }
}
