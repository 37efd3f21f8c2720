//! Settings of the API, from flags or the environment (`api --help`).

use std::{net::IpAddr, path::PathBuf};

use task_core::cli::BackendArgs;

/// The API server.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "api",
    version,
    about = "The task API: accepts tasks, queues them, reports their status."
)]
pub struct Settings {
    /// Address to listen on (0.0.0.0 in containers).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    #[command(flatten)]
    pub backend: BackendArgs,

    #[command(flatten)]
    pub limits: Limits,

    /// Folder of the static page served at `/`; none serves no page (in AWS, CloudFront does).
    #[arg(long, env = "FRONTEND_DIR")]
    pub frontend_dir: Option<PathBuf>,

    /// Seconds between samples of the task counts and queue gauges (throughput history, metrics).
    #[arg(long, env = "STATS_SAMPLE_SECONDS", default_value_t = 10)]
    pub stats_sample_seconds: u64,

    /// Seconds in-flight requests get to finish after a shutdown signal.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,
}

/// What one request may ask for.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Limits {
    /// Most tasks one request may create (sum of the `count`s).
    #[arg(long, env = "MAX_TASKS_PER_REQUEST", default_value_t = 1000)]
    pub max_tasks_per_request: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tasks_per_request: 1000,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The page shipped in this repository, for `stack up` and local runs.
pub fn bundled_frontend_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../frontend/public")
}
