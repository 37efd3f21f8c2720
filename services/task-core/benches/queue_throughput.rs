//! Embedded queue throughput: cycles of send 10 + receive 10 + delete 10, with 1 producer and
//! 1 consumer, then 2 + 2, each on its own connection (as separate processes would be). The
//! baseline, measured in the same run, is raw SQLite inserts of the same rows in transactions of
//! 10 with the same durability setting: the ceiling a SQLite-backed queue can approach.
//!
//! Run: `cargo bench -p task-core --bench queue_throughput [-- --messages N --durability full]`

use std::{
    path::Path,
    time::{Duration, Instant},
};

use task_core::{
    Durability,
    queue::{EmbeddedQueue, MessageTrace, OutgoingMessage, Queue, TraceParent},
};

const BODY: &str = r#"{"id":"6f1c0b52-3c7e-4a55-9d1e-3f3f0c2b9a10","kind":"cpu","intensity":"light","fail_percent":10}"#;

fn batch() -> Vec<OutgoingMessage> {
    (0..10)
        .map(|_| OutgoingMessage {
            body: BODY.to_owned(),
            trace: MessageTrace {
                parent: TraceParent::parse(
                    "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
                ),
                ..MessageTrace::default()
            },
        })
        .collect()
}

fn baseline(path: &Path, messages: usize, durability: Durability) -> f64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    let sync = if durability == Durability::Full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", sync).expect("sync");
    conn.execute_batch("CREATE TABLE m (seq INTEGER PRIMARY KEY, body TEXT, attributes TEXT)")
        .expect("schema");
    let started = Instant::now();
    for _ in 0..messages / 10 {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO m (body, attributes) VALUES (?1, ?2)")
                .expect("prepare");
            for _ in 0..10 {
                insert.execute((BODY, "{}")).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    messages as f64 / started.elapsed().as_secs_f64()
}

async fn run_queue(path: &Path, pairs: usize, messages: usize, durability: Durability) -> f64 {
    let open = || EmbeddedQueue::open(path, "bench", 5, durability).expect("open queue");
    let per_producer = messages / pairs / 10;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..pairs {
        let producer = open();
        tasks.push(tokio::spawn(async move {
            let batch = batch();
            for _ in 0..per_producer {
                producer.send_batch(&batch).await.expect("send");
            }
        }));
    }
    let total = per_producer * 10 * pairs;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..pairs {
        let consumer = open();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            while received.load(std::sync::atomic::Ordering::Relaxed) < total {
                let got = consumer
                    .receive(10, Duration::from_millis(100), Duration::from_secs(60))
                    .await
                    .expect("receive");
                if got.is_empty() {
                    continue;
                }
                let receipts: Vec<_> = got.iter().map(|m| m.receipt.clone()).collect();
                for r in consumer.delete_batch(&receipts).await.expect("delete") {
                    r.expect("deleted");
                }
                received.fetch_add(got.len(), std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let messages: usize = arg("--messages")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let durability: Durability = arg("--durability")
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");

    eprintln!("measuring baseline: raw SQLite inserts of {messages} rows ...");
    let base = baseline(&dir.path().join("baseline.sqlite"), messages, durability);
    println!(
        "durability: {durability:?} (synchronous={})",
        if durability == Durability::Full {
            "FULL"
        } else {
            "NORMAL"
        }
    );
    println!("{:<42} {:>12} {:>8}", "case", "messages/s", "ratio");
    println!(
        "{:<42} {:>12.0} {:>8.2}",
        "baseline: raw SQLite insert, 10 per tx", base, 1.0
    );
    for pairs in [1, 2] {
        eprintln!("measuring {pairs} producer(s) + {pairs} consumer(s) ...");
        let path = dir.path().join(format!("queue-{pairs}.sqlite"));
        let rate = rt.block_on(run_queue(&path, pairs, messages, durability));
        println!(
            "{:<42} {:>12.0} {:>8.2}",
            format!("queue: send+receive+delete, {pairs}P + {pairs}C"),
            rate,
            rate / base
        );
    }
}
