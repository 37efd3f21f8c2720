//! Properties checked on the embedded backends only, each with the reason it is not in the
//! shared conformance suite.

use task_core::{
    Durability, Intensity, Kind, Status, Task, TaskSpec,
    backend::{BackendConfig, Backends},
    queue::OutgoingMessage,
    store::{Applied, Transition},
};

// Only the embedded backends have files to close; the AWS side has no process-local state.

#[tokio::test]
async fn queue_and_store_survive_closing_every_handle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BackendConfig::Embedded {
        data_dir: dir.path().join("data"),
        max_receive_count: 3,
        durability: Durability::Full,
    };
    let task = Task::new(
        TaskSpec::new(Kind::Cpu, Intensity::Average, 0).expect("spec"),
        None,
    );
    {
        let b = Backends::open(&config).await.expect("open");
        b.store
            .create(std::slice::from_ref(&task))
            .await
            .expect("create");
        let body = task.message().to_body();
        b.queue
            .send_batch(&[OutgoingMessage {
                body,
                ..Default::default()
            }])
            .await
            .expect("send");
    }

    let b = Backends::open(&config).await.expect("reopen");

    assert_eq!(
        b.store.get(task.id).await.expect("get").map(|t| t.status),
        Some(Status::Queued)
    );
    let got = b
        .queue
        .receive(
            1,
            std::time::Duration::ZERO,
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(
        task_core::TaskMessage::from_body(&got[0].body)
            .expect("task body")
            .id,
        task.id
    );
}

// DynamoDB makes each conditional write atomic per item; moto does not emulate that under
// concurrent requests (two racing UpdateItem calls can both pass the condition), so this race is
// checked where the stand-in is faithful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_outcomes_apply_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BackendConfig::Embedded {
        data_dir: dir.path().to_path_buf(),
        max_receive_count: 3,
        durability: Durability::Normal,
    };
    let b = Backends::open(&config).await.expect("open");
    // A second handle races through its own connection, as another process would.
    let other = Backends::open(&config).await.expect("open again");
    let task = Task::new(
        TaskSpec::new(Kind::Cpu, Intensity::Light, 0).expect("spec"),
        None,
    );
    b.store
        .create(std::slice::from_ref(&task))
        .await
        .expect("create");
    b.store
        .transition(
            task.id,
            &Transition::Started {
                runner_id: "r1".into(),
                trace_id: None,
            },
        )
        .await
        .expect("start");

    let racers = (0..8u64).map(|i| {
        let store = if i % 2 == 0 {
            b.store.clone()
        } else {
            other.store.clone()
        };
        tokio::spawn(async move {
            let outcome = if i % 3 == 0 {
                Transition::Succeeded { duration_ms: i }
            } else {
                Transition::Failed {
                    error: "x".into(),
                    duration_ms: i,
                    dead_lettered: true,
                }
            };
            store
                .transition(task.id, &outcome)
                .await
                .expect("transition")
        })
    });
    let outcomes: Vec<Applied> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();

    assert_eq!(
        outcomes.iter().filter(|o| **o == Applied::Yes).count(),
        1,
        "{outcomes:?}"
    );
    let status = b.store.get(task.id).await.expect("get").map(|t| t.status);
    assert!(status.is_some_and(Status::is_terminal));
}
