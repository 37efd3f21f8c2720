//! Batched deletes: receipts of succeeded tasks are deleted ten at a time, or after at most
//! [`MAX_DELAY`], whichever comes first. A delete that never happens is not a loss: the message is
//! redelivered and skipped as a duplicate.

use std::{sync::Arc, time::Duration};

use task_core::queue::{MAX_BATCH, Queue, Receipt};
use tokio::sync::mpsc;

use crate::{
    events::QueueOperationError,
    metrics::{Operation, RunnerMetrics},
};

const MAX_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Deleter {
    tx: mpsc::UnboundedSender<Receipt>,
}

/// Finishes the pending deletes when awaited after every [`Deleter`] clone is dropped.
pub struct DeleterTask(tokio::task::JoinHandle<()>);

impl DeleterTask {
    pub async fn flushed(self) {
        let _ = self.0.await;
    }
}

impl Deleter {
    pub fn start(queue: Arc<dyn Queue>, metrics: Arc<RunnerMetrics>) -> (Self, DeleterTask) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Receipt>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                let first = match rx.recv().await {
                    Some(r) => r,
                    None => return,
                };
                batch.push(first);
                let deadline = tokio::time::Instant::now() + MAX_DELAY;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
                delete(queue.as_ref(), &batch, &metrics).await;
                batch.clear();
            }
        });
        (Self { tx }, DeleterTask(task))
    }

    pub fn delete(&self, receipt: Receipt) {
        // The receiver lives until every sender is gone, so this cannot fail while we hold one.
        let _ = self.tx.send(receipt);
    }
}

async fn delete(queue: &dyn Queue, batch: &[Receipt], metrics: &RunnerMetrics) {
    match queue.delete_batch(batch).await {
        Ok(results) => {
            for result in results {
                match result {
                    Ok(()) => metrics.operation(Operation::Delete, ""),
                    Err(error) => QueueOperationError {
                        operation: Operation::Delete,
                        error: &error,
                    }
                    .emit(metrics),
                }
            }
        }
        Err(error) => QueueOperationError {
            operation: Operation::Delete,
            error: &error,
        }
        .emit(metrics),
    }
}
