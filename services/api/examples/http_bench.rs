//! The API's submit benchmark: `POST /api/tasks` with one task on the embedded backend (telemetry
//! on: spans, JSON logs to a file, metrics), against a bare axum handler that parses the same JSON
//! and answers 202, in the same run.
//!
//! 1. Maximum rate of each with `wrk` (2 threads, 128 connections, 10 s, loopback), five runs
//!    each, alternating between the two, medians compared, with how busy the machine was during
//!    each server's runs (a maximum rate leaves no core idle).
//! 2. Latency of the API at half its maximum rate, from an open-loop generator (requests are sent
//!    on schedule and latency counts from when each was due, so queueing shows in the
//!    percentiles; raw HTTP/1.1 on keep-alive connections, one thread): 10 s recorded after 3 s
//!    at the same rate (errors of both counted).
//! 3. The API's resident memory (VmHWM, the peak) after the load.
//! 4. Telemetry overhead: the API's maximum rate with every span exported over OTLP (100%
//!    sampling) to a real OTLP receiver, against the API with telemetry off (no spans, no logs),
//!    alternating runs as in 1.
//! 5. The same two, loaded at the same time, each by its own `wrk` (1 thread, half the
//!    connections), [`ROUNDS`] times: each server's CPU per request in each round. Drift in the
//!    shared machine's speed moved alternating runs of one server by a quarter from one minute
//!    to the next; loaded together, both see the same machine, so the ratio of their CPU per
//!    request varies by a few per cent from round to round. On a machine the two fill, that
//!    ratio is the ratio of their maximum rates at equal shares of the CPU.
//!
//! Run: `cargo build --release -p api --bin api --example http_bench &&
//!       target/release/examples/http_bench`

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;

const BODY: &str = r#"{"kind":"cpu","intensity":"light","fail_percent":10}"#;

/// `POST /api/tasks` against a bare axum handler, and the cost of exported telemetry.
#[derive(Parser)]
struct Args {
    /// Without a command: the whole benchmark (maximum rates, latency, memory, telemetry).
    #[command(subcommand)]
    command: Option<Part>,
}

#[derive(clap::Subcommand)]
enum Part {
    /// The baseline server alone: parse the same JSON, answer 202.
    Bare {
        /// The loopback port to listen on.
        port: u16,
    },
    /// The open-loop measurement alone (10 s), against an API already running.
    Latency {
        /// The API's loopback port.
        port: u16,
        /// Requests per second to send.
        rate: f64,
    },
    /// An OTLP receiver alone, for profiling the API with export on; prints its OTLP/HTTP
    /// endpoint, then its OTLP/gRPC one, a line each.
    Receiver,
}

fn main() {
    match Args::parse().command {
        Some(Part::Bare { port }) => bare(port),
        Some(Part::Latency { port, rate }) => {
            let (latencies, errors) = open_loop(port, rate, 10);
            println!(
                "p50 {:.2} ms, p99 {:.2} ms, non-202 {errors}",
                percentile(&latencies, 0.50).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3
            );
        }
        Some(Part::Receiver) => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let receiver = rt.block_on(testkit::otlp::Receiver::start_counting());
            println!("{}\n{}", receiver.endpoint, receiver.grpc_endpoint);
            rt.block_on(std::future::pending::<()>());
        }
        None => orchestrate(),
    }
}

/// The baseline: parse the same JSON, answer 202.
#[tokio::main]
async fn bare(port: u16) {
    use axum::{Json, Router, http::StatusCode, routing::post};
    async fn submit(Json(body): Json<serde_json::Value>) -> (StatusCode, Json<serde_json::Value>) {
        (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"tasks": [body]})),
        )
    }
    let app = Router::new().route("/api/tasks", post(submit));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

struct Server(Child);

