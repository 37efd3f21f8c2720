//! The backend flags every binary shares (`api`, `task-runner`): embedded data folder, or SQS
//! queue URL plus DynamoDB table. Each flag has an environment equivalent for containers.

use std::path::PathBuf;

use crate::{
    Durability,
    backend::{BackendConfig, DEFAULT_MAX_RECEIVE_COUNT},
};

/// Where tasks are queued and recorded.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Folder of the embedded backends (SQLite files); shared by every process on this machine.
    /// Default: the per-user data folder ($XDG_DATA_HOME/task-platform).
    #[arg(long, env = "DATA_DIR", conflicts_with_all = ["queue_url", "table"])]
    pub data_dir: Option<PathBuf>,

    /// SQS queue URL: use SQS and DynamoDB instead of the embedded backends. The endpoint, region
    /// and credentials come from the standard AWS settings (AWS_ENDPOINT_URL, AWS_REGION, ...).
    #[arg(long, env = "QUEUE_URL", requires = "table")]
    pub queue_url: Option<String>,

    /// DynamoDB table of tasks (with --queue-url).
    #[arg(long, env = "TASKS_TABLE", requires = "queue_url")]
    pub table: Option<String>,

    /// Embedded only: receives before a message is dead-lettered (SQS takes it from the queue's
    /// redrive policy).
    #[arg(long, env = "MAX_RECEIVE_COUNT", default_value_t = DEFAULT_MAX_RECEIVE_COUNT)]
    pub max_receive_count: u32,

    /// Embedded only: `normal` (survives a process crash) or `full` (fsync every commit).
    #[arg(long, env = "DURABILITY", default_value = "normal")]
    pub durability: Durability,
}

impl BackendArgs {
    pub fn config(&self) -> BackendConfig {
        match (&self.queue_url, &self.table) {
            (Some(queue_url), Some(table)) => BackendConfig::Aws {
                queue_url: queue_url.clone(),
                table: table.clone(),
            },
            _ => BackendConfig::Embedded {
                data_dir: self.data_dir.clone().unwrap_or_else(default_data_dir),
                max_receive_count: self.max_receive_count,
                durability: self.durability,
            },
        }
    }
}

/// `$XDG_DATA_HOME/task-platform`, else `~/.local/share/task-platform`, else `./data`.
pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    base.map_or_else(|| PathBuf::from("data"), |b| b.join("task-platform"))
}

/// Resolves on Ctrl-C or SIGTERM (what ECS and `docker stop` send).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
