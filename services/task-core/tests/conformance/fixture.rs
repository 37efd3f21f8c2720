//! A backend pair under test, and a way to open fresh handles on the same data (as a restarted
//! or second process would).

use std::sync::Arc;

use task_core::{
    Durability,
    backend::{BackendConfig, Backends},
    queue::SqsQueue,
    store::DynamoTaskStore,
};
use tempfile::TempDir;
use testkit::AwsResources;

/// Every fixture dead-letters a message on its third receive.
pub const MAX_RECEIVE_COUNT: u32 = 2;

pub enum Fixture {
    Embedded { dir: TempDir, backends: Backends },
    Aws(AwsResources),
}

impl Fixture {
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let backends = Backends::open(&embedded_config(&dir))
            .await
            .expect("open embedded");
        Fixture::Embedded { dir, backends }
    }

    pub async fn aws() -> Self {
        Fixture::Aws(testkit::aws_backends(MAX_RECEIVE_COUNT).await)
    }

    pub fn backends(&self) -> &Backends {
        match self {
            Fixture::Embedded { backends, .. } => backends,
            Fixture::Aws(r) => &r.backends,
        }
    }

    /// New handles (new connections, no shared in-process state) on the same queue and store.
    pub async fn reopen(&self) -> Backends {
        match self {
            Fixture::Embedded { dir, .. } => Backends::open(&embedded_config(dir))
                .await
                .expect("reopen embedded"),
            Fixture::Aws(r) => {
                let config = r.moto.sdk_config().await;
                let queue = SqsQueue::connect(aws_sdk_sqs::Client::new(&config), &r.queue_url)
                    .await
                    .expect("reconnect to queue");
                let store = DynamoTaskStore::new(aws_sdk_dynamodb::Client::new(&config), &r.table);
                Backends {
                    queue: Arc::new(queue),
                    store: Arc::new(store),
                    intake: None,
                }
            }
        }
    }
}

fn embedded_config(dir: &TempDir) -> BackendConfig {
    BackendConfig::Embedded {
        data_dir: dir.path().to_path_buf(),
        max_receive_count: MAX_RECEIVE_COUNT,
        durability: Durability::Normal,
    }
}