impl Server {
    /// Stops it as an orchestrator does (SIGTERM), so that it flushes its spans and logs.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Spans the exporter reported dropped (failed exports, a full queue) in a JSON log.
fn dropped_spans(log: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(log).expect("API log");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|line| {
            ["spans.failed", "spans.queue_full"]
                .iter()
                .filter_map(|field| line[field].as_u64())
                .sum::<u64>()
        })
        .sum()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server on {port} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds of each wrk run.
const WRK_SECONDS: f64 = 10.0;
/// wrk's connections. The API group-commits the rows of concurrent requests, so it needs more
/// requests in flight than the bare handler to keep both cores busy: at 32 connections a tenth of
/// the machine sat idle while requests waited for the commit in flight (at 128, 3 %), and its
/// rate was not its maximum. The bare handler's rate is flat from 64 to 256 connections.
const WRK_CONNECTIONS: usize = 128;
/// wrk runs per server, alternating between the two servers compared, so that drift in the
/// shared machine's speed touches both alike; the median of each is reported.
const ROUNDS: usize = 5;

/// Requests per second of each of two servers, [`ROUNDS`] alternating wrk runs each, and the
/// share of the machine's CPU time that was busy during each server's runs.
fn rounds(ports: [u16; 2], script: &PathBuf) -> ([Vec<f64>; 2], [f64; 2]) {
    let mut out = [Vec::new(), Vec::new()];
    let mut ticks = [(0, 0); 2];
    for _ in 0..ROUNDS {
        for ((runs, port), (busy, all)) in out.iter_mut().zip(ports).zip(ticks.iter_mut()) {
            let before = machine_ticks();
            runs.push(wrk(port, script, 2, WRK_CONNECTIONS));
            let after = machine_ticks();
            *busy += after.0 - before.0;
            *all += after.1 - before.1;
        }
    }
    let share = |(busy, all): (u64, u64)| busy as f64 / all.max(1) as f64;
    (out, [share(ticks[0]), share(ticks[1])])
}

/// The machine's busy and total CPU ticks so far, from the `cpu` line of /proc/stat (idle and
/// iowait are the idle part).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn median(runs: &[f64]) -> f64 {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Each server's CPU per request (us) in [`ROUNDS`] rounds that load both at once, each
/// `(port, pid)` by its own wrk with half of [`WRK_CONNECTIONS`].
fn same_time_rounds(servers: [(u16, u32); 2], script: &PathBuf) -> Vec<[f64; 2]> {
    (0..ROUNDS)
        .map(|_| {
            let before = servers.map(|(_, pid)| cpu_seconds(pid));
            let rates = std::thread::scope(|s| {
                servers
                    .map(|(port, _)| s.spawn(move || wrk(port, script, 1, WRK_CONNECTIONS / 2)))
                    .map(|run| run.join().expect("wrk thread"))
            });
            // Requests from the rate and the nominal duration. The two runs start and end
            // together, so the small error this makes cancels out of the ratio.
            let mut per_request = [0.0; 2];
            for (i, us) in per_request.iter_mut().enumerate() {
                let cpu = cpu_seconds(servers[i].1) - before[i];
                *us = cpu / (rates[i] * WRK_SECONDS) * 1e6;
            }
            per_request
        })
        .collect()
}

fn wrk(port: u16, script: &PathBuf, threads: usize, connections: usize) -> f64 {
    let out = Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{WRK_SECONDS}s"),
            "-s".to_owned(),
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/api/tasks"))
        .output()
        .expect("wrk is missing: apt-get install -y wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    text.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("wrk printed Requests/sec")
}

/// Seconds at half rate before latency is recorded.
const WARM_UP_SECONDS: u64 = 3;

/// Connections of the open-loop generator.
const OPEN_LOOP_CONNECTIONS: usize = 64;

/// Sends `rate` requests per second for `seconds` on schedule; returns sorted latencies and the
/// number of answers that were not 202.
///
/// As wrk2 does: each of [`OPEN_LOOP_CONNECTIONS`] keep-alive connections has its own schedule
/// (`rate / connections`), and a request held up by a slow earlier answer counts from when it was
/// due, so the delay shows in the percentiles instead of hiding (coordinated omission).
/// Raw HTTP/1.1 on one thread: the generator shares the two cores with the server, so it must
/// cost little per request.
fn open_loop(port: u16, rate: f64, seconds: u64) -> (Vec<Duration>, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let request = format!(
            "POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        );
        let connections = OPEN_LOOP_CONNECTIONS;
        let interval = Duration::from_secs_f64(connections as f64 / rate);
        let sends = (rate * seconds as f64) as usize / connections;
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let handles: Vec<_> = (0..connections)
            .map(|i| {
                let request = request.clone();
                // Spread the connections' schedules over one interval.
                let first = start + interval.mul_f64(i as f64 / connections as f64);
                tokio::spawn(async move { connection(port, request, first, interval, sends).await })
            })
            .collect();
        let mut latencies = Vec::with_capacity(sends * connections);
        let mut errors = 0;
        for c in handles {
            let (mine, failed) = c.await.expect("join");
            latencies.extend(mine);
            errors += failed;
        }
        latencies.sort();
        (latencies, errors)
    })
}

/// One connection's share of the open loop: `sends` requests, one every `interval` from `first`.
async fn connection(
    port: u16,
    request: String,
    first: tokio::time::Instant,
    interval: Duration,
    sends: usize,
) -> (Vec<Duration>, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut latencies = Vec::with_capacity(sends);
    let mut errors = 0;
    let mut buf = Vec::with_capacity(4096);
    for i in 0..sends {
        let due = first + interval * i as u32;
        // If the previous answer came after this request was due, the server held it up: its
        // latency counts from when it was due. Otherwise from when it was sent, so the timer's
        // millisecond granularity does not count against the server.
        let held_up = tokio::time::Instant::now() > due;
        tokio::time::sleep_until(due).await;
        let from = if held_up {
            due
        } else {
            tokio::time::Instant::now()
        };
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        // Read the head, then as much body as Content-Length says.
        buf.clear();
        let (head_end, body_len) = loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read response");
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .expect("a Content-Length header");
                break (end + 4, len);
            }
        };
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
        latencies.push(from.elapsed());
        if !buf.starts_with(b"HTTP/1.1 202") {
            errors += 1;
        }
    }
    (latencies, errors)
}

