//! `POST /api/tasks` (and the original `POST /api/tasks/create`): validation and queueing.

use std::collections::HashSet;

use serde_json::json;
use task_core::TaskMessage;

use crate::helpers::TestApp;

async fn post_one_task_returns_202_and_puts_it_on_the_queue(app: TestApp) {
    let answer = app
        .post_tasks(&json!({"kind": "cpu", "intensity": "light", "fail_percent": 20}))
        .await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let task = &answer.body["tasks"][0];
    assert_eq!(task["status"], "queued");
    assert_eq!(task["fail_percent"], 20);
    let messages = app.drain_queue().await;
    assert_eq!(messages.len(), 1);
    let message = TaskMessage::from_body(&messages[0].body).expect("task body");
    assert_eq!(
        message.id.to_string(),
        task["id"].as_str().unwrap_or_default()
    );
    assert!(
        messages[0].trace.parent.is_some(),
        "trace context travels with the message"
    );
}

async fn an_array_with_counts_creates_every_task(app: TestApp) {
    let body = json!([
        {"kind": "cpu", "intensity": "average", "count": 17},
        {"kind": "ram", "intensity": "intense", "count": 8, "fail_percent": 100},
    ]);

    let answer = app
        .post_raw(
            "/api/tasks/create",
            "application/json; charset=utf-8",
            body.to_string(),
        )
        .await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let ids: HashSet<String> = answer.body["tasks"]
        .as_array()
        .expect("tasks array")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(answer.body["rejected"], json!([]));
    let queued: HashSet<String> = app
        .drain_queue()
        .await
        .iter()
        .map(|m| {
            TaskMessage::from_body(&m.body)
                .expect("task body")
                .id
                .to_string()
        })
        .collect();
    assert_eq!(queued, ids, "every accepted task is on the queue, once");
}

async fn invalid_submissions_get_a_4xx_naming_the_problem(app: TestApp) {
    let big = format!(
        "[{}]",
        vec![r#"{"kind":"cpu","intensity":"light"}"#; 40_000].join(",")
    );
    let cases: Vec<(&str, &str, String, u16, &str, &str)> = vec![
        ("unknown kind", "application/json", json!({"kind": "gpu", "intensity": "light"}).to_string(), 400, "invalid_field", "kind"),
        ("unknown intensity", "application/json", json!({"kind": "cpu", "intensity": "max"}).to_string(), 400, "invalid_field", "intensity"),
        ("fail_percent 101", "application/json", json!({"kind": "cpu", "intensity": "light", "fail_percent": 101}).to_string(), 400, "invalid_field", "fail_percent"),
        ("count 0", "application/json", json!({"kind": "cpu", "intensity": "light", "count": 0}).to_string(), 400, "invalid_field", "count"),
        ("count over the limit", "application/json", json!({"kind": "cpu", "intensity": "light", "count": 1001}).to_string(), 400, "invalid_field", "count"),
        ("field of the third entry", "application/json", json!([{"kind": "cpu", "intensity": "light"}, {"kind": "cpu", "intensity": "light"}, {"kind": "cpu"}]).to_string(), 400, "invalid_field", "[2].intensity"),
        ("malformed JSON", "application/json", "{\"kind\": ".to_owned(), 400, "malformed_json", ""),
        ("empty array", "application/json", "[]".to_owned(), 400, "empty_submission", ""),
        ("a bare string", "application/json", "\"cpu\"".to_owned(), 400, "invalid_body", ""),
        ("wrong content type", "text/plain", json!({"kind": "cpu", "intensity": "light"}).to_string(), 415, "unsupported_media_type", ""),
        ("body over 1 MiB", "application/json", big, 413, "payload_too_large", ""),
    ];
    for (case, content_type, body, status, code, field) in cases {
        let answer = app.post_raw("/api/tasks", content_type, body).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.text);
        assert_eq!(answer.code(), code, "{case}");
        assert_eq!(answer.field(), field, "{case}");
        assert!(
            !answer.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{case}: message"
        );
    }
    assert!(
        app.drain_queue().await.is_empty(),
        "nothing invalid reached the queue"
    );
}

both_backends!(
    post_one_task_returns_202_and_puts_it_on_the_queue,
    an_array_with_counts_creates_every_task,
    invalid_submissions_get_a_4xx_naming_the_problem,
);
