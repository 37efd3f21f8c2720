//! Runner throughput against its ceiling, on the embedded backends, in one process.
//!
//! CPU-light tasks at time scale 0.02 burn one thread for 40-100 ms. For 1 and 2 workers: submit
//! enough tasks to keep every slot busy for several seconds, measure tasks/s from the first
//! submission until the last success, and compare with the ceiling `workers / mean task duration`
//! (the durations the runner itself recorded in the store). Then, with an idle runner, submit one
//! task at a time and measure submit-to-start (store `started_at - created_at`).
//!
//! With `--telemetry`, every span is exported over OTLP (100% sampling) to a real OTLP receiver
//! in this process, and logs are written (to a sink): compare its tasks/s with a plain run.
//!
//! Run: `cargo run --release -p task-runner --example runner_bench [-- --telemetry]`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use prometheus_client::registry::Registry;
use task_core::{
    Durability, Intensity, Kind, Status, Task, TaskSpec,
    backend::{BackendConfig, Backends},
    queue::OutgoingMessage,
    store::ListQuery,
};
use task_runner::{metrics::RunnerMetrics, runner::Runner};

const TIME_SCALE: &str = "0.02";

async fn submit(b: &Backends, n: usize) -> Vec<Task> {
    let spec = TaskSpec::new(Kind::Cpu, Intensity::Light, 0).expect("spec");
    let tasks: Vec<Task> = (0..n).map(|_| Task::new(spec, None)).collect();
    b.store.create(&tasks).await.expect("create");
    for chunk in tasks.chunks(10) {
        let messages: Vec<OutgoingMessage> = chunk
            .iter()
            .map(|t| OutgoingMessage {
                body: t.message().to_body(),
                ..Default::default()
            })
            .collect();
        b.queue.send_batch(&messages).await.expect("send");
    }
    tasks
}

fn start_runner(
    b: &Backends,
    workers: usize,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let settings = task_runner::settings::Settings::parse_from([
        "task-runner",
        "--time-scale",
        TIME_SCALE,
        "--workers",
        &workers.to_string(),
    ])
    .runner;
    let mut registry = Registry::default();
    let metrics = Arc::new(RunnerMetrics::register(
        &mut registry,
        b.queue.as_ref(),
        workers,
    ));
    let runner = Runner::new(b.queue.clone(), b.store.clone(), settings, metrics);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = runner
            .run(async move {
                let _ = rx.await;
            })
            .await;
    });
    (tx, handle)
}

async fn all_succeeded(b: &Backends, n: u64) {
    loop {
        if b.store.counts().await.expect("counts").succeeded >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn mean_duration_ms(b: &Backends) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    let mut cursor = None;
    loop {
        let page = b
            .store
            .list(&ListQuery {
                status: Some(Status::Succeeded),
                limit: 500,
                cursor,
            })
            .await
            .expect("list");
        for t in &page.tasks {
            sum += t.duration_ms.unwrap_or(0);
            n += 1;
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return sum as f64 / n.max(1) as f64;
        }
    }
}

async fn open(dir: &std::path::Path) -> Backends {
    Backends::open(&BackendConfig::Embedded {
        data_dir: dir.to_path_buf(),
        max_receive_count: 3,
        durability: Durability::Normal,
    })
    .await
    .expect("backends")
}

/// Runner throughput against its ceiling, and submit-to-start latency, on the embedded backends.
#[derive(Parser)]
struct Args {
    /// Export every span over OTLP (100% sampling) to an OTLP receiver in this process.
    #[arg(long)]
    telemetry: bool,
}

#[tokio::main]
async fn main() {
    let telemetry = if Args::parse().telemetry {
        let receiver = testkit::otlp::Receiver::start_counting().await;
        // SAFETY: set before any other thread reads the environment (the runtime's workers
        // do not read it).
        unsafe {
            std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint);
            std::env::set_var("OTEL_TRACES_SAMPLER", "always_on");
        }
        let t = telemetry::init_with_writer("task-runner", std::io::sink).expect("telemetry");
        println!(
            "telemetry: every span exported over OTLP to {}",
            receiver.endpoint
        );
        Some((t, receiver))
    } else {
        println!("telemetry: none");
        None
    };
    println!(
        "{:<10} {:>7} {:>10} {:>12} {:>10} {:>8}",
        "workers", "tasks", "tasks/s", "mean task ms", "ceiling/s", "ratio"
    );
    let mut rates = Vec::new();
    for (workers, n) in [(1usize, 100usize), (2, 200)] {
        eprintln!("measuring {workers} worker(s), {n} tasks ...");
        let dir = tempfile::tempdir().expect("temp dir");
        let b = open(dir.path()).await;
        let (stop, handle) = start_runner(&b, workers);
        let started = Instant::now();
        submit(&b, n).await;
        all_succeeded(&b, n as u64).await;
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let _ = stop.send(());
        let _ = handle.await;
        let mean = mean_duration_ms(&b).await;
        let ceiling = workers as f64 / (mean / 1000.0);
        println!(
            "{workers:<10} {n:>7} {rate:>10.2} {mean:>12.1} {ceiling:>10.2} {:>8.3}",
            rate / ceiling
        );
        rates.push(rate);
    }
    println!("scaling 1 -> 2 workers: {:.2}x", rates[1] / rates[0]);

    eprintln!("measuring submit-to-start with an idle runner ...");
    let dir = tempfile::tempdir().expect("temp dir");
    let b = open(dir.path()).await;
    let (stop, handle) = start_runner(&b, 1);
    let mut waits = Vec::new();
    for i in 0..40u64 {
        let task = submit(&b, 1).await.remove(0);
        all_succeeded(&b, i + 1).await;
        let t = b.store.get(task.id).await.expect("get").expect("task");
        waits.push(t.started_at.map_or(0, |s| s.0 - t.created_at.0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = handle.await;
    waits.sort_unstable();
    println!(
        "submit-to-start with an idle worker: p50 {} ms, p90 {} ms, max {} ms (40 tasks)",
        waits[20], waits[36], waits[39]
    );
    if let Some((t, receiver)) = telemetry {
        t.shutdown();
        println!("spans the receiver got: {}", receiver.span_count());
    }
}