/// The API's own duration histogram of accepted `POST /api/tasks`: (bucket bound, cumulative
/// count) pairs from /metrics.
fn server_histogram(port: u16) -> Vec<(String, f64)> {
    let text = std::process::Command::new("curl")
        .args(["-fsS", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_bucket{")
                && l.contains("http_route=\"/api/tasks\"")
                && l.contains("http_request_method=\"POST\"")
                && l.contains("http_response_status_code=\"202\"")
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_owned();
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect()
}

/// The smallest bucket bound (ms) holding 99 % of the requests between two scrapes.
fn server_p99_bound(before: &[(String, f64)], after: &[(String, f64)]) -> String {
    let count =
        |h: &[(String, f64)], le: &str| h.iter().find(|(b, _)| b == le).map_or(0.0, |(_, c)| *c);
    let total = count(after, "+Inf") - count(before, "+Inf");
    after
        .iter()
        .find(|(le, c)| total > 0.0 && (c - count(before, le)) / total >= 0.99)
        .map_or_else(
            || "n/a".into(),
            |(le, _)| {
                le.parse::<f64>()
                    .map_or(le.clone(), |s| format!("<= {}", s * 1e3))
            },
        )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// User + system CPU time a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn orchestrate() {
    let exe = std::env::current_exe().expect("exe");
    let release = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/release")
        .to_path_buf();
    let api_bin = release.join("api");
    assert!(
        api_bin.exists(),
        "build the API first: cargo build --release -p api --bin api"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("post.lua");
    std::fs::write(&script, format!("wrk.method = \"POST\"\nwrk.body = '{BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n")).expect("lua");

    let bare_port = free_port();
    let bare = Server(
        Command::new(&exe)
            .args(["bare", &bare_port.to_string()])
            .spawn()
            .expect("start bare"),
    );
    wait_listening(bare_port);

    let start_api = |name: &str, env: &[(&str, String)]| {
        let port = free_port();
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log file");
        let server = Server(
            Command::new(&api_bin)
                .args(["--port", &port.to_string(), "--data-dir"])
                .arg(dir.path().join(name))
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::from(log))
                .spawn()
                .expect("start api"),
        );
        wait_listening(port);
        (server, port)
    };
    let (api, api_port) = start_api("api", &[]);
    eprintln!("measuring the bare handler and the API, {ROUNDS} rounds ...");
    let ([bare_rounds, api_rounds], [bare_busy, api_busy]) = rounds([bare_port, api_port], &script);
    drop(bare);
    let (bare_rps, api_rps) = (median(&bare_rounds), median(&api_rounds));
    let half = api_rps / 2.0;
    eprintln!(
        "measuring latency at half rate ({half:.0}/s) after {WARM_UP_SECONDS} s at that rate ..."
    );
    // As wrk2 calibrates before it records: the first seconds after the maximum-rate runs still
    // carry their backlog (a long WAL to checkpoint, dirty pages to write back).
    let (_, warm_up_errors) = open_loop(api_port, half, WARM_UP_SECONDS);
    let before = server_histogram(api_port);
    let (latencies, errors) = open_loop(api_port, half, 10);
    let errors = errors + warm_up_errors;
    let server_p99 = server_p99_bound(&before, &server_histogram(api_port));
    let rss = peak_rss_mb(api.0.id());
    drop(api);

    eprintln!("measuring telemetry overhead, {ROUNDS} rounds ...");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let receiver = rt.block_on(testkit::otlp::Receiver::start_counting());
    let (off, off_port) = start_api(
        "api-telemetry-off",
        &[
            ("RUST_LOG", "off".into()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ],
    );
    let (on, on_port) = start_api(
        "api-telemetry-on",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
            // ~130k spans/s: the default queue (2,048) holds 16 ms of them, and the receiver,
            // sharing two cores with wrk and the API, answered late often enough to drop 6 % of
            // the spans of a measured run. Sized as an operator would for this rate.
            ("OTEL_BSP_MAX_QUEUE_SIZE", "65536".into()),
        ],
    );
    let servers_cpu = |a: &Server, b: &Server| [cpu_seconds(a.0.id()), cpu_seconds(b.0.id())];
    let (cpu_before, receiver_before) = (servers_cpu(&off, &on), cpu_seconds(std::process::id()));
    let ([off_rounds, on_rounds], [off_busy, on_busy]) = rounds([off_port, on_port], &script);
    let cpu_after = servers_cpu(&off, &on);
    // This process hosts the receiver; it idles while the telemetry-off server is measured.
    let receiver_cpu = cpu_seconds(std::process::id()) - receiver_before;
    eprintln!("measuring telemetry overhead with both loaded at once, {ROUNDS} rounds ...");
    let together = same_time_rounds([(off_port, off.0.id()), (on_port, on.0.id())], &script);
    let (off_cpu, on_cpu) = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]);
    drop(off);
    on.stop();
    let exported = receiver.span_count();
    let dropped = dropped_spans(&dir.path().join("api-telemetry-on.log"));
    let (off_rps, on_rps) = (median(&off_rounds), median(&on_rounds));

    println!("{:<48} {:>12}", "case", "value");
    println!(
        "{:<48} {:>12.0}",
        "bare axum handler, requests/s (wrk)", bare_rps
    );
    println!(
        "{:<48} {:>12.0}",
        "API POST /api/tasks, requests/s (wrk)", api_rps
    );
    println!(
        "{:<48} {:>12.2}",
        "ratio API / bare (goal >= 0.5)",
        api_rps / bare_rps
    );
    let busy = |a: f64, b: f64| format!("{:.0} / {:.0} %", a * 100.0, b * 100.0);
    println!(
        "{:<48} {:>12}",
        "machine busy during wrk: bare / API",
        busy(bare_busy, api_busy)
    );
    println!("{:<48} {:>12.0}", "open-loop rate, requests/s", half);
    println!(
        "{:<48} {:>12.2}",
        "p50 latency at half rate, ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3
    );
    println!(
        "{:<48} {:>12.2}",
        "p99 latency at half rate, ms (goal < 10)",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "{:<48} {:>12}",
        "server-side p99 at half rate, bucket bound, ms", server_p99
    );
    println!("{:<48} {:>12}", "non-202 answers at half rate", errors);
    println!("{:<48} {:>12.1}", "API peak RSS, MB (goal <= 50)", rss);
    println!("{:<48} {:>12.0}", "API, telemetry off, requests/s", off_rps);
    println!(
        "{:<48} {:>12.0}",
        "API, all spans exported over OTLP, requests/s", on_rps
    );
    println!(
        "{:<48} {:>12.2}",
        "ratio exported / off (goal >= 0.9)",
        on_rps / off_rps
    );
    println!(
        "{:<48} {:>12}",
        "machine busy during wrk: off / exported",
        busy(off_busy, on_busy)
    );
    println!("{:<48} {:>12}", "spans the receiver got", exported);
    println!("{:<48} {:>12}", "spans the API dropped (goal 0)", dropped);
    let runs = |r: &[f64]| {
        r.iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("{:<48} {:>12}", "runs: bare", runs(&bare_rounds));
    println!("{:<48} {:>12}", "runs: API", runs(&api_rounds));
    println!(
        "{:<48} {:>12}",
        "runs: API, telemetry off",
        runs(&off_rounds)
    );
    println!("{:<48} {:>12}", "runs: API, exported", runs(&on_rounds));
    // Per request CPU of the API process itself, which the receiver's share of the cores does
    // not distort.
    let per_request_us =
        |cpu: f64, rounds: &[f64]| cpu / (rounds.iter().sum::<f64>() * WRK_SECONDS) * 1e6;
    println!(
        "{:<48} {:>12.1}",
        "API CPU per request, telemetry off, us",
        per_request_us(off_cpu, &off_rounds)
    );
    println!(
        "{:<48} {:>12.1}",
        "API CPU per request, exported, us",
        per_request_us(on_cpu, &on_rounds)
    );
    println!(
        "{:<48} {:>12.1}",
        "receiver CPU during the exported run, s", receiver_cpu
    );
    let ratios: Vec<f64> = together.iter().map(|[off, on]| off / on).collect();
    println!(
        "{:<48} {:>12.2}",
        "loaded together: CPU per request off / exported",
        median(&ratios)
    );
    println!(
        "{:<48} {:>12}",
        "runs: loaded together, off / exported",
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let column = |i: usize| together.iter().map(|r| r[i]).collect::<Vec<_>>();
    println!(
        "{:<48} {:>12.1}",
        "loaded together: CPU per request off, us",
        median(&column(0))
    );
    println!(
        "{:<48} {:>12.1}",
        "loaded together: CPU per request exported, us",
        median(&column(1))
    );
}
