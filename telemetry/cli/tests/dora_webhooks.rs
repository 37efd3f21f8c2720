//! `telemetry dora serve` as a process, fed GitHub's own recorded webhook payloads
//! (@octokit/webhooks-examples): every deployment and deployment_status example is accepted with a
//! valid signature and refused without one or with a wrong one; redeliveries change nothing; the
//! metrics move at once.

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::{SECRET, Server};
use telemetry_cli::dora::webhook::sign;

fn examples_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/webhooks/node_modules/@octokit/webhooks-examples");
    assert!(
        root.join("api.github.com/index.json").exists(),
        "@octokit/webhooks-examples is not installed: run `npm ci --prefix telemetry/cli/tests/webhooks`"
    );
    root
}

/// (source, event name, payload) of every deployment and deployment_status example, for
/// github.com and each GitHub Enterprise Server version in the package.
fn examples() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(examples_root())
        .expect("examples")
        .flatten()
    {
        let index = dir.path().join("index.json");
        let Ok(text) = std::fs::read_to_string(&index) else {
            continue;
        };
        let events: Vec<Value> = serde_json::from_str(&text).expect("index.json");
        for event in events {
            let name = event["name"].as_str().unwrap_or_default().to_owned();
            if name != "deployment" && name != "deployment_status" {
                continue;
            }
            for example in event["examples"].as_array().into_iter().flatten() {
                out.push((
                    dir.file_name().to_string_lossy().into_owned(),
                    name.clone(),
                    example.clone(),
                ));
            }
        }
    }
    out
}

async fn serve() -> (Server, String) {
    let server = support::serve("Codertocat/Hello-World", &["--collect-interval", "0"], &[]).await;
    let url = server.url.clone();
    (server, url)
}

async fn deliver(
    url: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        request = request.header("X-Hub-Signature-256", s);
    }
    let response = request.send().await.expect("deliver");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn every_recorded_example_is_accepted_signed_and_refused_otherwise() {
    let (_server, url) = serve().await;
    let examples = examples();
    assert!(
        examples.len() >= 8,
        "only {} examples found",
        examples.len()
    );
    for (i, (source, event, payload)) in examples.iter().enumerate() {
        let body = serde_json::to_vec(payload).expect("body");
        let what = format!("{source} {event} #{i}");
        let (status, answer) = deliver(
            &url,
            event,
            &format!("bad-{i}"),
            &body,
            Some(sign(b"not the secret", &body)),
        )
        .await;
        assert_eq!(status, 401, "{what} with a wrong signature: {answer}");
        let (status, _) = deliver(&url, event, &format!("unsigned-{i}"), &body, None).await;
        assert_eq!(status, 401, "{what} unsigned");
        // A signature of other bytes (the payload re-serialised with a space) is wrong too.
        let (status, _) = deliver(
            &url,
            event,
            &format!("tampered-{i}"),
            &body,
            Some(sign(SECRET.as_bytes(), &[&body[..], b" "].concat())),
        )
        .await;
        assert_eq!(status, 401, "{what} tampered");

        // The first delivery is applied; GitHub's redelivery (same X-GitHub-Delivery) changes nothing.
        for expected in ["applied", "duplicate"] {
            let signature = Some(sign(SECRET.as_bytes(), &body));
            let (status, answer) = deliver(&url, event, &format!("ok-{i}"), &body, signature).await;
            assert_eq!(
                (status, answer["status"].as_str()),
                (200, Some(expected)),
                "{what}: {answer}"
            );
        }
    }
    let m = metrics(&url).await;
    // Deliveries of both events with one outcome.
    let deliveries = |outcome: &str| -> usize {
        ["deployment", "deployment_status"]
            .iter()
            .filter_map(|e| {
                let series =
                    format!("dora_webhook_deliveries_total{{event=\"{e}\",outcome=\"{outcome}\"}}");
                sample(&m, &series)
            })
            .sum::<f64>() as usize
    };
    assert_eq!(deliveries("applied"), examples.len(), "{m}");
    assert_eq!(deliveries("duplicate"), examples.len(), "{m}");
    assert_eq!(deliveries("rejected"), 3 * examples.len(), "{m}");
}

#[tokio::test]
async fn a_deployment_and_its_success_move_the_metrics_at_once() {
    let (_server, url) = serve().await;
    let now = time::OffsetDateTime::now_utc();
    let at = |minutes_ago: i64| {
        (now - time::Duration::minutes(minutes_ago))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let repository = json!({"full_name": "Codertocat/Hello-World"});
    let deployment =
        json!({"id": 9001, "sha": "abc123", "environment": "production-api", "created_at": at(10)});
    let created = serde_json::to_vec(
        &json!({"action": "created", "deployment": deployment, "repository": repository}),
    )
    .expect("json");
    let (status, _) = deliver(
        &url,
        "deployment",
        "d-1",
        &created,
        Some(sign(SECRET.as_bytes(), &created)),
    )
    .await;
    assert_eq!(status, 200);
    let success = serde_json::to_vec(&json!({
        "action": "created", "deployment": deployment, "repository": repository,
        "deployment_status": {"id": 1, "state": "success", "created_at": at(5)},
    }))
    .expect("json");
    let (status, _) = deliver(
        &url,
        "deployment_status",
        "d-2",
        &success,
        Some(sign(SECRET.as_bytes(), &success)),
    )
    .await;
    assert_eq!(status, 200);

    let m = metrics(&url).await;
    let labels = "service=\"api\",environment=\"production\",window=\"7d\"";
    assert_eq!(
        sample(&m, &format!("dora_deployments{{{labels}}}")),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("dora_change_failure_ratio{{{labels}}}")),
        Some(0.0),
        "{m}"
    );
    let level = "dora_performance_level{service=\"api\",environment=\"production\",window=\"7d\",metric=\"change_failure_rate\"}";
    assert_eq!(sample(&m, level), Some(4.0), "{m}");
    testkit::promtool_check_metrics(&m);

    // A payload that is signed but not JSON, and one missing its deployment, are 400s.
    let (status, _) = deliver(
        &url,
        "deployment",
        "d-3",
        b"not json",
        Some(sign(SECRET.as_bytes(), b"not json")),
    )
    .await;
    assert_eq!(status, 400);
    let empty = br#"{"action":"created","repository":{"full_name":"Codertocat/Hello-World"}}"#;
    let (status, answer) = deliver(
        &url,
        "deployment",
        "d-4",
        empty,
        Some(sign(SECRET.as_bytes(), empty)),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("deployment.id")),
        "{answer}"
    );
}
