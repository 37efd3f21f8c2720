//! Benchmark: the four DORA metrics, three windows, over a synthetic history of 100,000
//! deployments (9 service-environments over 90 days, 1-3 commits each, 5 % failures, a rollback
//! every 200 deployments, 300 incidents). Baseline in the same run: one pass that only groups and
//! counts the deployments, the least any computation must do.
//!
//! `cargo run --release -p telemetry-cli --example dora_bench [-- --deployments 100000]`

use std::{collections::HashMap, hint::black_box, time::Instant};

use telemetry_cli::dora::{
    compute::{self, DAY, WINDOWS_DAYS},
    model::{Commit, Deployment, History, Incident},
};

fn history(n: usize, now: i64) -> History {
    let envs = ["dev", "stage", "production"];
    let services = ["api", "task-runner", "frontend"];
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let span = 90 * DAY;
    let mut h = History::default();
    for i in 0..n {
        let created = now - span + (i as i64 * span / n as i64);
        let id = i as u64 + 1;
        let failed = next() % 20 == 0;
        // Every 200th deployment ships an older sha again: a rollback.
        let sha = if i % 200 == 199 {
            format!("s{}", i - 2)
        } else {
            format!("s{i}")
        };
        h.deployments.push(Deployment {
            id,
            sha,
            github_environment: format!("{}-{}", envs[i % 3], services[(i / 3) % 3]),
            created_at: created,
            succeeded_at: (!failed).then_some(created + 300),
            failed_at: failed.then_some(created + 300),
        });
        let commits = (0..1 + next() % 3)
            .map(|c| Commit {
                sha: format!("c{i}-{c}"),
                authored_at: created - (next() % (3 * DAY as u64)) as i64,
            })
            .collect::<Vec<_>>();
        for c in commits.iter().filter(|_| next() % 3 == 0) {
            h.merges.insert(c.sha.clone(), c.authored_at + 3600);
        }
        h.changes.insert(id, commits);
        if i % (n / 300).max(1) == 0 {
            h.incidents.push(Incident {
                number: i as u64,
                created_at: created + 900,
                deployment_id: Some(id),
            });
        }
    }
    h
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--deployments")
        .nth(1)
        .map_or(Ok(100_000), |v| v.parse())?;
    let now = 1_800_000_000;
    let h = history(n, now);
    println!(
        "{n} deployments, {} commits",
        h.changes.values().map(Vec::len).sum::<usize>()
    );
    let mut best_base = f64::MAX;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut groups: HashMap<&str, usize> = HashMap::new();
        for d in &h.deployments {
            *groups.entry(&d.github_environment).or_default() += usize::from(d.finished());
        }
        black_box(&groups);
        best_base = best_base.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let summaries = compute::compute(&h, now, &WINDOWS_DAYS);
        black_box(&summaries);
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(summaries.len(), 27);
    }
    println!("baseline (group and count): {:>8.1} ms", best_base * 1e3);
    println!(
        "all metrics, 3 windows:     {:>8.1} ms  ({:.1}x the baseline; goal < 1000 ms)",
        best * 1e3,
        best / best_base
    );
    Ok(())
}
