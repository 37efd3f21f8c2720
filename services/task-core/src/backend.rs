//! Opening the queue and task store a service was configured for.

use std::{path::PathBuf, sync::Arc};

use crate::{
    Durability,
    aws::load_config,
    intake::{EmbeddedIntake, Intake},
    queue::{self, EmbeddedQueue, Queue, QueueError, SqsQueue},
    sqlite::Db,
    store::{self, DynamoTaskStore, EmbeddedTaskStore, StoreError, TaskStore},
};

/// The queue name of the embedded backend (its dead-letter queue is `tasks-dlq`).
pub const EMBEDDED_QUEUE_NAME: &str = "tasks";
/// The embedded backend's SQLite file in the data folder.
pub const EMBEDDED_FILE: &str = "data.sqlite";
/// Receives before the embedded queue dead-letters a message; SQS reads it from its redrive policy.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 3;

/// Which backends to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// One SQLite file, `data.sqlite` in `data_dir`, holding the queue and the tasks; shareable by
    /// processes.
    Embedded {
        data_dir: PathBuf,
        max_receive_count: u32,
        durability: Durability,
    },
    /// SQS and DynamoDB, configured by the standard AWS settings (`AWS_ENDPOINT_URL`, region, ...).
    Aws { queue_url: String, table: String },
}

/// The opened pair.
#[derive(Clone)]
pub struct Backends {
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn TaskStore>,
    /// Records tasks and queues their messages in one atomic step, when the pair can
    /// ([`crate::intake`]); `None` on AWS.
    pub intake: Option<Arc<dyn Intake>>,
}

/// Why the backends could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Backends {
    /// # Errors
    /// [`OpenError`] when the data folder cannot be created or a backend cannot be reached.
    pub async fn open(config: &BackendConfig) -> Result<Self, OpenError> {
        match config {
            BackendConfig::Embedded {
                data_dir,
                max_receive_count,
                durability,
            } => {
                std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
                    path: data_dir.clone(),
                    source,
                })?;
                let db = Db::open(
                    &data_dir.join(EMBEDDED_FILE),
                    *durability,
                    &[queue::embedded::SCHEMA, store::embedded::SCHEMA].concat(),
                )
                .map_err(QueueError::from)?;
                let queue = EmbeddedQueue::on(db.clone(), EMBEDDED_QUEUE_NAME, *max_receive_count);
                let intake = EmbeddedIntake::new(&queue);
                Ok(Self {
                    queue: Arc::new(queue),
                    store: Arc::new(EmbeddedTaskStore::on(db)),
                    intake: Some(Arc::new(intake)),
                })
            }
            BackendConfig::Aws { queue_url, table } => {
                let config = load_config().await;
                let queue = SqsQueue::connect(aws_sdk_sqs::Client::new(&config), queue_url).await?;
                let store = DynamoTaskStore::new(aws_sdk_dynamodb::Client::new(&config), table);
                Ok(Self {
                    queue: Arc::new(queue),
                    store: Arc::new(store),
                    intake: None,
                })
            }
        }
    }
}
