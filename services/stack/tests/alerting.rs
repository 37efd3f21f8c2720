//! Alerts end to end with the real pieces: the API and a runner (in-process, embedded backends),
//! Prometheus scraping them and evaluating `alerts/rules.yml`, Alertmanager routing with
//! `alerts/alertmanager.yml`, and a local HTTP listener standing in for Slack.
//!
//! Only time constants are shrunk so the test takes about a minute: scrape and evaluation every
//! second, every rule's `for` cut to 2 s, the backlog-age threshold cut from 300 s to 3 s, and the
//! routes' group waits cut to seconds. Expressions, labels, annotations, routes, inhibitions and the
//! Slack template are the repository's.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, routing::post};
use clap::Parser;
use prometheus_client::registry::Registry;
use task_core::{
    Durability,
    backend::{BackendConfig, Backends},
};
use task_runner::{metrics::RunnerMetrics, runner::Runner, server};
use testkit::prometheus::{Prometheus, dashboard_queries, start, wait_ready};
use tokio::sync::watch;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's rules with time constants shrunk (see the module docs).
fn fast_rules(dir: &Path) -> PathBuf {
    let rules = std::fs::read_to_string(repo().join("alerts/rules.yml")).expect("read rules");
    let rules = rules
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for: ") {
                l.split("for:").next().unwrap_or("").to_owned() + "for: 2s"
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "max(queue_oldest_message_age_seconds) > 300",
            "max(queue_oldest_message_age_seconds) > 3",
        );
    let path = dir.join("rules.yml");
    std::fs::write(&path, rules).expect("write rules");
    path
}

/// The repository's Alertmanager config, with the Slack URL file and short group timings.
fn fast_alertmanager(dir: &Path, slack_url: &str) -> PathBuf {
    let secret = dir.join("slack_webhook_url");
    std::fs::write(&secret, slack_url).expect("write secret");
    let config = std::fs::read_to_string(repo().join("alerts/alertmanager.yml"))
        .expect("read alertmanager.yml")
        .replace(
            "/etc/alertmanager/secrets/slack_webhook_url",
            &secret.display().to_string(),
        )
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_wait: 10s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 2s")
        .replace("group_interval: 1m", "group_interval: 2s");
    std::fs::create_dir_all(dir.join("templates")).expect("templates dir");
    std::fs::copy(
        repo().join("alerts/templates/slack.tmpl"),
        dir.join("templates/slack.tmpl"),
    )
    .expect("copy template");
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, config).expect("write config");
    path
}

type Inbox = Arc<Mutex<Vec<serde_json::Value>>>;

async fn slack(State(inbox): State<Inbox>, body: String) -> &'static str {
    if let Ok(v) = serde_json::from_str(&body) {
        inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(v);
    }
    "ok"
}

