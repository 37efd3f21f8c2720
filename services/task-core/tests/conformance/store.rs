//! Task store conformance: conditional transitions, newest-first pages, counts, on both backends.

use std::sync::Arc;

use task_core::{
    Intensity, Kind, Status, Task, TaskSpec,
    store::{Applied, ListQuery, StoreError, TaskStore, Transition},
};
use uuid::Uuid;

use crate::fixture::Fixture;

fn task(kind: Kind) -> Task {
    Task::new(
        TaskSpec::new(kind, Intensity::Light, 10).expect("valid spec"),
        task_core::queue::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c"),
    )
}

fn started(runner: &str) -> Transition {
    Transition::Started {
        runner_id: runner.into(),
        trace_id: None,
    }
}

fn failed(dead_lettered: bool) -> Transition {
    Transition::Failed {
        error: "injected failure".into(),
        duration_ms: 12,
        dead_lettered,
    }
}

async fn stored(s: &dyn TaskStore, id: Uuid) -> Task {
    s.get(id).await.expect("get").expect("task exists")
}

async fn created_tasks_read_back_as_queued(f: Fixture) {
    let s = &f.backends().store;
    let t = task(Kind::Ram);
    s.create(std::slice::from_ref(&t)).await.expect("create");

    let got = stored(s.as_ref(), t.id).await;

    assert_eq!(got.spec, t.spec);
    assert_eq!(got.status, Status::Queued);
    assert_eq!(got.attempts, 0);
    assert_eq!(got.created_at, t.created_at);
    assert_eq!(got.trace_id, t.trace_id);
    assert!(s.get(Uuid::new_v4()).await.expect("get missing").is_none());
}

async fn transitions_follow_the_lifecycle(f: Fixture) {
    let s = &f.backends().store;
    let t = task(Kind::Cpu);
    s.create(std::slice::from_ref(&t)).await.expect("create");

    assert_eq!(
        s.transition(t.id, &started("r1")).await.expect("start"),
        Applied::Yes
    );
    let running = stored(s.as_ref(), t.id).await;
    assert_eq!((running.status, running.attempts), (Status::Running, 1));
    assert_eq!(running.runner_id.as_deref(), Some("r1"));
    assert!(running.started_at.is_some());

    assert_eq!(
        s.transition(t.id, &failed(false)).await.expect("fail"),
        Applied::Yes
    );
    let retrying = stored(s.as_ref(), t.id).await;
    assert_eq!(retrying.status, Status::Retrying);
    assert_eq!(retrying.last_error.as_deref(), Some("injected failure"));

    assert_eq!(
        s.transition(t.id, &started("r2")).await.expect("restart"),
        Applied::Yes
    );
    assert_eq!(
        s.transition(t.id, &Transition::Succeeded { duration_ms: 40 })
            .await
            .expect("succeed"),
        Applied::Yes
    );
    let done = stored(s.as_ref(), t.id).await;
    assert_eq!(
        (done.status, done.attempts, done.duration_ms),
        (Status::Succeeded, 2, Some(40))
    );
    assert_eq!(done.runner_id.as_deref(), Some("r2"));
    assert!(done.finished_at.is_some());
}

async fn a_late_duplicate_never_moves_a_succeeded_task_back(f: Fixture) {
    let s = &f.backends().store;
    let t = task(Kind::Cpu);
    s.create(std::slice::from_ref(&t)).await.expect("create");
    s.transition(t.id, &started("r1")).await.expect("start");
    s.transition(t.id, &Transition::Succeeded { duration_ms: 5 })
        .await
        .expect("succeed");

    for (case, late) in [
        ("start", started("r2")),
        ("failure", failed(false)),
        ("dead letter", failed(true)),
    ] {
        let outcome = s.transition(t.id, &late).await.expect("late transition");
        assert_eq!(
            outcome,
            Applied::Ignored {
                current: Status::Succeeded
            },
            "late {case}"
        );
    }
    let after = stored(s.as_ref(), t.id).await;
    assert_eq!((after.status, after.attempts), (Status::Succeeded, 1));
}

