//! The task queue: one trait with Amazon SQS semantics and two implementations.
//!
//! A message is received with a visibility timeout; while it is invisible no other consumer gets
//! it. Deleting it (with the receipt of that receive) finishes it; letting the timeout expire
//! redelivers it with a higher receive count; once the receive count passes the queue's maximum,
//! the next receive moves it to the dead-letter queue instead of delivering it.

pub(crate) mod embedded;
mod sqs;
mod trace;

use std::time::Duration;

use async_trait::async_trait;

pub use embedded::EmbeddedQueue;
pub use sqs::SqsQueue;
pub use trace::{MessageTrace, TRACEPARENT, TRACESTATE, TraceId, TraceParent};

/// The most entries one send, receive or delete call takes (the SQS limit).
pub const MAX_BATCH: usize = 10;
/// The largest message body accepted (the classic SQS limit, kept for both backends).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest long poll (the SQS limit).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The longest visibility timeout (the SQS limit).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub trace: MessageTrace,
}

/// Proof of one receive; needed to delete the message or change its visibility.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// A received message.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt: Receipt,
    pub body: String,
    pub trace: MessageTrace,
    /// How many times this message has been received, this receive included.
    pub receive_count: u32,
    /// When the message was first sent, in Unix milliseconds.
    pub sent_at_ms: i64,
}

/// Queue gauges, as the SQS `Approximate*` attributes report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Messages ready to be received.
    pub visible: u64,
    /// Messages received and not yet deleted (running, or waiting out a retry backoff).
    pub in_flight: u64,
    /// Age of the oldest message, when the backend can tell (SQS reports it only to CloudWatch).
    pub oldest_age_seconds: Option<f64>,
    /// Messages in the dead-letter queue.
    pub dead_letter: u64,
}

/// How a redrive went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Redrive {
    /// This many messages were moved back to the source queue.
    Moved(u64),
    /// The backend moves them asynchronously (SQS `StartMessageMoveTask`): about this many.
    Started { approximate: u64 },
}

/// Why a queue call failed, shaped by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend cannot be reached or is overloaded: answer 503 and retry later, or back off.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The receipt no longer names an in-flight message: it was redelivered or already deleted.
    #[error("receipt is no longer valid: {0}")]
    ReceiptExpired(String),
    /// The call broke a limit of the queue (batch size, body size, timeout range).
    #[error("invalid queue request: {0}")]
    Invalid(String),
    #[error("queue error: {0}")]
    Other(String),
}

impl QueueError {
    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}

/// The outcome of one entry of a batch call: the message id for a send, `()` for a delete.
pub type EntryResult<T> = Result<T, QueueError>;

/// A queue with SQS semantics.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Sends up to [`MAX_BATCH`] messages. The outer error means nothing was sent; the inner
    /// results say, entry by entry, which were.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for an empty or oversized batch or body, [`QueueError::Unavailable`].
    async fn send_batch(
        &self,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult<String>>, QueueError>;

    /// Receives up to `max` (1..=[`MAX_BATCH`]) messages, waiting up to `wait` for the first, and
    /// hides them for `visibility`.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for `max`, `wait` or `visibility` out of range,
    /// [`QueueError::Unavailable`].
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes up to [`MAX_BATCH`] received messages, reporting each entry.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for an empty or oversized batch, [`QueueError::Unavailable`].
    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<EntryResult<()>>, QueueError>;

    /// Makes a received message visible again after `timeout` from now (0: at once).
    ///
    /// # Errors
    /// [`QueueError::ReceiptExpired`] when the message was redelivered or deleted.
    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), QueueError>;

    /// Current depth, in-flight count, oldest age and dead-letter depth.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`].
    async fn stats(&self) -> Result<QueueStats, QueueError>;

    /// Moves every dead-lettered message back to the source queue with a fresh receive count.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`].
    async fn redrive(&self) -> Result<Redrive, QueueError>;

    /// Receives after which a message is dead-lettered.
    fn max_receive_count(&self) -> u32;

    /// The queue's name, as in the `messaging.destination.name` span attribute.
    fn name(&self) -> &str;

    /// The `messaging.system` span attribute and metric label: `sqlite` or `aws_sqs`.
    fn messaging_system(&self) -> &'static str;
}

/// Checks a batch size against [`MAX_BATCH`].
pub(crate) fn check_batch(len: usize) -> Result<(), QueueError> {
    if len == 0 || len > MAX_BATCH {
        return Err(QueueError::Invalid(format!(
            "a batch takes 1 to {MAX_BATCH} entries, got {len}"
        )));
    }
    Ok(())
}

/// Checks the limits every send must meet, on both backends.
pub(crate) fn check_send(messages: &[OutgoingMessage]) -> Result<(), QueueError> {
    check_batch(messages.len())?;
    if let Some(big) = messages.iter().find(|m| m.body.len() > MAX_BODY_BYTES) {
        return Err(QueueError::Invalid(format!(
            "a message body takes at most {MAX_BODY_BYTES} bytes, got {}",
            big.body.len()
        )));
    }
    Ok(())
}

/// Checks receive arguments against the SQS limits.
pub(crate) fn check_receive(
    max: usize,
    wait: Duration,
    visibility: Duration,
) -> Result<(), QueueError> {
    check_batch(max)?;
    if wait > MAX_WAIT {
        return Err(QueueError::Invalid(format!(
            "wait is at most 20 s, got {wait:?}"
        )));
    }
    check_visibility(visibility)
}

pub(crate) fn check_visibility(visibility: Duration) -> Result<(), QueueError> {
    if visibility > MAX_VISIBILITY {
        return Err(QueueError::Invalid(format!(
            "visibility timeout is at most 12 h, got {visibility:?}"
        )));
    }
    Ok(())
}
