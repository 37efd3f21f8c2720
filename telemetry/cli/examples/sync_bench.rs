//! Benchmark of `sync-dashboards` against the fake Grafana: 50 dashboards (copies of the app
//! status dashboard), first sync then a no-op sync, with wall time and request counts.
//!
//! `cargo run --release -p telemetry-cli --example sync_bench [-- --dashboards 50]`

use std::time::Instant;

use telemetry_cli::dashboards::{
    grafana::Grafana,
    source,
    sync::{self, Options},
};
use testkit::grafana::FakeGrafana;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .skip_while(|a| a != "--dashboards")
        .nth(1)
        .map_or(Ok(50), |n| n.parse())?;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let template: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        repo.join("task-platform/app-status.json"),
    )?)?;
    let dir = tempfile::tempdir()?;
    for i in 0..count {
        let folder = dir.path().join(format!("folder-{}", i % 5));
        std::fs::create_dir_all(&folder)?;
        let mut d = template.clone();
        d["uid"] = format!("bench-{i:03}").into();
        d["title"] = format!("Bench {i:03}").into();
        std::fs::write(folder.join(format!("bench-{i:03}.json")), d.to_string())?;
    }
    let files = source::load(dir.path())?;
    let fake = FakeGrafana::start().await;
    fake.add_token("bench", "Editor");
    let options = Options::default();
    println!(
        "{count} dashboards ({} bytes each)",
        template.to_string().len()
    );
    println!(
        "{:<14} {:>9} {:>7} {:>7}",
        "sync", "time ms", "reads", "writes"
    );
    for label in ["first", "no-op second"] {
        // A fresh client per run so the counts are that run's.
        let grafana = Grafana::new(&fake.url, "bench".into());
        let started = Instant::now();
        let report = sync::sync(&grafana, &files, &options, &mut |_| {}).await?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        println!(
            "{label:<14} {ms:>9.1} {:>7} {:>7}",
            report.reads, report.writes
        );
    }
    Ok(())
}
