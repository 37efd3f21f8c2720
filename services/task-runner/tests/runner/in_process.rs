//! `process_one` until the queue is empty: outcomes, metrics and the store, without sleeps.

use prometheus_client::encoding::text::encode;
use serde_json::json;
use task_core::{Status, queue::OutgoingMessage};
use task_runner::runner::Processed;

use crate::helpers::{Env, MAX_RECEIVE_COUNT};

fn metric(registry: &prometheus_client::registry::Registry, needle: &str) -> f64 {
    let mut text = String::new();
    encode(&mut text, registry).expect("encode");
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn a_poison_task_fails_once_per_receive_then_is_dead_lettered(env: Env) {
    let ids = env
        .submit(json!({"kind": "cpu", "intensity": "light", "fail_percent": 100}))
        .await;
    let (runner, _, registry) = env.runner(&["--time-scale", "0.001", "--retry-backoff-base", "0"]);

    let mut handled = 0;
    while runner.process_one().await.expect("process") == Processed::Message {
        handled += 1;
        assert!(
            handled <= MAX_RECEIVE_COUNT,
            "never more receives than the queue allows"
        );
    }

    assert_eq!(handled, MAX_RECEIVE_COUNT);
    let failed = r#"task_runs_total{task_kind="cpu",task_intensity="light",task_outcome="failed"}"#;
    let dead =
        r#"task_runs_total{task_kind="cpu",task_intensity="light",task_outcome="dead_lettered"}"#;
    assert_eq!(
        metric(&registry, failed),
        f64::from(MAX_RECEIVE_COUNT - 1),
        "one TaskFailed per receive but the last"
    );
    assert_eq!(metric(&registry, dead), 1.0, "exactly one TaskDeadLettered");
    let task = env.task(ids[0]).await;
    assert_eq!(
        (task.status, task.attempts),
        (Status::DeadLettered, MAX_RECEIVE_COUNT)
    );
    assert!(
        task.last_error
            .unwrap_or_default()
            .contains("injected failure")
    );
    assert_eq!(
        env.backends.queue.stats().await.expect("stats").dead_letter,
        1
    );
}

async fn a_successful_task_is_recorded_and_deleted(env: Env) {
    let ids = env
        .submit(json!({"kind": "ram", "intensity": "light"}))
        .await;
    let (runner, _, registry) = env.runner(&["--time-scale", "0.001"]);

    assert_eq!(
        runner.process_one().await.expect("process"),
        Processed::Message
    );

    let task = env.task(ids[0]).await;
    assert_eq!((task.status, task.attempts), (Status::Succeeded, 1));
    assert!(task.duration_ms.is_some() && task.finished_at.is_some());
    assert!(
        task.trace_id.is_some(),
        "the attempt's trace id is recorded"
    );
    assert_eq!(
        runner.process_one().await.expect("process"),
        Processed::QueueEmpty,
        "deleted: no redelivery"
    );
    assert_eq!(
        metric(&registry, "messaging_client_consumed_messages_total"),
        1.0
    );
}

async fn a_duplicate_delivery_of_a_succeeded_task_is_skipped(env: Env) {
    let ids = env
        .submit(json!({"kind": "cpu", "intensity": "light"}))
        .await;
    let (runner, _, registry) = env.runner(&["--time-scale", "0.001"]);
    runner.process_one().await.expect("first delivery");
    // The same task message arrives again (SQS delivers at least once).
    let body = task_core::TaskMessage {
        id: ids[0],
        spec: env.task(ids[0]).await.spec,
    }
    .to_body();
    env.backends
        .queue
        .send_batch(&[OutgoingMessage {
            body,
            ..Default::default()
        }])
        .await
        .expect("resend");

    assert_eq!(
        runner.process_one().await.expect("duplicate"),
        Processed::Message
    );

    let task = env.task(ids[0]).await;
    assert_eq!(
        (task.status, task.attempts),
        (Status::Succeeded, 1),
        "not run again"
    );
    let succeeded =
        r#"task_runs_total{task_kind="cpu",task_intensity="light",task_outcome="succeeded"}"#;
    assert_eq!(metric(&registry, succeeded), 1.0, "counted once");
    assert_eq!(
        runner.process_one().await.expect("process"),
        Processed::QueueEmpty,
        "the duplicate was deleted"
    );
}

async fn a_malformed_message_ends_in_the_dead_letter_queue(env: Env) {
    env.backends
        .queue
        .send_batch(&[OutgoingMessage {
            body: "{not a task".into(),
            ..Default::default()
        }])
        .await
        .expect("send");
    let (runner, _, _) = env.runner(&["--time-scale", "0.001"]);

    let mut handled = 0;
    while runner.process_one().await.expect("process") == Processed::Message {
        handled += 1;
    }

    assert_eq!(handled, MAX_RECEIVE_COUNT);
    assert_eq!(
        env.backends.queue.stats().await.expect("stats").dead_letter,
        1
    );
}

both_backends!(
    a_poison_task_fails_once_per_receive_then_is_dead_lettered,
    a_successful_task_is_recorded_and_deleted,
    a_duplicate_delivery_of_a_succeeded_task_is_skipped,
    a_malformed_message_ends_in_the_dead_letter_queue,
);
