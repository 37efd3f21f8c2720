//! A real Prometheus (the Debian package) for tests, and the queries of a dashboard file as
//! Grafana would send them, so tests can check that every panel has data.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// A child process killed when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin`; panics naming `install` when it is missing.
pub fn start(bin: &str, args: &[String], install: &str) -> Process {
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} is missing ({e}); install it with: {install}"));
    Process(child)
}

/// Waits until `url` answers 2xx (30 s at most).
pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub struct Prometheus {
    pub port: u16,
    client: reqwest::Client,
    _process: Process,
}

impl Prometheus {
    /// Starts Prometheus in `dir` with `config` (prometheus.yml text) and `extra` flags, and
    /// waits until it is ready.
    pub async fn start(dir: &Path, config: &str, extra: &[&str]) -> Self {
        let port = crate::free_port();
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).expect("write prometheus.yml");
        let mut args = vec![
            format!("--config.file={}", file.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = start("prometheus", &args, "apt-get install -y prometheus");
        wait_ready(&format!("http://127.0.0.1:{port}/-/ready")).await;
        Self {
            port,
            client: reqwest::Client::new(),
            _process: process,
        }
    }

    /// Waits (20 s at most) until `query` returns at least one sample.
    pub async fn assert_series(&self, query: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body: Value = self
                .client
                .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
                .query(&[("query", query)])
                .send()
                .await
                .expect("query Prometheus")
                .json()
                .await
                .expect("Prometheus answer");
            if body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus has no series for {query}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// (panel title, PromQL) of every Prometheus target of a dashboard file, with template variables
/// replaced as Grafana would: `$__rate_interval` by a few scrapes, `$name` by `values[name]`.
pub fn dashboard_queries(file: &Path, values: &[(&str, &str)]) -> Vec<(String, String)> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        if panel["datasource"]["uid"] != "${DS_PROMETHEUS}" {
            continue;
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                // Longest names first, so `$service` does not eat the start of `$service_job`.
                let mut values = values.to_vec();
                values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
                let mut query = expr.replace("$__rate_interval", "1m");
                for (name, value) in &values {
                    query = query.replace(&format!("${name}"), value);
                }
                assert!(
                    !query.contains('$'),
                    "{}: {query} has an unknown variable",
                    file.display()
                );
                out.push((
                    panel["title"].as_str().unwrap_or_default().to_owned(),
                    query,
                ));
            }
        }
    }
    out
}
