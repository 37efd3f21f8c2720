//! `spawn_app`: the real API on port 0 over fresh backends, and one helper per endpoint.

use std::time::Duration;

use api::{
    settings::{Limits, Settings},
    startup::Application,
};
use clap::Parser;
use serde_json::Value;
use task_core::{
    Durability,
    backend::{BackendConfig, Backends},
};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backends: Backends,
    /// Keeps the embedded data folder alive for the test.
    _dir: Option<tempfile::TempDir>,
}

fn settings() -> Settings {
    let mut s = Settings::parse_from(["api", "--port", "0"]);
    s.limits = Limits {
        max_tasks_per_request: 1000,
        max_body_bytes: 1024 * 1024,
    };
    s.frontend_dir = Some(api::settings::bundled_frontend_dir());
    s
}

async fn launch(backends: Backends, dir: Option<tempfile::TempDir>) -> TestApp {
    testkit::init_telemetry();
    let app = Application::build_with(&settings(), backends.clone())
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        backends,
        _dir: dir,
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BackendConfig::Embedded {
        data_dir: dir.path().to_path_buf(),
        max_receive_count: 3,
        durability: Durability::Normal,
    };
    let backends = Backends::open(&config)
        .await
        .expect("open embedded backends");
    launch(backends, Some(dir)).await
}

pub async fn spawn_app_aws() -> TestApp {
    launch_on(testkit::aws_backends(3).await).await
}

pub async fn launch_on(resources: testkit::AwsResources) -> TestApp {
    launch(resources.backends, None).await
}

/// A response's status and JSON body (`Null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("read body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// The `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send request");
        Answer::from(r).await
    }

    pub async fn post_tasks(&self, body: &Value) -> Answer {
        self.post_raw("/api/tasks", "application/json", body.to_string())
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::from(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("send request"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Answer::from(
            self.client
                .delete(self.url(path))
                .send()
                .await
                .expect("send request"),
        )
        .await
    }

    pub async fn get_task(&self, id: &str) -> Answer {
        self.get(&format!("/api/tasks/{id}")).await
    }

    pub async fn metrics_text(&self) -> String {
        self.get("/metrics").await.text
    }

    /// Receives everything on the queue (as a runner would), returning the messages.
    pub async fn drain_queue(&self) -> Vec<task_core::queue::ReceivedMessage> {
        let mut all = Vec::new();
        loop {
            let got = self
                .backends
                .queue
                .receive(10, Duration::from_millis(200), Duration::from_secs(60))
                .await
                .expect("receive");
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }
}
