//! Settings of the task runner, from flags or the environment (`task-runner --help`).

use std::{net::IpAddr, time::Duration};

use task_core::cli::BackendArgs;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "task-runner", version, about = "Runs tasks from the queue.")]
pub struct Settings {
    #[command(flatten)]
    pub backend: BackendArgs,

    #[command(flatten)]
    pub runner: RunnerSettings,

    /// Address of the /healthz and /metrics server.
    #[arg(long, env = "METRICS_HOST", default_value = "127.0.0.1")]
    pub metrics_host: IpAddr,

    /// Port of the /healthz and /metrics server; 0 picks a free one.
    #[arg(long, env = "METRICS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
}

/// How the runner works.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerSettings {
    /// Tasks run at once (default: the number of CPUs).
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,

    /// Multiplies every task duration: 0.01 makes a 2-5 s task take 20-50 ms.
    #[arg(long, env = "TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,

    /// Seconds running tasks get to finish after SIGTERM; ECS waits 30 s (stopTimeout) before
    /// SIGKILL, so the default leaves room for flushing.
    #[arg(long, env = "GRACE_PERIOD", default_value_t = 25.0)]
    pub grace_period: f64,

    /// Seconds a received message stays invisible; extended every third of it while its task runs.
    #[arg(long, env = "VISIBILITY_TIMEOUT", default_value_t = 30)]
    pub visibility_timeout: u64,

    /// Seconds one attempt may run before it is stopped and counted as failed.
    #[arg(long, env = "TASK_TIMEOUT", default_value_t = 60.0)]
    pub task_timeout: f64,

    /// Seconds of the first retry backoff; it doubles each attempt (with jitter) up to the cap.
    #[arg(long, env = "RETRY_BACKOFF_BASE", default_value_t = 2.0)]
    pub retry_backoff_base: f64,

    /// Longest retry backoff, in seconds.
    #[arg(long, env = "RETRY_BACKOFF_CAP", default_value_t = 60.0)]
    pub retry_backoff_cap: f64,

    /// Longest long poll, in seconds (at most 20).
    #[arg(long, env = "RECEIVE_WAIT", default_value_t = 20)]
    pub receive_wait: u64,

    /// Name in the task store and logs (default: hostname and pid).
    #[arg(long, env = "RUNNER_ID")]
    pub runner_id: Option<String>,
}

impl RunnerSettings {
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    pub fn visibility(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout.max(1))
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs_f64(self.grace_period.max(0.0))
    }

    pub fn task_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.task_timeout.max(0.001))
    }

    pub fn receive_wait(&self) -> Duration {
        Duration::from_secs(self.receive_wait.min(20))
    }

    pub fn runner_id(&self) -> String {
        self.runner_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host = host.trim();
            format!(
                "{}-{}",
                if host.is_empty() { "runner" } else { host },
                std::process::id()
            )
        })
    }

    /// The visibility delay before attempt `attempt + 1`: exponential from the base, capped, with
    /// "equal jitter" (half fixed, half random) so retries of one burst spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry_backoff_base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = exp.min(self.retry_backoff_cap).max(0.0);
        let jitter: f64 = rand::random::<f64>();
        Duration::from_secs_f64(capped / 2.0 + capped / 2.0 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_with_jitter() {
        let s = Settings::parse_from([
            "task-runner",
            "--retry-backoff-base",
            "2",
            "--retry-backoff-cap",
            "10",
        ])
        .runner;
        for (attempt, full) in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)] {
            let b = s.backoff(attempt).as_secs_f64();
            assert!(
                b >= full / 2.0 && b <= full,
                "attempt {attempt}: {b} not in [{}, {full}]",
                full / 2.0
            );
        }
    }
}
