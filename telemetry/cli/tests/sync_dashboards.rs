//! `telemetry sync-dashboards` run as a process against the fake Managed Grafana control plane
//! (through aws-sdk-grafana, pointed at it by AWS_ENDPOINT_URL) and the fake Grafana HTTP API.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use testkit::grafana::{FakeGrafana, FakeManagedGrafana};

const MANAGED: &str = "managed-by:telemetry-sync-dashboards";

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output: {e}\n{}", self.stdout))
    }
}

async fn telemetry(args: &[&str], env: &[(&str, String)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_telemetry"))
        .args(args)
        .env_remove("GRAFANA_URL")
        .env_remove("GRAFANA_TOKEN")
        .env_remove("GITHUB_SHA")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("run telemetry");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A copy of the repository's dashboards plus a second, small folder.
fn dashboards() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    for folder in std::fs::read_dir(&repo).expect("dashboards/").flatten() {
        if !folder.path().is_dir() {
            continue;
        }
        let target = dir.path().join(folder.file_name());
        std::fs::create_dir_all(&target).expect("mkdir");
        for file in std::fs::read_dir(folder.path()).expect("folder").flatten() {
            std::fs::copy(file.path(), target.join(file.file_name())).expect("copy");
        }
    }
    write_small(dir.path(), "team-b", "small-one", "Small one");
    dir
}

fn write_small(root: &Path, folder: &str, uid: &str, title: &str) -> PathBuf {
    std::fs::create_dir_all(root.join(folder)).expect("mkdir");
    let path = root.join(folder).join(format!("{uid}.json"));
    let d = json!({"uid": uid, "title": title, "schemaVersion": 39, "tags": ["small"],
        "panels": [{"id": 1, "type": "timeseries", "title": "Up",
                    "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                    "targets": [{"refId": "A", "expr": "up"}]}]});
    std::fs::write(&path, serde_json::to_string_pretty(&d).expect("json")).expect("write");
    path
}

async fn managed() -> (FakeGrafana, FakeManagedGrafana) {
    let grafana = FakeGrafana::start().await;
    let control = FakeManagedGrafana::start(&grafana).await;
    // Three workspaces over two pages of ListWorkspaces; only one is dev's.
    control.add_workspace("g-stage0001", "stage");
    control.add_workspace("g-prod00001", "production");
    control.add_workspace("g-dev000001", "dev");
    (grafana, control)
}

fn sync_args(dir: &Path) -> Vec<String> {
    vec![
        "sync-dashboards".into(),
        "--workspace".into(),
        "dev".into(),
        "--dir".into(),
        dir.display().to_string(),
    ]
}

fn args(v: &[String], extra: &[&str]) -> Vec<String> {
    v.iter()
        .cloned()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

async fn sync(control: &FakeManagedGrafana, dir: &Path, extra: &[&str]) -> Run {
    let a = args(&sync_args(dir), extra);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    telemetry(&a, &control.env()).await
}

#[tokio::test]
async fn first_sync_creates_second_writes_nothing_and_the_token_is_deleted() {
    let (grafana, control) = managed().await;
    let dir = dashboards();
    let files = telemetry_cli::dashboards::source::load(dir.path()).expect("load");

    let first = sync(&control, dir.path(), &["--json"]).await;
    assert!(first.ok, "first sync failed: {}", first.stderr);
    let report = first.json();
    let actions: Vec<&str> = report["dashboards"]
        .as_array()
        .expect("dashboards")
        .iter()
        .map(|d| d["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, vec!["created"; files.len()], "{report}");
    assert!(
        first
            .stderr
            .contains(&format!("[{n}/{n}]", n = files.len())),
        "progress: {}",
        first.stderr
    );

    {
        let state = grafana.state();
        assert_eq!(
            state.folders.keys().collect::<Vec<_>>(),
            ["task-platform", "team-b"]
        );
        assert_eq!(state.folders["task-platform"], "Task platform");
        let app = &state.dashboards["task-platform-app-status"];
        assert_eq!(app.folder_uid, "task-platform");
        let text = app.json.to_string();
        assert!(!text.contains("${DS_"), "placeholders left: {text}");
        assert!(
            text.contains("\"amp-uid\"")
                && text.contains("\"xray-uid\"")
                && text.contains("\"cw-uid\"")
        );
        assert!(
            app.json["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .any(|t| t == MANAGED)
        );
    }
    // Every dashboard was saved with its folder's uid (none landed in General).
    assert!(
        grafana
            .state()
            .dashboards
            .values()
            .all(|d| !d.folder_uid.is_empty())
    );
    {
        let cs = control.state();
        assert_eq!(cs.tokens_created, 1);
        assert!(cs.tokens.is_empty(), "the token was not deleted");
        assert!(
            cs.tokens_ttl.iter().all(|ttl| (1..=3600).contains(ttl)),
            "{:?}",
            cs.tokens_ttl
        );
        assert_eq!(cs.service_accounts.len(), 1);
        assert_eq!(cs.service_accounts[0].3, "EDITOR");
    }

    grafana.clear_requests();
    let second = sync(&control, dir.path(), &["--json"]).await;
    assert!(second.ok, "second sync failed: {}", second.stderr);
    assert_eq!(grafana.writes(), vec![], "a no-op sync wrote");
    let report = second.json();
    assert_eq!(report["writes"], 0);
    assert!(
        report["dashboards"]
            .as_array()
            .expect("dashboards")
            .iter()
            .all(|d| d["action"] == "unchanged")
    );
    let cs = control.state();
    assert_eq!(
        (
            cs.tokens_created,
            cs.tokens.len(),
            cs.service_accounts.len()
        ),
        (2, 0, 1),
        "service account reused, token deleted"
    );
    assert!(
        grafana.state().dashboards.values().all(|d| d.version == 1),
        "no new versions"
    );
}

#[tokio::test]
async fn a_changed_file_updates_exactly_one_dashboard_and_dry_run_writes_nothing() {
    let (grafana, control) = managed().await;
    let dir = dashboards();
    assert!(sync(&control, dir.path(), &[]).await.ok);
    write_small(dir.path(), "team-b", "small-one", "Small one, renamed");

    grafana.clear_requests();
    let dry = sync(&control, dir.path(), &["--dry-run"]).await;
    assert!(dry.ok, "dry run failed: {}", dry.stderr);
    assert_eq!(grafana.writes(), vec![], "the dry run wrote");
    assert!(
        dry.stdout.contains("-  \"title\": \"Small one\"")
            && dry.stdout.contains("+  \"title\": \"Small one, renamed\""),
        "diff: {}",
        dry.stdout
    );
    assert!(dry.stderr.contains("would update"), "{}", dry.stderr);
    assert_eq!(
        grafana.state().dashboards["small-one"].json["title"],
        "Small one"
    );

    let real = sync(&control, dir.path(), &[]).await;
    assert!(real.ok, "{}", real.stderr);
    let writes = grafana.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].path.as_str(), writes[0].status),
        ("/api/dashboards/db", 200)
    );
    let state = grafana.state();
    assert_eq!(
        state.dashboards["small-one"].json["title"],
        "Small one, renamed"
    );
    assert_eq!(state.dashboards["small-one"].version, 2);
    assert_eq!(state.dashboards["task-platform-app-status"].version, 1);
}

#[tokio::test]
async fn prune_removes_only_managed_dashboards_that_left_the_repository() {
    let (grafana, control) = managed().await;
    let dir = dashboards();
    assert!(sync(&control, dir.path(), &[]).await.ok);
    std::fs::remove_file(dir.path().join("team-b/small-one.json")).expect("rm");
    grafana.put_dashboard(
        json!({"uid": "hand-made", "title": "Made in the UI", "tags": []}),
        "team-b",
    );

    let without = sync(&control, dir.path(), &[]).await;
    assert!(without.ok);
    assert!(
        grafana.state().dashboards.contains_key("small-one"),
        "deleted without --prune"
    );

    let dry = sync(&control, dir.path(), &["--prune", "--dry-run"]).await;
    assert!(
        dry.ok && dry.stderr.contains("would delete"),
        "{}",
        dry.stderr
    );
    assert!(grafana.state().dashboards.contains_key("small-one"));

    let pruned = sync(&control, dir.path(), &["--prune", "--json"]).await;
    assert!(pruned.ok, "{}", pruned.stderr);
    let deleted: Vec<Value> = pruned.json()["dashboards"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["action"] == "deleted")
        .map(|d| d["uid"].clone())
        .collect();
    assert_eq!(deleted, vec![json!("small-one")]);
    let state = grafana.state();
    assert!(!state.dashboards.contains_key("small-one"));
    assert!(
        state.dashboards.contains_key("hand-made"),
        "an unmanaged dashboard was pruned"
    );
    assert!(state.dashboards.contains_key("task-platform-app-status"));
}

#[tokio::test]
async fn the_token_is_deleted_after_a_failure() {
    let (grafana, control) = managed().await;
    let dir = dashboards();
    // A workspace without an X-Ray datasource: the sync must stop before writing anything.
    grafana
        .state()
        .datasources
        .retain(|d| d["type"] != "grafana-x-ray-datasource");
    let run = sync(&control, dir.path(), &[]).await;
    assert!(!run.ok, "a sync with an unresolvable placeholder succeeded");
    assert!(
        run.stderr.contains("DS_XRAY")
            && run
                .stderr
                .contains("no datasource of type grafana-x-ray-datasource"),
        "{}",
        run.stderr
    );
    assert_eq!(grafana.writes(), vec![]);
    let cs = control.state();
    assert_eq!(
        (cs.tokens_created, cs.tokens.len()),
        (1, 0),
        "token left behind after a failure"
    );
}

#[tokio::test]
async fn retries_429_and_5xx_and_explains_conflicts_and_auth_failures() {
    let (grafana, control) = managed().await;
    let dir = dashboards();
    grafana.state().faults.extend([
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
    ]);
    let run = sync(&control, dir.path(), &[]).await;
    assert!(run.ok, "did not retry: {}", run.stderr);
    let statuses: Vec<u16> = grafana
        .state()
        .requests
        .iter()
        .take(3)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 503, 200]);

    // Someone made a dashboard with the same title in the same folder: 412 name-exists.
    grafana.put_dashboard(
        json!({"uid": "someone-else", "title": "Small two"}),
        "team-b",
    );
    write_small(dir.path(), "team-b", "small-two", "Small two");
    let run = sync(&control, dir.path(), &[]).await;
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("another dashboard with this title already exists in folder team-b"),
        "{}",
        run.stderr
    );
    assert!(control.state().tokens.is_empty());

    // Any Grafana with a token from the environment; a wrong token is a clear error.
    let a = [
        "sync-dashboards",
        "--grafana-url",
        &grafana.url,
        "--dir",
        &dir.path().display().to_string(),
    ]
    .map(str::to_owned);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = telemetry(&a, &[("GRAFANA_TOKEN", "wrong".into())]).await;
    assert!(!run.ok);
    assert!(
        run.stderr.contains("rejected the token (401"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong"), "the token was printed");

    grafana.add_token("viewer-token", "Viewer");
    let run = telemetry(&a, &[("GRAFANA_TOKEN", "viewer-token".into())]).await;
    assert!(
        !run.ok && run.stderr.contains("needs the Editor or Admin role"),
        "{}",
        run.stderr
    );

    std::fs::remove_file(dir.path().join("team-b/small-two.json")).expect("rm");
    grafana.add_token("editor-token", "Editor");
    let run = telemetry(&a, &[("GRAFANA_TOKEN", "editor-token".into())]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 created, 0 updated"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_concurrent_save_is_a_412_that_names_the_dashboard() {
    use telemetry_cli::dashboards::grafana::{Grafana, GrafanaError};
    let grafana = FakeGrafana::start().await;
    grafana.add_token("t", "Editor");
    grafana.state().folders.insert("f".into(), "F".into());
    let client = Grafana::new(&grafana.url, "t".into());
    let d = json!({"uid": "d1", "title": "D1"});
    client.save(&d, None, "f", "first").await.expect("create");
    // Someone saves version 2 in the UI; a save based on version 1 must not overwrite it.
    grafana.put_dashboard(json!({"uid": "d1", "title": "D1 edited"}), "f");
    let err = client
        .save(&d, Some(1), "f", "stale")
        .await
        .expect_err("stale save");
    assert!(matches!(err, GrafanaError::Conflict(_)), "{err:?}");
    assert!(
        err.to_string().contains("d1")
            && err.to_string().contains("saved in Grafana by someone else"),
        "{err}"
    );
    assert_eq!(grafana.state().dashboards["d1"].json["title"], "D1 edited");
}

#[tokio::test]
async fn no_workspace_for_the_environment_is_a_clear_error() {
    let (_grafana, control) = managed().await;
    let dir = dashboards();
    let a = [
        "sync-dashboards",
        "--workspace",
        "qa",
        "--dir",
        &dir.path().display().to_string(),
    ];
    let run = telemetry(&a, &control.env()).await;
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("no Managed Grafana workspace is tagged task-platform:environment=qa"),
        "{}",
        run.stderr
    );
    let run = telemetry(
        &[
            "sync-dashboards",
            "--workspace",
            "dev",
            "--token-ttl",
            "7200",
        ],
        &control.env(),
    )
    .await;
    assert!(!run.ok);
}
