//! Recording new tasks and queueing their messages as one step, where the backends can.
//!
//! On the embedded backend the tasks and the queue share one SQLite file, so a task's row and its
//! message are written in one transaction: a task is recorded if and only if its message is on
//! the queue, a crash cannot leave one without the other, and a submission costs one commit
//! instead of two. DynamoDB and SQS share no transaction; there the caller records first and
//! sends after (`api::submit`), and [`Backends::intake`](crate::backend::Backends) is `None`.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::Notify;

use crate::{
    Task,
    queue::{
        self, OutgoingMessage, QueueError,
        embedded::{MessageRow, Names},
    },
    sqlite::GroupCommit,
    store,
};

/// Tasks and their messages, all or nothing. Called in the request's trace context, not in
/// the send span's: each message carries the trace context it is sent with.
#[async_trait]
pub trait Intake: Send + Sync {
    /// Records `tasks` and puts `messages` (one per task, in order) on the queue, in one atomic
    /// step; returns the message ids in order. On error nothing was written.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the database is busy or unreachable (worth a retry),
    /// [`QueueError::Invalid`] for a batch the queue refuses (or a message count that is not the
    /// task count), [`QueueError::Other`] otherwise.
    async fn create_and_send(
        &self,
        tasks: &[Task],
        messages: &[OutgoingMessage],
    ) -> Result<Vec<String>, QueueError>;
}

/// The embedded backend's intake: one group-committed transaction per batch of callers.
pub struct EmbeddedIntake {
    writes: GroupCommit<(Task, MessageRow), ()>,
    names: Arc<Names>,
    arrived: Arc<Notify>,
}

impl EmbeddedIntake {
    /// An intake into `queue`, whose database must also hold the task store's table.
    pub(crate) fn new(queue: &queue::EmbeddedQueue) -> Self {
        let (db, names, arrived) = queue.parts();
        Self {
            writes: GroupCommit::new(db, write),
            names,
            arrived,
        }
    }
}

fn write(conn: &mut Connection, items: &[(Task, MessageRow)]) -> rusqlite::Result<Vec<()>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (tasks, rows): (Vec<&Task>, Vec<&MessageRow>) = items.iter().map(|(t, m)| (t, m)).unzip();
    store::embedded::insert_task_rows(&tx, &tasks)?;
    queue::embedded::insert_message_rows(&tx, &rows)?;
    tx.commit()?;
    Ok(vec![(); items.len()])
}

#[async_trait]
impl Intake for EmbeddedIntake {
    async fn create_and_send(
        &self,
        tasks: &[Task],
        messages: &[OutgoingMessage],
    ) -> Result<Vec<String>, QueueError> {
        if tasks.len() != messages.len() {
            return Err(QueueError::Invalid(format!(
                "{} tasks but {} messages",
                tasks.len(),
                messages.len()
            )));
        }
        queue::check_send(messages)?;
        let items: Vec<(Task, MessageRow)> = tasks
            .iter()
            .zip(messages)
            .map(|(t, m)| (t.clone(), MessageRow::new(&self.names, m)))
            .collect();
        let ids = items.iter().map(|(_, m)| m.id.clone()).collect();
        self.writes.submit(items).await?;
        self.arrived.notify_waiters();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        Durability, Intensity, Kind, TaskSpec,
        backend::{BackendConfig, Backends},
    };

    async fn open(dir: &tempfile::TempDir) -> Backends {
        Backends::open(&BackendConfig::Embedded {
            data_dir: dir.path().to_path_buf(),
            max_receive_count: 3,
            durability: Durability::Normal,
        })
        .await
        .unwrap()
    }

    fn task() -> (Task, OutgoingMessage) {
        let task = Task::new(TaskSpec::new(Kind::Cpu, Intensity::Light, 0).unwrap(), None);
        let message = OutgoingMessage {
            body: task.message().to_body(),
            trace: queue::MessageTrace::default(),
        };
        (task, message)
    }

    async fn visible(backends: &Backends) -> Vec<String> {
        backends
            .queue
            .receive(10, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.message_id)
            .collect()
    }

    #[tokio::test]
    async fn tasks_and_their_messages_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let backends = open(&dir).await;
        let intake = backends
            .intake
            .clone()
            .expect("the embedded pair has an intake");
        let ((a, ma), (b, mb)) = (task(), task());

        let ids = intake
            .create_and_send(&[a.clone(), b.clone()], &[ma, mb])
            .await
            .unwrap();

        assert_eq!(ids.len(), 2);
        for t in [&a, &b] {
            assert_eq!(backends.store.get(t.id).await.unwrap().unwrap().id, t.id);
        }
        let mut received = visible(&backends).await;
        received.sort();
        let mut ids = ids;
        ids.sort();
        assert_eq!(received, ids);
    }

    #[tokio::test]
    async fn a_failed_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backends = open(&dir).await;
        let intake = backends.intake.clone().unwrap();
        let ((known, m_known), (fresh, m_fresh)) = (task(), task());
        backends
            .store
            .create(std::slice::from_ref(&known))
            .await
            .unwrap();

        // The second task row breaks the id's uniqueness, so the whole transaction rolls back:
        // neither the first task nor any message may remain.
        let outcome = intake
            .create_and_send(&[fresh.clone(), known], &[m_fresh, m_known])
            .await;

        assert!(matches!(outcome, Err(QueueError::Other(_))), "{outcome:?}");
        assert!(backends.store.get(fresh.id).await.unwrap().is_none());
        assert!(visible(&backends).await.is_empty());

        // The failed insert ended the transaction (`OR ROLLBACK`); the next batch commits.
        let (next, m_next) = task();
        let ids = intake
            .create_and_send(std::slice::from_ref(&next), &[m_next])
            .await
            .expect("the next batch");
        assert!(backends.store.get(next.id).await.unwrap().is_some());
        assert_eq!(visible(&backends).await, ids);
    }

    #[tokio::test]
    async fn every_task_needs_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let intake = open(&dir).await.intake.unwrap();
        let ((a, _), (_, mb)) = (task(), task());
        let outcome = intake.create_and_send(&[a.clone(), a], &[mb]).await;
        assert!(
            matches!(outcome, Err(QueueError::Invalid(_))),
            "{outcome:?}"
        );
    }
}