async fn wait_for_message(
    inbox: &Inbox,
    what: &str,
    limit: Duration,
    matches: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let found = inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|m| m.to_string())
            .find(|m| matches(m));
        if let Some(m) = found {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no Slack message {what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts a runner on `backends` with its metrics server on `port`; returns its stop switch.
async fn start_runner(
    backends: &Backends,
    port: u16,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut settings =
        task_runner::settings::Settings::parse_from(["task-runner", "--time-scale", "0.01"]).runner;
    settings.runner_id = Some("alerting-test".into());
    let mut registry = Registry::default();
    let metrics = Arc::new(RunnerMetrics::register(
        &mut registry,
        backends.queue.as_ref(),
        settings.workers(),
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (_, serve) = server::bind(addr, Arc::new(registry), stopped(rx.clone()))
        .await
        .expect("runner metrics");
    let sampler = tokio::spawn(server::sample_queue(
        backends.queue.clone(),
        metrics.clone(),
    ));
    let runner = Runner::new(
        backends.queue.clone(),
        backends.store.clone(),
        settings,
        metrics,
    );
    let task = tokio::spawn(async move {
        let _ = tokio::join!(runner.run(stopped(rx)), serve);
        sampler.abort();
    });
    (tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_alert_reaches_slack_and_resolves_when_a_runner_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BackendConfig::Embedded {
        data_dir: dir.path().join("data"),
        max_receive_count: 3,
        durability: Durability::Normal,
    };
    let backends = Backends::open(&config).await.expect("backends");

    // Slack stand-in.
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let slack_url = format!(
        "http://{}/services/T000/B000/XXXX",
        listener.local_addr().expect("addr")
    );
    let app = Router::new()
        .route("/services/{*rest}", post(slack))
        .with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The API, sampling queue gauges every second.
    let mut api_settings =
        api::settings::Settings::parse_from(["api", "--port", "0", "--stats-sample-seconds", "1"]);
    api_settings.frontend_dir = None;
    let api = api::startup::Application::build_with(&api_settings, backends.clone())
        .await
        .expect("api");
    let api_port = api.port();
    tokio::spawn(api.run_until_stopped(std::future::pending()));

    // A runner, which the test stops and starts again on the same port.
    let runner_port = testkit::free_port();
    let (stop, runner) = start_runner(&backends, runner_port).await;

    let am_port = testkit::free_port();
    let am_config = fast_alertmanager(dir.path(), &slack_url);
    let _alertmanager = start(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        "apt-get install -y prometheus-alertmanager",
    );
    let rules = fast_rules(dir.path());
    let prometheus = Prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: ['{}']\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n\
             scrape_configs:\n\
             - {{job_name: api, static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]}}\n\
             - {{job_name: task-runner, static_configs: [{{targets: ['127.0.0.1:{runner_port}']}}]}}\n",
            rules.display()
        ),
        &["--rules.alert.resend-delay=1s"],
    )
    .await;
    wait_ready(&format!("http://127.0.0.1:{am_port}/-/ready")).await;

    // Stop the runners, then submit tasks: they wait on the queue and grow old.
    let _ = stop.send(true);
    runner.await.expect("runner stopped");
    let client = reqwest::Client::new();
    let submitted = client
        .post(format!("http://127.0.0.1:{api_port}/api/tasks"))
        .json(&serde_json::json!({"kind": "cpu", "intensity": "light", "count": 5}))
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status().as_u16(), 202);

    let firing = wait_for_message(
        &inbox,
        "for the firing backlog alert",
        Duration::from_secs(150),
        |m| m.contains("[FIRING") && m.contains("TaskBacklogTooOld"),
    )
    .await;
    assert!(
        firing.contains("Tasks wait more than 5 minutes on the queue."),
        "summary: {firing}"
    );
    assert!(firing.contains("critical"), "severity: {firing}");
    assert!(
        firing.contains("docs/runbooks/TaskBacklogTooOld.md"),
        "runbook link: {firing}"
    );
    assert!(
        firing.contains("/d/task-platform-app-status/app-status"),
        "dashboard link: {firing}"
    );
    assert!(
        firing.contains("The oldest queued task is"),
        "current value: {firing}"
    );

    // A runner comes back and drains the queue: the alert resolves.
    let (stop, runner) = start_runner(&backends, runner_port).await;
    let resolved = wait_for_message(
        &inbox,
        "for the resolved backlog alert",
        Duration::from_secs(150),
        |m| m.contains("[RESOLVED") && m.contains("TaskBacklogTooOld"),
    )
    .await;
    assert!(
        resolved.contains("good"),
        "resolved messages are green: {resolved}"
    );

    // The key series exist in Prometheus with the expected labels.
    for query in [
        r#"http_server_request_duration_seconds_count{job="api",http_request_method="POST",http_route="/api/tasks",http_response_status_code="202"}"#,
        r#"tasks_submitted_total{job="api",task_kind="cpu",task_intensity="light"}"#,
        r#"messaging_client_sent_messages_total{job="api",messaging_system="sqlite",messaging_destination_name="tasks"}"#,
        r#"queue_messages_visible{job="api",messaging_destination_name="tasks"}"#,
        r#"task_runs_total{job="task-runner",task_kind="cpu",task_intensity="light",task_outcome="succeeded"}"#,
        r#"messaging_process_duration_seconds_count{job="task-runner",messaging_operation_name="process",task_kind="cpu"}"#,
        r#"runner_worker_slots{job="task-runner"}"#,
    ] {
        prometheus.assert_series(query).await;
    }

    // Every Prometheus panel of the app status dashboard returns data, placeholders and template
    // variables substituted as Grafana would (`All` is `.*`). The DORA dashboard is checked by
    // telemetry/cli/tests/dora_collect.rs against `telemetry dora serve`.
    let dashboard = repo().join("dashboards/task-platform/app-status.json");
    let queries = dashboard_queries(&dashboard, &[("api_job", ".*"), ("runner_job", ".*")]);
    assert!(
        queries.len() >= 10,
        "found only {} dashboard queries",
        queries.len()
    );
    for (title, query) in queries {
        eprintln!("checking {title}: {query}");
        prometheus.assert_series(&query).await;
    }
    let _ = stop.send(true);
    runner.await.expect("runner stopped");
}
