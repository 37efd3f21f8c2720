//! Reading, listing, clearing tasks; stats; the dead-letter redrive; metrics.

use std::time::Duration;

use serde_json::json;
use task_core::store::Transition;

use crate::helpers::TestApp;

async fn submit(app: &TestApp, body: serde_json::Value) -> Vec<String> {
    let answer = app.post_tasks(&body).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    answer.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_task_reads_back_and_unknown_or_malformed_ids_do_not(app: TestApp) {
    let ids = submit(&app, json!({"kind": "ram", "intensity": "average"})).await;

    let found = app.get_task(&ids[0]).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["kind"], "ram");
    assert_eq!(found.body["status"], "queued");
    assert!(
        found.body["created_at"]
            .as_str()
            .unwrap_or("")
            .ends_with('Z')
    );

    let missing = app.get_task(&uuid::Uuid::new_v4().to_string()).await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let malformed = app.get_task("not-a-uuid").await;
    assert_eq!((malformed.status, malformed.field()), (400, "id"));
}

async fn lists_are_newest_first_paginated_and_filtered(app: TestApp) {
    let ids = submit(
        &app,
        json!({"kind": "cpu", "intensity": "light", "count": 5}),
    )
    .await;
    let first = uuid::Uuid::parse_str(&ids[0]).expect("uuid");
    app.backends
        .store
        .transition(
            first,
            &Transition::Started {
                runner_id: "r".into(),
                trace_id: None,
            },
        )
        .await
        .expect("start");

    let page1 = app.get("/api/tasks?limit=2").await;
    assert_eq!(page1.status, 200, "{}", page1.text);
    let listed: Vec<&str> = page1.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        vec![ids[4].as_str(), ids[3].as_str()],
        "newest first"
    );
    let cursor = page1.body["next_cursor"].as_str().expect("a next page");
    let page2 = app
        .get(&format!("/api/tasks?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page2.body["tasks"][0]["id"], ids[2].as_str());

    let running = app.get("/api/tasks?status=running").await;
    assert_eq!(running.body["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(running.body["tasks"][0]["id"], ids[0].as_str());

    for (query, field) in [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=zzz", "cursor"),
        ("colour=red", "colour"),
    ] {
        let bad = app.get(&format!("/api/tasks?{query}")).await;
        assert_eq!(
            (bad.status, bad.field()),
            (400, field),
            "{query}: {}",
            bad.text
        );
    }
}

async fn delete_clears_the_list_on_both_routes(app: TestApp) {
    submit(
        &app,
        json!({"kind": "cpu", "intensity": "light", "count": 3}),
    )
    .await;

    let cleared = app.delete("/api/tasks").await;
    assert_eq!(
        (cleared.status, cleared.body["deleted"].as_u64()),
        (200, Some(3))
    );

    submit(&app, json!({"kind": "cpu", "intensity": "light"})).await;
    let cleared = app.delete("/api/tasks/all").await;
    assert_eq!(cleared.body["deleted"].as_u64(), Some(1));
    assert_eq!(app.get("/api/tasks").await.body["tasks"], json!([]));
}

async fn stats_count_tasks_and_the_queue(app: TestApp) {
    submit(
        &app,
        json!({"kind": "cpu", "intensity": "light", "count": 4}),
    )
    .await;

    let stats = app.get("/api/stats").await;

    assert_eq!(stats.status, 200, "{}", stats.text);
    assert_eq!(stats.body["tasks"]["queued"], 4);
    assert_eq!(stats.body["total"], 4);
    assert_eq!(stats.body["queue"]["visible"], 4);
    assert_eq!(stats.body["queue"]["dead_letter"], 0);
    assert!(stats.body["throughput"]["completed_per_second"].is_number());
}

async fn redrive_returns_dead_lettered_tasks_to_the_queue(app: TestApp) {
    let ids = submit(
        &app,
        json!({"kind": "cpu", "intensity": "light", "fail_percent": 100}),
    )
    .await;
    let id = uuid::Uuid::parse_str(&ids[0]).expect("uuid");
    // Fail it as a runner would, until the queue dead-letters it.
    for _ in 0..4 {
        app.backends
            .queue
            .receive(1, Duration::from_millis(500), Duration::ZERO)
            .await
            .expect("receive");
    }
    app.backends
        .store
        .transition(
            id,
            &Transition::Started {
                runner_id: "r".into(),
                trace_id: None,
            },
        )
        .await
        .expect("start");
    app.backends
        .store
        .transition(
            id,
            &Transition::Failed {
                error: "boom".into(),
                duration_ms: 1,
                dead_lettered: true,
            },
        )
        .await
        .expect("dead letter");
    assert_eq!(app.get("/api/stats").await.body["queue"]["dead_letter"], 1);

    let answer = app
        .post_raw("/api/dead-letters/redrive", "application/json", "")
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["tasks"], 1);
    assert_eq!(app.get_task(&ids[0]).await.body["status"], "queued");
    assert_eq!(
        app.drain_queue().await.len(),
        1,
        "the message is back on the queue"
    );
}

async fn metrics_label_routes_by_template_and_pass_promtool(app: TestApp) {
    let ids = submit(
        &app,
        json!({"kind": "ram", "intensity": "light", "count": 2}),
    )
    .await;
    app.get_task(&ids[0]).await;
    app.get_task(&ids[1]).await;

    let text = app.metrics_text().await;

    assert!(
        text.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/api/tasks/{id}",http_response_status_code="200"} 2"#),
        "route template, not raw path:\n{text}"
    );
    assert!(!text.contains(&ids[0]), "no raw path or id in any label");
    assert!(
        text.contains(r#"tasks_submitted_total{task_kind="ram",task_intensity="light"} 2"#),
        "{text}"
    );
    // Series of the closed label sets exist from the start, at 0.
    assert!(
        text.contains(r#"tasks_submitted_total{task_kind="cpu",task_intensity="intense"} 0"#),
        "{text}"
    );
    assert!(text.contains(r#"error_type="unavailable"} 0"#), "{text}");
    assert!(
        text.contains("messaging_client_sent_messages_total{"),
        "{text}"
    );
    testkit::promtool_check_metrics(&text);
}

both_backends!(
    a_task_reads_back_and_unknown_or_malformed_ids_do_not,
    lists_are_newest_first_paginated_and_filtered,
    delete_clears_the_list_on_both_routes,
    stats_count_tasks_and_the_queue,
    redrive_returns_dead_lettered_tasks_to_the_queue,
    metrics_label_routes_by_template_and_pass_promtool,
);
