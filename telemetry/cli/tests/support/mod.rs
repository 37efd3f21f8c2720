//! `telemetry dora serve` as a child process on a free port, for the DORA tests.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const SECRET: &str = "webhook-secret-for-tests";

pub struct Server {
    child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `telemetry dora serve --repo REPO` with `args` and `env` added, and waits for /healthz.
pub async fn serve(repo: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    let port = testkit::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_telemetry"))
        .args(["dora", "serve", "--repo", repo])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("OTEL_TRACES_EXPORTER", "none")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("start telemetry dora serve");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{}/healthz", server.url))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "dora serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}
