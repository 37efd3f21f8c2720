//! Queue conformance: SQS semantics, checked the same way on both backends.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use task_core::queue::{MessageTrace, OutgoingMessage, Queue, QueueError, Redrive, TraceParent};

use crate::fixture::{Fixture, MAX_RECEIVE_COUNT};

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(30);

/// A trace whose producer span id is made from `body`, so each message's can be checked.
fn trace_of(body: &str) -> MessageTrace {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(body, &mut hasher);
    let span_id = std::hash::Hasher::finish(&hasher).max(1).to_be_bytes();
    MessageTrace {
        parent: Some(TraceParent::new([0x57; 16], span_id, 0x01)),
        state: Some(format!("body={body}")),
        xray: Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        ),
    }
}

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        trace: trace_of(body),
    }
}

fn messages(n: usize, prefix: &str) -> Vec<OutgoingMessage> {
    (0..n).map(|i| message(&format!("{prefix}-{i}"))).collect()
}

async fn send_all(q: &dyn Queue, msgs: &[OutgoingMessage]) {
    for chunk in msgs.chunks(10) {
        for r in q.send_batch(chunk).await.expect("send batch") {
            r.expect("every entry sent");
        }
    }
}

async fn send_receive_delete_round_trip(f: Fixture) {
    let q = &f.backends().queue;
    send_all(q.as_ref(), &messages(3, "a")).await;

    let got = q.receive(10, SHORT, LONG).await.expect("receive");

    let bodies: HashSet<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, HashSet::from(["a-0", "a-1", "a-2"]));
    for m in &got {
        assert_eq!(m.receive_count, 1, "first receive");
        let sent = trace_of(&m.body);
        assert_eq!(
            (&m.trace.parent, &m.trace.state),
            (&sent.parent, &sent.state),
            "traceparent and tracestate pass through"
        );
        // moto 5.2 drops the MessageSystemAttributes of SendMessageBatch entries (its
        // send_message_batch never passes them on); SQS keeps them. The W3C `traceparent`
        // attribute above carries the same context on both.
        if matches!(f, Fixture::Embedded { .. }) {
            assert_eq!(m.trace.xray, sent.xray, "AWSTraceHeader passes through");
        }
        assert!(m.sent_at_ms > 0);
    }
    let receipts: Vec<_> = got.iter().map(|m| m.receipt.clone()).collect();
    for r in q.delete_batch(&receipts).await.expect("delete") {
        r.expect("every entry deleted");
    }
    let stats = q.stats().await.expect("stats");
    assert_eq!(
        (stats.visible, stats.in_flight, stats.dead_letter),
        (0, 0, 0)
    );
}

async fn visibility_expiry_redelivers_with_a_higher_receive_count(f: Fixture) {
    let q = &f.backends().queue;
    send_all(q.as_ref(), &messages(1, "v")).await;
    let first = q
        .receive(1, SHORT, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(first.len(), 1);

    let hidden = q
        .receive(1, Duration::ZERO, LONG)
        .await
        .expect("receive while invisible");
    assert!(
        hidden.is_empty(),
        "an in-flight message is not delivered again"
    );
    assert_eq!(q.stats().await.expect("stats").in_flight, 1);

    let again = q
        .receive(1, Duration::from_secs(5), LONG)
        .await
        .expect("receive after expiry");
    assert_eq!(again.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].receive_count, 2);
}

