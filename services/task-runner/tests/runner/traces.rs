//! One trace per request across API -> queue -> runner, checked on spans exported over OTLP by the
//! real `api` and `task-runner` processes to a real OTLP receiver.

use std::time::Duration;

use serde_json::{Value, json};
use task_core::Status;
use testkit::otlp::{CLIENT, CONSUMER, PRODUCER, Receiver, SERVER, STATUS_ERROR, Span};

use crate::helpers::{Env, MAX_RECEIVE_COUNT, count_status};

/// Export over the default protocol, OTLP/HTTP.
fn otel_env(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        // Export every 100 ms instead of every 5 s, so the test need not wait.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ]
}

/// [`otel_env`] over OTLP/gRPC.
fn grpc_env(receiver: &Receiver) -> Vec<(&'static str, String)> {
    let mut env = otel_env(receiver);
    for (name, value) in &mut env {
        if *name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            value.clone_from(&receiver.grpc_endpoint);
        }
    }
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()));
    env
}

/// The spans of `kind` that name the task `id`.
fn of_task<'a>(
    spans: &[&'a Span],
    kind: i32,
    id: impl std::fmt::Display,
) -> impl Iterator<Item = &'a Span> {
    let id = id.to_string();
    spans
        .iter()
        .copied()
        .filter(move |s| s.kind == kind && s.attr("task.id") == id)
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(std::time::Instant::now() < deadline, "{url} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn one_trace_per_request_crosses_the_queue_with_semantic_conventions(env: Env) {
    let receiver = Receiver::start().await;
    let otel = otel_env(&receiver);
    let (mut api, url) = env.spawn_api(&otel);
    let mut runner = env.spawn_runner_with(
        "traced",
        &[
            "--workers",
            "2",
            "--time-scale",
            "0.01",
            "--retry-backoff-base",
            "0",
        ],
        &otel,
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;

    let submit = |body: Value| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let r = client
                .post(format!("{url}/api/tasks"))
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
                .map(|t| uuid::Uuid::parse_str(t["id"].as_str().unwrap_or_default()).expect("id"))
                .collect::<Vec<_>>()
        }
    };
    let good = submit(json!({"kind": "cpu", "intensity": "light"})).await[0];
    let poison = submit(json!({"kind": "ram", "intensity": "light", "fail_percent": 100})).await[0];
    let pair = submit(json!({"kind": "cpu", "intensity": "light", "count": 2})).await;
    let ids = [good, poison];
    env.wait_for(
        &[good, poison, pair[0], pair[1]],
        Duration::from_secs(60),
        "all finished",
        |t| count_status(t, Status::Succeeded) == 3 && count_status(t, Status::DeadLettered) == 1,
    )
    .await;
    // SIGTERM flushes buffered spans.
    api.signal(libc::SIGTERM);
    runner.signal(libc::SIGTERM);
    assert_eq!(api.wait_exit(Duration::from_secs(30)).await, Some(0));
    assert_eq!(runner.wait_exit(Duration::from_secs(30)).await, Some(0));
    let spans = receiver.spans();

    for id in ids {
        let task = env.task(id).await;
        let trace = task
            .trace_id
            .expect("the store keeps the trace id")
            .to_string();
        let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
        let server: Vec<&&Span> = in_trace.iter().filter(|s| s.kind == SERVER).collect();
        assert_eq!(server.len(), 1, "one API server span in the task's trace");
        let server = server[0];
        assert_eq!(
            (server.service.as_str(), server.name.as_str()),
            ("api", "POST /api/tasks")
        );
        assert_eq!(server.attr("http.request.method"), "POST");
        assert_eq!(server.attr("http.route"), "/api/tasks");
        assert_eq!(server.attr("http.response.status_code"), "202");
        assert!(
            !server.attributes.contains_key("user_agent.original"),
            "no User-Agent header, no attribute"
        );

        let producer = of_task(&in_trace, PRODUCER, id)
            .next()
            .expect("a producer span for the task");
        assert_eq!(
            producer.parent_span_id, server.span_id,
            "the producer span is a child of the request"
        );
        // A lone message is created and sent in one operation: its send span is the producer.
        assert_eq!(producer.name, format!("send {}", env.backends.queue.name()));
        assert_eq!(producer.attr("messaging.operation.type"), "send");
        assert!(!producer.attr("messaging.message.id").is_empty());
        assert!(!producer.attr("messaging.system").is_empty());
        assert_eq!(
            producer.attr("messaging.destination.name"),
            env.backends.queue.name()
        );

        let process: Vec<&Span> = of_task(&in_trace, CONSUMER, id).collect();
        let expected = if id == good {
            1
        } else {
            MAX_RECEIVE_COUNT as usize
        };
        assert_eq!(
            process.len(),
            expected,
            "one process span per attempt, all in the same trace"
        );
        for p in &process {
            assert_eq!(p.service, "task-runner");
            assert_eq!(
                p.parent_span_id, producer.span_id,
                "each process span is the producer's child"
            );
            assert!(
                p.links
                    .contains(&(producer.trace_id.clone(), producer.span_id.clone())),
                "and links to it"
            );
            assert_eq!(p.attr("messaging.operation.type"), "process");
            assert!(!p.attr("messaging.message.id").is_empty());
            assert_eq!(
                p.attr("messaging.destination.name"),
                env.backends.queue.name()
            );
        }
        if id == poison {
            assert!(
                process.iter().all(|p| p.status == STATUS_ERROR),
                "failed attempts carry error status"
            );
            let outcomes: Vec<&str> = process.iter().map(|p| p.attr("task.outcome")).collect();
            assert_eq!(
                outcomes.iter().filter(|o| **o == "failed").count(),
                MAX_RECEIVE_COUNT as usize - 1,
                "retries"
            );
            assert_eq!(
                outcomes.iter().filter(|o| **o == "dead_lettered").count(),
                1,
                "the dead-letter outcome"
            );
        } else {
            assert_eq!(process[0].attr("task.outcome"), "succeeded");
            assert_ne!(process[0].status, STATUS_ERROR);
        }
    }

    // Two messages in one batch: a "create" producer span each, whose context its message
    // carries, and one "send" client span for the batch, all children of the request.
    let trace = env
        .task(pair[0])
        .await
        .trace_id
        .expect("trace id")
        .to_string();
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let server = in_trace
        .iter()
        .find(|s| s.kind == SERVER)
        .expect("server span");
    let send: Vec<&&Span> = in_trace.iter().filter(|s| s.kind == CLIENT).collect();
    assert_eq!(send.len(), 1, "one send span for the batch");
    assert_eq!(send[0].attr("messaging.operation.type"), "send");
    assert_eq!(send[0].attr("messaging.batch.message_count"), "2");
    assert_eq!(send[0].parent_span_id, server.span_id);
    for id in &pair {
        let create = of_task(&in_trace, PRODUCER, id)
            .next()
            .expect("a create span per message");
        assert_eq!(create.attr("messaging.operation.type"), "create");
        assert_eq!(create.parent_span_id, server.span_id);
        let process = of_task(&in_trace, CONSUMER, id)
            .next()
            .expect("a process span");
        assert_eq!(
            process.parent_span_id, create.span_id,
            "processed under its own create span"
        );
    }

    // Every runner log line about a task carries that task's trace id.
    let task_lines: Vec<Value> = runner
        .log_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["task.id"].is_string())
        .collect();
    assert!(task_lines.len() >= 2);
    for line in task_lines {
        let id =
            uuid::Uuid::parse_str(line["task.id"].as_str().unwrap_or_default()).expect("task id");
        let trace = env.task(id).await.trace_id.map(|t| t.to_string());
        assert_eq!(line["trace_id"].as_str(), trace.as_deref(), "{line}");
    }
}

