//! An environment per test: fresh backends, the real API in-process on port 0 for submissions,
//! and `task-runner` child processes started with matching flags.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use prometheus_client::registry::Registry;
use serde_json::Value;
use task_core::{
    Durability, Status, Task,
    backend::{BackendConfig, Backends},
};
use task_runner::{metrics::RunnerMetrics, runner::Runner, settings::RunnerSettings};
use uuid::Uuid;

pub const MAX_RECEIVE_COUNT: u32 = 3;

pub struct Env {
    pub backends: Backends,
    pub api: String,
    pub client: reqwest::Client,
    runner_args: Vec<String>,
    runner_env: Vec<(&'static str, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Env {
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = BackendConfig::Embedded {
            data_dir: dir.path().to_path_buf(),
            max_receive_count: MAX_RECEIVE_COUNT,
            durability: Durability::Normal,
        };
        let backends = Backends::open(&config).await.expect("open backends");
        let args = vec![
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--max-receive-count".into(),
            MAX_RECEIVE_COUNT.to_string(),
        ];
        Self::launch(backends, args, Vec::new(), Some(dir)).await
    }

    pub async fn aws() -> Self {
        let r = testkit::aws_backends(MAX_RECEIVE_COUNT).await;
        let args = vec![
            "--queue-url".into(),
            r.queue_url.clone(),
            "--table".into(),
            r.table.clone(),
        ];
        let env = r.moto.env();
        Self::launch(r.backends, args, env, None).await
    }

    async fn launch(
        backends: Backends,
        runner_args: Vec<String>,
        runner_env: Vec<(&'static str, String)>,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        testkit::init_telemetry();
        let settings = api::settings::Settings::parse_from(["api", "--port", "0"]);
        let app = api::startup::Application::build_with(&settings, backends.clone())
            .await
            .expect("build api");
        let api = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        Self {
            backends,
            api,
            client: reqwest::Client::new(),
            runner_args,
            runner_env,
            _dir: dir,
        }
    }

    /// Submits through the API; returns the task ids.
    pub async fn submit(&self, body: Value) -> Vec<Uuid> {
        let r = self
            .client
            .post(format!("{}/api/tasks", self.api))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 202);
        let body: Value = r.json().await.expect("json");
        body["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect()
    }

    pub async fn post(&self, path: &str) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    pub async fn task(&self, id: Uuid) -> Task {
        self.backends
            .store
            .get(id)
            .await
            .expect("get")
            .expect("task exists")
    }

    pub async fn tasks(&self, ids: &[Uuid]) -> Vec<Task> {
        let mut out = Vec::new();
        for id in ids {
            out.push(self.task(*id).await);
        }
        out
    }

    /// Polls the store until `done` holds for the tasks, or fails after `limit`.
    pub async fn wait_for(
        &self,
        ids: &[Uuid],
        limit: Duration,
        what: &str,
        done: impl Fn(&[Task]) -> bool,
    ) -> Vec<Task> {
        let deadline = Instant::now() + limit;
        loop {
            let tasks = self.tasks(ids).await;
            if done(&tasks) {
                return tasks;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                tasks
                    .iter()
                    .map(|t| (t.status, t.attempts))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An in-process runner over the same backends, for `process_one` tests.
    pub fn runner(&self, flags: &[&str]) -> (Runner, Arc<RunnerMetrics>, Arc<Registry>) {
        let mut args = vec!["task-runner"];
        args.extend_from_slice(flags);
        let settings: RunnerSettings = task_runner::settings::Settings::parse_from(args).runner;
        let mut registry = Registry::default();
        let metrics = Arc::new(RunnerMetrics::register(
            &mut registry,
            self.backends.queue.as_ref(),
            settings.workers(),
        ));
        let runner = Runner::new(
            self.backends.queue.clone(),
            self.backends.store.clone(),
            settings,
            metrics.clone(),
        );
        (runner, metrics, Arc::new(registry))
    }

    /// Starts the `task-runner` binary with this environment's backend flags plus `flags`.
    pub fn spawn_runner(&self, id: &str, flags: &[&str]) -> RunnerProcess {
        self.spawn_runner_with(id, flags, &[])
    }

    /// [`Env::spawn_runner`] with extra environment variables (`OTEL_*`).
    pub fn spawn_runner_with(
        &self,
        id: &str,
        flags: &[&str],
        env: &[(&str, String)],
    ) -> RunnerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_task-runner"));
        cmd.args(&self.runner_args)
            .args(["--metrics-port", "0", "--runner-id", id])
            .args(flags);
        spawn_logged(cmd, &self.runner_env, env)
    }

    /// Starts the `api` binary (built next to `task-runner`) on this environment's backends;
    /// returns the process and its base URL.
    pub fn spawn_api(&self, env: &[(&str, String)]) -> (RunnerProcess, String) {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_task-runner")).with_file_name("api");
        assert!(
            bin.exists(),
            "the api binary is missing: cargo build -p api (looked for {})",
            bin.display()
        );
        let port = testkit::free_port();
        let mut cmd = Command::new(bin);
        cmd.args(&self.runner_args)
            .args(["--port", &port.to_string()]);
        (
            spawn_logged(cmd, &self.runner_env, env),
            format!("http://127.0.0.1:{port}"),
        )
    }
}

/// Starts `cmd` with the backend's environment plus `env`, collecting its log lines.
fn spawn_logged(
    mut cmd: Command,
    backend_env: &[(&'static str, String)],
    env: &[(&str, String)],
) -> RunnerProcess {
    cmd.envs(backend_env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("start the binary");
    // Read its log so its stdout pipe never fills; keep the lines for assertions.
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    });
    RunnerProcess { child, lines }
}

pub struct RunnerProcess {
    pub child: Child,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl RunnerProcess {
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) of our own child.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "task-runner did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_contains(&self, text: &str) -> bool {
        self.log_lines().iter().any(|l| l.contains(text))
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn count_status(tasks: &[Task], status: Status) -> usize {
    tasks.iter().filter(|t| t.status == status).count()
}