async fn message_is_dead_lettered_exactly_after_the_max_receive_count(f: Fixture) {
    let q = &f.backends().queue;
    assert_eq!(q.max_receive_count(), MAX_RECEIVE_COUNT);
    send_all(q.as_ref(), &messages(1, "poison")).await;

    for attempt in 1..=MAX_RECEIVE_COUNT {
        let got = q.receive(1, SHORT, Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {attempt} delivers");
        assert_eq!(got[0].receive_count, attempt);
    }
    let after = q
        .receive(1, SHORT, Duration::ZERO)
        .await
        .expect("receive past the limit");

    assert!(
        after.is_empty(),
        "receive {} moves it instead of delivering",
        MAX_RECEIVE_COUNT + 1
    );
    let stats = q.stats().await.expect("stats");
    assert_eq!((stats.visible, stats.dead_letter), (0, 1));
}

async fn redrive_moves_dead_letters_back_with_a_fresh_receive_count(f: Fixture) {
    let q = &f.backends().queue;
    send_all(q.as_ref(), &messages(2, "r")).await;
    for _ in 0..=MAX_RECEIVE_COUNT {
        // Each pass receives both (while they are deliverable) with visibility 0.
        let mut seen = 0;
        while seen < 2 {
            let got = q.receive(10, SHORT, Duration::ZERO).await.expect("receive");
            if got.is_empty() {
                break;
            }
            seen += got.len();
        }
    }
    assert_eq!(q.stats().await.expect("stats").dead_letter, 2);

    let outcome = q.redrive().await.expect("redrive");

    assert!(
        matches!(outcome, Redrive::Moved(2) | Redrive::Started { .. }),
        "{outcome:?}"
    );
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while back.len() < 2 && Instant::now() < deadline {
        back.extend(q.receive(10, SHORT, LONG).await.expect("receive redriven"));
    }
    assert_eq!(back.len(), 2);
    assert!(
        back.iter().all(|m| m.receive_count == 1),
        "receive count starts again"
    );
    assert_eq!(q.stats().await.expect("stats").dead_letter, 0);
}

async fn a_long_poll_returns_as_soon_as_a_message_arrives(f: Fixture) {
    let q = f.backends().queue.clone();
    let sender = q.clone();
    let started = Instant::now();
    let waiter = tokio::spawn(async move { q.receive(1, Duration::from_secs(10), LONG).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_all(sender.as_ref(), &messages(1, "late")).await;

    let got = waiter.await.expect("join").expect("receive");

    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "returned after {:?}",
        started.elapsed()
    );
}

async fn a_second_connection_is_woken_promptly(f: Fixture) {
    // Another handle on the same data shares no in-process state, as another process would not.
    let other = f.reopen().await;
    let q = f.backends().queue.clone();
    let waiter = tokio::spawn(async move {
        let got = q.receive(1, Duration::from_secs(10), LONG).await;
        (Instant::now(), got)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    send_all(other.queue.as_ref(), &messages(1, "cross")).await;

    let (woke, got) = waiter.await.expect("join");

    assert_eq!(got.expect("receive").len(), 1);
    let latency = woke.duration_since(sent);
    // The embedded queue looks every 25 ms for messages from other processes; the bound leaves
    // room for a machine busy with other tests (a clean CI run once measured 125 ms) and still
    // fails a queue that only notices at the end of the 10 s wait. moto's long poll re-checks
    // every second or so, which is what SQS promises too (no bound, "as soon as available").
    let bound = if matches!(f, Fixture::Embedded { .. }) {
        250
    } else {
        2_000
    };
    assert!(
        latency < Duration::from_millis(bound),
        "woke {latency:?} after the send"
    );
}

async fn batch_limits_are_enforced_with_a_clear_error(f: Fixture) {
    let q = &f.backends().queue;
    let cases: Vec<(&str, Result<(), QueueError>)> = vec![
        (
            "send of 11",
            q.send_batch(&messages(11, "x")).await.map(|_| ()),
        ),
        ("send of 0", q.send_batch(&[]).await.map(|_| ())),
        (
            "receive of 11",
            q.receive(11, Duration::ZERO, LONG).await.map(|_| ()),
        ),
        (
            "receive of 0",
            q.receive(0, Duration::ZERO, LONG).await.map(|_| ()),
        ),
        (
            "wait of 21 s",
            q.receive(1, Duration::from_secs(21), LONG)
                .await
                .map(|_| ()),
        ),
        ("delete of 0", q.delete_batch(&[]).await.map(|_| ())),
        (
            "body over 256 KiB",
            q.send_batch(&[OutgoingMessage {
                body: "x".repeat(256 * 1024 + 1),
                ..Default::default()
            }])
            .await
            .map(|_| ()),
        ),
    ];
    for (case, result) in cases {
        match result {
            Err(QueueError::Invalid(msg)) => assert!(!msg.is_empty(), "{case}: message"),
            other => panic!("{case}: expected Invalid, got {other:?}"),
        }
    }
}

async fn concurrent_consumers_never_get_the_same_in_flight_message(f: Fixture) {
    let q = &f.backends().queue;
    send_all(q.as_ref(), &messages(40, "c")).await;
    let second = f.reopen().await.queue;

    let consumers = (0..4).map(|i| {
        let q = if i % 2 == 0 {
            q.clone()
        } else {
            second.clone()
        };
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let got = q
                    .receive(10, Duration::from_millis(500), LONG)
                    .await
                    .expect("receive");
                if got.is_empty() {
                    return ids;
                }
                ids.extend(got.into_iter().map(|m| m.message_id));
            }
        })
    });
    let all: Vec<String> = futures::future::join_all(consumers)
        .await
        .into_iter()
        .flat_map(|r| r.expect("join"))
        .collect();

    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), 40, "every message received");
    match f {
        Fixture::Embedded { .. } => assert_eq!(all.len(), 40, "no message received twice"),
        // SQS standard queues deliver at least once: a rare second copy is within the contract
        // (moto shows it under concurrent receives too), and the task store's conditional
        // transitions make it harmless. A second copy of most messages is not.
        Fixture::Aws(_) => assert!(all.len() <= 44, "{} receives for 40 messages", all.len()),
    }
}