/// Over gRPC, the other protocol: the other tests export over OTLP/HTTP.
async fn an_incoming_trace_header_becomes_the_parent(env: Env) {
    let receiver = Receiver::start().await;
    let (mut api, url) = env.spawn_api(&grpc_env(&receiver));
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;
    let cases = [
        (
            "traceparent",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            "5759e988bd862e3fe1be46a994272793",
            "53995c3f42cd8ad8",
        ),
        (
            "x-amzn-trace-id",
            "Root=1-6a1b2c3d-4e5f60718293a4b5c6d7e8f9;Parent=1122334455667788;Sampled=1",
            "6a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "1122334455667788",
        ),
    ];
    for (header, value, _, _) in cases {
        let r = client
            .get(format!("{url}/api/stats"))
            .header(header, value)
            .header(reqwest::header::USER_AGENT, "traces-test/1")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200);
    }
    api.signal(libc::SIGTERM);
    assert_eq!(api.wait_exit(Duration::from_secs(30)).await, Some(0));
    let spans = receiver.spans();
    for (header, _, trace, parent) in cases {
        let server = spans
            .iter()
            .find(|s| s.kind == SERVER && s.trace_id == trace);
        let server = server.unwrap_or_else(|| panic!("{header}: no server span in trace {trace}"));
        assert_eq!(
            server.parent_span_id, parent,
            "{header}: the caller's span is the parent"
        );
        assert_eq!(server.attr("http.route"), "/api/stats");
        assert_eq!(server.attr("url.path"), "/api/stats");
        assert_eq!(server.attr("user_agent.original"), "traces-test/1");
    }
}

async fn the_standard_sampler_variable_is_honoured(env: Env) {
    let receiver = Receiver::start().await;
    let mut otel = otel_env(&receiver);
    otel.push(("OTEL_TRACES_SAMPLER", "always_off".into()));
    let (mut api, url) = env.spawn_api(&otel);
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;
    for _ in 0..5 {
        client
            .get(format!("{url}/api/stats"))
            .send()
            .await
            .expect("get");
    }
    // A sampled-out request still has a trace: its task records the trace id.
    let r = client
        .post(format!("{url}/api/tasks"))
        .json(&json!({"kind": "cpu", "intensity": "light"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.expect("json");
    let trace_id = body["tasks"][0]["trace_id"].as_str().unwrap_or_default();
    assert!(
        trace_id.len() == 32
            && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
            && trace_id.bytes().any(|b| b != b'0'),
        "a trace id, got {body}"
    );
    api.signal(libc::SIGTERM);
    assert_eq!(api.wait_exit(Duration::from_secs(30)).await, Some(0));
    assert!(receiver.spans().is_empty(), "always_off exports nothing");
}

both_backends!(
    one_trace_per_request_crosses_the_queue_with_semantic_conventions,
    an_incoming_trace_header_becomes_the_parent,
    the_standard_sampler_variable_is_honoured,
);
