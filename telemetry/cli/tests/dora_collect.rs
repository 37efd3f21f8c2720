//! DORA metrics from a scripted GitHub history served by the fake GitHub API: several services
//! and environments, a failed deployment and its recovery, a rollback, an incident, 300+
//! deployments over four pages, a 304 and a rate-limit answer. Every expected value is worked
//! out by hand in the comments.

mod support;

use serde_json::Value;
use telemetry_cli::dora::{
    compute::{self, Summary},
    github::GitHub,
    levels::Level,
};
use testkit::github::{FakeGitHub, TOKEN};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

const REPO: &str = "acme/platform";
/// The report's "now": 2026-06-30T00:00:00Z.
const NOW: i64 = 1_782_777_600;
const M: i64 = 60;
const H: i64 = 3600;
const D: i64 = 86_400;

/// The scripted history, its times relative to `now`.
async fn scripted(now: i64) -> FakeGitHub {
    // RFC 3339 for `seconds` before now.
    let ago = |seconds: i64| {
        OffsetDateTime::from_unix_timestamp(now - seconds)
            .expect("time")
            .format(&Rfc3339)
            .expect("format")
    };
    let gh = FakeGitHub::start(REPO).await;
    // main, in ancestry order. Years of history come before the first deployment.
    gh.commit("r0", &ago(3 * 365 * D));
    gh.commit("r1", &ago(2 * 365 * D));
    gh.commit("a1", &ago(41 * D));
    gh.commit("c1", &ago(22 * D));
    gh.commit("c2", &ago(21 * D));
    gh.commit("c3", &ago(10 * D + 5 * H));
    gh.commit("c4", &ago(10 * D - H));
    gh.commit("c5", &ago(6 * D));
    gh.commit("c7", &ago(D + 3 * H));

    // production-api
    let ok = |created: i64| {
        [
            ("in_progress", ago(created)),
            ("success", ago(created - 10 * M)),
        ]
    };
    let deploy = |id, sha: &str, env: &str, created: i64, statuses: &[(&str, String)]| {
        let s: Vec<(&str, &str)> = statuses.iter().map(|(a, b)| (*a, b.as_str())).collect();
        gh.deployment(id, sha, env, &ago(created), &s);
    };
    deploy(
        101,
        "a1",
        "production-api",
        40 * D,
        &[
            ("success", ago(40 * D - 10 * M)),
            ("inactive", ago(20 * D - 10 * M)),
        ],
    );
    deploy(102, "c2", "production-api", 20 * D, &ok(20 * D));
    deploy(
        103,
        "c3",
        "production-api",
        10 * D,
        &[
            ("in_progress", ago(10 * D)),
            ("failure", ago(10 * D - 15 * M)),
        ],
    );
    deploy(
        104,
        "c4",
        "production-api",
        10 * D - 2 * H,
        &ok(10 * D - 2 * H),
    );
    deploy(105, "c5", "production-api", 5 * D, &ok(5 * D));
    // 106 rolls back to c4 after incident #7 (caused by 105).
    deploy(
        106,
        "c4",
        "production-api",
        5 * D - 4 * H,
        &ok(5 * D - 4 * H),
    );
    deploy(107, "c7", "production-api", D, &ok(D));
    gh.issue(
        7,
        &["incident"],
        "Checkout errors",
        "Started right after deployment #105.",
        &ago(5 * D - H),
    );
    gh.issue(
        8,
        &["bug"],
        "Typo",
        "Seen since deployment 104",
        &ago(9 * D),
    );
    gh.pull(50, "c4", &ago(10 * D - 90 * M));
    gh.pull(51, "c7", &ago(D + H));

    // stage-api: one success, then a failure nothing has fixed yet.
    deploy(201, "c5", "stage-api", 3 * D, &ok(3 * D));
    deploy(
        202,
        "c7",
        "stage-api",
        2 * D,
        &[("error", ago(2 * D - 5 * M))],
    );

    // dev-task-runner: 300 deployments, one every 6 hours, each 10 minutes long, each bringing one
    // commit written 2 hours before. Older ones turn `inactive` as GitHub does.
    for i in (0..300).rev() {
        let created = 6 * H * i + 3 * H;
        gh.commit(&format!("w{i}"), &ago(created + 2 * H));
        let mut statuses = vec![("success", ago(created - 10 * M))];
        if i > 0 {
            statuses.push(("inactive", ago(created - 6 * H)));
        }
        let sha = format!("w{i}");
        deploy(1000 + i as u64, &sha, "dev-task-runner", created, &statuses);
    }
    gh
}

fn find<'a>(s: &'a [Summary], env: &str, service: &str, window: i64) -> &'a Summary {
    s.iter()
        .find(|x| x.environment == env && x.service == service && x.window_days == window)
        .unwrap_or_else(|| panic!("no summary for {env}/{service}/{window}d in {s:#?}"))
}