async fn changing_visibility_to_zero_hands_a_message_back_at_once(f: Fixture) {
    let q = &f.backends().queue;
    send_all(q.as_ref(), &messages(1, "h")).await;
    let got = q.receive(1, SHORT, LONG).await.expect("receive");

    q.change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .expect("hand back");

    let again = q.receive(1, SHORT, LONG).await.expect("receive again");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

async fn a_crash_between_receive_and_delete_loses_nothing(f: Fixture) {
    send_all(f.backends().queue.as_ref(), &messages(1, "crash")).await;
    let got = f
        .backends()
        .queue
        .receive(1, SHORT, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    // The consumer dies here: no delete. A new process opens the queue.
    let restarted = f.reopen().await;

    let again = restarted
        .queue
        .receive(1, Duration::from_secs(5), LONG)
        .await
        .expect("receive");

    assert_eq!(again.len(), 1, "the message comes back");
    assert_eq!(again[0].body, "crash-0");
    let deleted = restarted
        .queue
        .delete_batch(&[again[0].receipt.clone()])
        .await
        .expect("delete");
    assert!(deleted[0].is_ok());
}

async fn messages_survive_closing_and_reopening(f: Fixture) {
    send_all(f.backends().queue.as_ref(), &messages(5, "d")).await;
    let reopened = f.reopen().await;

    let stats = reopened.queue.stats().await.expect("stats");

    assert_eq!(stats.visible, 5);
    let got = reopened
        .queue
        .receive(10, SHORT, LONG)
        .await
        .expect("receive");
    assert_eq!(got.len(), 5);
}

conformance!(
    send_receive_delete_round_trip,
    visibility_expiry_redelivers_with_a_higher_receive_count,
    message_is_dead_lettered_exactly_after_the_max_receive_count,
    redrive_moves_dead_letters_back_with_a_fresh_receive_count,
    a_long_poll_returns_as_soon_as_a_message_arrives,
    a_second_connection_is_woken_promptly,
    batch_limits_are_enforced_with_a_clear_error,
    concurrent_consumers_never_get_the_same_in_flight_message,
    changing_visibility_to_zero_hands_a_message_back_at_once,
    a_crash_between_receive_and_delete_loses_nothing,
    messages_survive_closing_and_reopening,
);
