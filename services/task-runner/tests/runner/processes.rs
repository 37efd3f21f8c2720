//! The real `task-runner` binary: killed, signalled, outlived by its tasks.

use std::time::Duration;

use serde_json::json;
use task_core::Status;

use crate::helpers::{Env, MAX_RECEIVE_COUNT, count_status};

const MINUTE: Duration = Duration::from_secs(60);

async fn kill_9_in_the_middle_loses_nothing_and_counts_nothing_twice(env: Env) {
    // 0.3 x 2-5 s: tasks take 0.6-1.5 s; a 2 s visibility timeout brings the killed ones back.
    let flags = [
        "--workers",
        "2",
        "--time-scale",
        "0.3",
        "--visibility-timeout",
        "2",
    ];
    let ids = env
        .submit(json!({"kind": "cpu", "intensity": "light", "count": 6}))
        .await;
    let first = env.spawn_runner("victim", &flags);
    env.wait_for(&ids, MINUTE, "a running task", |t| {
        count_status(t, Status::Running) > 0
    })
    .await;

    drop(first); // SIGKILL, no chance to clean up.
    let _second = env.spawn_runner("survivor", &flags);

    let tasks = env
        .wait_for(&ids, MINUTE, "every task succeeded", |t| {
            count_status(t, Status::Succeeded) == 6
        })
        .await;
    assert!(
        tasks.iter().any(|t| t.attempts >= 2),
        "the task killed mid-run ran again"
    );
    assert!(tasks.iter().all(|t| t.runner_id.is_some()));
    // Deletes are batched (up to 1 s): the queue ends empty, nothing left to run twice.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = env.backends.queue.stats().await.expect("stats");
        if stats.visible + stats.in_flight == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue not empty: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn poison_tasks_are_dead_lettered_after_exactly_the_max_receives_and_redrive_brings_them_back(
    env: Env,
) {
    let flags = [
        "--workers",
        "2",
        "--time-scale",
        "0.01",
        "--retry-backoff-base",
        "0",
    ];
    let ids = env
        .submit(json!({"kind": "ram", "intensity": "light", "fail_percent": 100, "count": 2}))
        .await;
    let mut runner = env.spawn_runner("r1", &flags);

    let tasks = env
        .wait_for(&ids, MINUTE, "both dead-lettered", |t| {
            count_status(t, Status::DeadLettered) == 2
        })
        .await;
    assert!(
        tasks.iter().all(|t| t.attempts == MAX_RECEIVE_COUNT),
        "{:?}",
        tasks.iter().map(|t| t.attempts).collect::<Vec<_>>()
    );
    runner.signal(libc::SIGTERM);
    assert_eq!(runner.wait_exit(MINUTE).await, Some(0));
    // The runner's last release makes each message visible; the next receive moves it.
    env.backends
        .queue
        .receive(10, Duration::from_secs(1), Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(
        env.backends.queue.stats().await.expect("stats").dead_letter,
        2
    );

    let redriven = env.post("/api/dead-letters/redrive").await;

    assert_eq!(redriven["tasks"], 2);
    let tasks = env.tasks(&ids).await;
    assert_eq!(count_status(&tasks, Status::Queued), 2);
    let stats = env.backends.queue.stats().await.expect("stats");
    assert_eq!(
        (stats.visible + stats.in_flight, stats.dead_letter),
        (2, 0),
        "back on the queue: {stats:?}"
    );
}

async fn sigterm_finishes_running_tasks_and_leaves_the_rest_to_another_runner(env: Env) {
    // A 30 s visibility timeout: anything the first runner held back would be stuck that long.
    let flags = [
        "--workers",
        "2",
        "--time-scale",
        "0.5",
        "--visibility-timeout",
        "30",
    ];
    let ids = env
        .submit(json!({"kind": "cpu", "intensity": "light", "count": 5}))
        .await;
    let mut first = env.spawn_runner("first", &flags);
    env.wait_for(&ids, MINUTE, "two running", |t| {
        count_status(t, Status::Running) == 2
    })
    .await;

    first.signal(libc::SIGTERM);
    let second = env.spawn_runner("second", &flags);

    assert_eq!(
        first.wait_exit(MINUTE).await,
        Some(0),
        "exits cleanly after draining"
    );
    assert!(first.log_contains("Runner stopped."));
    let tasks = env
        .wait_for(
            &ids,
            Duration::from_secs(20),
            "all succeeded well within the visibility timeout",
            |t| count_status(t, Status::Succeeded) == 5,
        )
        .await;
    let by_first = tasks
        .iter()
        .filter(|t| t.runner_id.as_deref() == Some("first"))
        .count();
    assert_eq!(
        by_first, 2,
        "the first runner finished exactly the two it was running"
    );
    assert!(
        tasks.iter().all(|t| t.attempts == 1),
        "nothing was abandoned and rerun"
    );
    drop(second);
}

async fn the_heartbeat_keeps_a_long_task_from_being_delivered_twice(env: Env) {
    // Tasks take 1-4 s; the visibility timeout is 1 s, so only the heartbeat keeps them hidden.
    let flags = [
        "--workers",
        "2",
        "--time-scale",
        "0.5",
        "--visibility-timeout",
        "1",
    ];
    let ids = env
        .submit(json!({"kind": "ram", "intensity": "light", "count": 2}))
        .await;
    let _a = env.spawn_runner("a", &flags);
    let _b = env.spawn_runner("b", &flags);

    let tasks = env
        .wait_for(&ids, MINUTE, "both succeeded", |t| {
            count_status(t, Status::Succeeded) == 2
        })
        .await;

    assert!(
        tasks.iter().all(|t| t.attempts == 1),
        "{:?}",
        tasks.iter().map(|t| t.attempts).collect::<Vec<_>>()
    );
}

both_backends!(
    kill_9_in_the_middle_loses_nothing_and_counts_nothing_twice,
    poison_tasks_are_dead_lettered_after_exactly_the_max_receives_and_redrive_brings_them_back,
    sigterm_finishes_running_tasks_and_leaves_the_rest_to_another_runner,
    the_heartbeat_keeps_a_long_task_from_being_delivered_twice,
);