#[tokio::test]
async fn metrics_from_a_scripted_history_match_the_hand_worked_values() {
    let gh = scripted(NOW).await;
    // The 5th request meets the primary rate limit (reset in a second): the client waits.
    gh.state().rate_limit_at = Some(5);
    let client = GitHub::new(&gh.url, Some(TOKEN.into()));
    let history = client
        .collect(REPO, None, "incident", NOW - 90 * D, &|_| {})
        .await
        .expect("collect");
    assert_eq!(
        client
            .counts
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // 300 runner deployments within 90 days (the oldest is 74.9 days old), 7 + 2 api ones.
    assert_eq!(history.deployments.len(), 309);
    let s = compute::compute(&history, NOW, &[7, 30, 90]);

    // production-api, 30 days: 102..107 finished in the window (6); successes 102, 104, 105,
    // 106, 107 (5) -> 5/30 per day, high. Failed changes: 103 failed, 105 caused incident #7 and
    // was rolled back by 106 (c4 again) -> 2/6, medium (< 40 %). Issue #8 is not an incident.
    let p = find(&s, "production", "api", 30);
    assert_eq!((p.deployments, p.successful, p.failed_changes), (6, 5, 2));
    assert!((p.deployment_frequency_per_day - 5.0 / 30.0).abs() < 1e-12);
    assert_eq!(p.change_failure_rate, Some(2.0 / 6.0));
    // Lead times (commit -> first success containing it): 102 brings c1 (2d10m = 173400) and
    // c2 (1d10m = 87000); 104 brings c3 (7h10m = 25800) and c4 (1h10m = 4200); 105 brings c5
    // (1d10m = 87000); 106 goes back (no commits); 107 brings c5 again (already counted) and c7
    // (3h10m = 11400). 101 is the first deployment: r0, r1 and a1 are not counted.
    // Sorted: 4200 11400 25800 87000 87000 173400 -> p50 = 3rd = 25800, p75 = 5th = 87000.
    assert_eq!(
        (p.lead_time_p50_seconds, p.lead_time_p75_seconds),
        (Some(25_800), Some(87_000))
    );
    // Merge -> deploy: PR 50 (c4) 40m = 2400, PR 51 (c7) 1h10m = 4200 -> p50 = 2400.
    assert_eq!(p.merge_to_deploy_p50_seconds, Some(2400));
    // Recovery: 103 failed at -10d+15m, 104 succeeded at -10d+2h10m -> 1h55m = 6900; 105 went
    // live at -5d+10m, 106 succeeded at -5d+4h10m -> 4h = 14400. p50 = 1st of 2 = 6900, high.
    assert_eq!((p.recovery_p50_seconds, p.unrecovered), (Some(6900), 0));
    assert_eq!(
        (
            p.levels.deployment_frequency,
            p.levels.lead_time,
            p.levels.change_failure_rate,
            p.levels.recovery_time
        ),
        (
            Some(Level::High),
            Some(Level::Elite),
            Some(Level::Medium),
            Some(Level::High)
        )
    );

    // 7 days: 105, 106, 107 -> 3/7 per day (high), 1/3 failed (medium); leads 105's c5 (87000)
    // and 107's c7 (11400) -> p50 11400, p75 87000; recovery of 105: 14400 (high). 105's base,
    // 104, is outside the window and still used: the window does not absorb older commits.
    let p7 = find(&s, "production", "api", 7);
    assert_eq!(
        (p7.deployments, p7.successful, p7.failed_changes),
        (3, 3, 1)
    );
    assert_eq!(
        (p7.lead_time_p50_seconds, p7.lead_time_p75_seconds),
        (Some(11_400), Some(87_000))
    );
    assert_eq!(p7.recovery_p50_seconds, Some(14_400));
    assert_eq!(p7.levels.deployment_frequency, Some(Level::High));

    // 90 days: 101..107 -> 7 finished, 6 successes -> 6/90 per day (medium: at least monthly),
    // 2/7 failed (medium); leads as in 30 days.
    let p90 = find(&s, "production", "api", 90);
    assert_eq!(
        (p90.deployments, p90.successful, p90.failed_changes),
        (7, 6, 2)
    );
    assert_eq!(p90.levels.deployment_frequency, Some(Level::Medium));
    assert_eq!(p90.lead_time_p50_seconds, Some(25_800));

    // stage-api, 30 days: 201 ok, 202 error -> 1/30 per day (medium, exactly monthly), 1/2
    // failed (low); 201 is the first deployment (no lead time); 202 not recovered.
    let st = find(&s, "stage", "api", 30);
    assert_eq!(
        (
            st.deployments,
            st.successful,
            st.failed_changes,
            st.unrecovered
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (st.lead_time_p50_seconds, st.recovery_p50_seconds),
        (None, None)
    );
    assert_eq!(
        (
            st.levels.deployment_frequency,
            st.levels.change_failure_rate,
            st.levels.recovery_time
        ),
        (Some(Level::Medium), Some(Level::Low), None)
    );

    // dev-task-runner: deployments at -(6i+3)h; 30 days holds i = 0..=119 (120) -> 4/day
    // (elite), none failed (elite), each commit 2h10m = 7800 before its success (elite). 7 days:
    // i = 0..=27 (28) -> 4/day. 90 days: all 300 -> 300/90.
    let r = find(&s, "dev", "task-runner", 30);
    assert_eq!(
        (r.deployments, r.successful, r.failed_changes),
        (120, 120, 0)
    );
    assert_eq!(
        (r.lead_time_p50_seconds, r.lead_time_p75_seconds),
        (Some(7800), Some(7800))
    );
    assert_eq!(r.levels.lead_time, Some(Level::Elite));
    assert_eq!(find(&s, "dev", "task-runner", 7).successful, 28);
    assert_eq!(find(&s, "dev", "task-runner", 90).successful, 300);
    assert_eq!(s.len(), 9, "3 service-environments x 3 windows");

    // A second collection with the same client revalidates with ETags: 304s, same answer.
    let before = gh.state().not_modified;
    let again = client
        .collect(REPO, None, "incident", NOW - 90 * D, &|_| {})
        .await
        .expect("collect again");
    assert!(
        gh.state().not_modified > before,
        "no 304 on the second collection"
    );
    assert_eq!(compute::compute(&again, NOW, &[7, 30, 90]), s);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_command_prints_json_and_a_table() {
    let gh = scripted(NOW).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_telemetry"))
            .args([
                "dora",
                "report",
                "--repo",
                REPO,
                "--now",
                "2026-06-30T00:00:00Z",
            ])
            .args(args)
            .env("GITHUB_API_URL", &gh.url)
            .env("GITHUB_TOKEN", TOKEN)
            .output()
            .expect("run telemetry")
    };
    let out = tokio::task::block_in_place(|| {
        run(&["--environment", "production", "--window", "30d", "--json"])
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 1, "only production: {json}");
    assert_eq!(rows[0]["service"], "api");
    assert_eq!(rows[0]["lead_time_p50_seconds"], 25_800);
    assert_eq!(rows[0]["levels"]["change_failure_rate"], "medium");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("deployments"),
        "progress on stderr"
    );

    let out = tokio::task::block_in_place(|| run(&["--window", "7d"]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        table.lines().any(|l| l.starts_with("api")
            && l.contains("production")
            && l.contains("3h10m / 1d0h10m elite")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("task-runner") && l.contains("4.00/day elite")),
        "{table}"
    );

    // A wrong token is a clear error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry"))
        .args(["dora", "report", "--repo", REPO])
        .env("GITHUB_API_URL", &gh.url)
        .env("GITHUB_TOKEN", "wrong")
        .output()
        .expect("run telemetry");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("GitHub rejected the token (401 Bad credentials)")
    );
}

#[tokio::test]
async fn every_dora_dashboard_panel_has_data_in_prometheus() {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let gh = scripted(now).await;
    let server = support::serve(
        REPO,
        &["--collect-interval", "300"],
        &[("GITHUB_API_URL", gh.url.as_str()), ("GITHUB_TOKEN", TOKEN)],
    )
    .await;
    // One delivery, so the deliveries counter exists (a ping is accepted and ignored).
    let ping = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.url))
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "ping-1")
        .header(
            "X-Hub-Signature-256",
            telemetry_cli::dora::webhook::sign(support::SECRET.as_bytes(), ping),
        )
        .body(ping.to_vec())
        .send()
        .await
        .expect("ping");
    assert_eq!(answer.status().as_u16(), 200);

    let dir = tempfile::tempdir().expect("tempdir");
    let prometheus = testkit::prometheus::Prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s}}\n\
             scrape_configs:\n\
             - {{job_name: dora, static_configs: [{{targets: ['{}']}}]}}\n",
            server.url.trim_start_matches("http://")
        ),
        &[],
    )
    .await;
    let dashboard = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../dashboards/task-platform/dora.json");
    let queries = testkit::prometheus::dashboard_queries(
        &dashboard,
        &[("service", ".*"), ("environment", ".*"), ("window", "30d")],
    );
    assert!(queries.len() >= 10, "only {} queries", queries.len());
    for (title, query) in queries {
        eprintln!("checking {title}: {query}");
        prometheus.assert_series(&query).await;
    }
}
