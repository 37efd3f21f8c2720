//! Visibility heartbeat for running tasks.
//!
//! While a task runs, its message's visibility timeout is extended every `timeout / 3`, so no
//! other runner can receive it. The heartbeat stops when its guard is dropped, whether the task
//! succeeded, failed or panicked.

use std::{sync::Arc, time::Duration};

use task_core::queue::{Queue, QueueError, Receipt};

use crate::{
    events::{QueueOperationError, TaskVisibilityExtended},
    metrics::{Operation, RunnerMetrics},
};

/// Stops the heartbeat when dropped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn start(
    queue: Arc<dyn Queue>,
    receipt: Receipt,
    timeout: Duration,
    metrics: Arc<RunnerMetrics>,
) -> Heartbeat {
    Heartbeat(tokio::spawn(async move {
        let every = timeout / 3;
        loop {
            tokio::time::sleep(every).await;
            match queue.change_visibility(&receipt, timeout).await {
                Ok(()) => TaskVisibilityExtended.emit(&metrics),
                Err(error) => {
                    QueueOperationError {
                        operation: Operation::ExtendVisibility,
                        error: &error,
                    }
                    .emit(&metrics);
                    // The message is someone else's now; extending again cannot succeed.
                    if matches!(error, QueueError::ReceiptExpired(_)) {
                        return;
                    }
                }
            }
        }
    }))
}