async fn dead_lettered_tasks_can_be_redriven(f: Fixture) {
    let s = &f.backends().store;
    let t = task(Kind::Ram);
    s.create(std::slice::from_ref(&t)).await.expect("create");
    s.transition(t.id, &started("r1")).await.expect("start");

    assert_eq!(
        s.transition(t.id, &failed(true))
            .await
            .expect("dead letter"),
        Applied::Yes
    );
    assert_eq!(stored(s.as_ref(), t.id).await.status, Status::DeadLettered);
    assert_eq!(
        s.transition(t.id, &Transition::Redriven)
            .await
            .expect("redrive"),
        Applied::Yes
    );
    let queued = stored(s.as_ref(), t.id).await;
    assert_eq!((queued.status, queued.finished_at), (Status::Queued, None));
    assert_eq!(
        s.transition(t.id, &Transition::Redriven)
            .await
            .expect("second redrive"),
        Applied::Ignored {
            current: Status::Queued
        }
    );
}

async fn transitions_of_unknown_tasks_report_not_found(f: Fixture) {
    let s = &f.backends().store;
    let outcome = s
        .transition(Uuid::new_v4(), &started("r1"))
        .await
        .expect("transition");
    assert_eq!(outcome, Applied::NotFound);
}

async fn lists_are_newest_first_paginated_and_filtered(f: Fixture) {
    let s = &f.backends().store;
    let tasks: Vec<Task> = (0..7).map(|_| task(Kind::Cpu)).collect();
    s.create(&tasks).await.expect("create");
    s.transition(tasks[1].id, &started("r"))
        .await
        .expect("start");
    s.transition(tasks[4].id, &started("r"))
        .await
        .expect("start");

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list(&ListQuery {
                status: None,
                limit: 3,
                cursor,
            })
            .await
            .expect("list");
        pages += 1;
        assert!(page.tasks.len() <= 3);
        seen.extend(page.tasks.iter().map(|t| t.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let newest_first: Vec<Uuid> = tasks.iter().rev().map(|t| t.id).collect();
    assert_eq!(seen, newest_first, "every task once, newest first");
    assert_eq!(pages, 3);

    let running = s
        .list(&ListQuery {
            status: Some(Status::Running),
            limit: 10,
            cursor: None,
        })
        .await
        .expect("filtered list");
    let ids: Vec<Uuid> = running.tasks.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![tasks[4].id, tasks[1].id]);
    assert_eq!(running.next_cursor, None);
}

async fn a_cursor_the_store_did_not_hand_out_is_rejected(f: Fixture) {
    let s = &f.backends().store;
    let result = s
        .list(&ListQuery {
            status: None,
            limit: 3,
            cursor: Some("not a cursor!".into()),
        })
        .await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
}

async fn counts_by_status_and_clear(f: Fixture) {
    let s = &f.backends().store;
    let tasks: Vec<Task> = (0..5).map(|_| task(Kind::Ram)).collect();
    s.create(&tasks).await.expect("create");
    s.transition(tasks[0].id, &started("r"))
        .await
        .expect("start");
    s.transition(tasks[1].id, &started("r"))
        .await
        .expect("start");
    s.transition(tasks[1].id, &Transition::Succeeded { duration_ms: 1 })
        .await
        .expect("succeed");

    let counts = s.counts().await.expect("counts");

    assert_eq!(
        (
            counts.queued,
            counts.running,
            counts.succeeded,
            counts.total()
        ),
        (3, 1, 1, 5)
    );
    assert_eq!(s.clear().await.expect("clear"), 5);
    assert_eq!(s.counts().await.expect("counts").total(), 0);
    assert!(first_page(s).await.is_empty());

    // Tasks created after a clear (which may number them from the start again) list newest
    // first, as any others.
    let after: Vec<Task> = (0..3).map(|_| task(Kind::Cpu)).collect();
    s.create(&after).await.expect("create");
    let newest_first: Vec<_> = after.iter().rev().map(|t| t.id).collect();
    assert_eq!(first_page(s).await, newest_first);
}

/// The ids of the first ten tasks of the unfiltered list, in list order.
async fn first_page(s: &Arc<dyn TaskStore>) -> Vec<Uuid> {
    s.list(&ListQuery {
        limit: 10,
        ..Default::default()
    })
    .await
    .expect("list")
    .tasks
    .into_iter()
    .map(|t| t.id)
    .collect()
}

conformance!(
    created_tasks_read_back_as_queued,
    transitions_follow_the_lifecycle,
    a_late_duplicate_never_moves_a_succeeded_task_back,
    dead_lettered_tasks_can_be_redriven,
    transitions_of_unknown_tasks_report_not_found,
    lists_are_newest_first_paginated_and_filtered,
    a_cursor_the_store_did_not_hand_out_is_rejected,
    counts_by_status_and_clear,
);
