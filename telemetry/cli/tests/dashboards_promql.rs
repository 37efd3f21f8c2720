//! Every Prometheus query of every dashboard is valid PromQL: each is written into a rules file
//! as a recording rule, after template-variable substitution, and `promtool check rules` must
//! accept the file. (Whether each query returns data is checked against a real Prometheus by
//! services/stack/tests/alerting.rs and tests/dora_collect.rs.)

use std::{path::Path, process::Command};

#[test]
fn every_panel_query_is_valid_promql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let files = telemetry_cli::dashboards::source::load(&root).expect("dashboards load");
    let mut rules = String::from("groups:\n- name: dashboard-queries\n  rules:\n");
    let mut count = 0;
    for file in &files {
        // Every variable of the dashboard, replaced by a value Grafana could send.
        let values: Vec<(String, String)> = file.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let name = v["name"].as_str()?.to_owned();
                let first = v["query"].as_str()?.split(',').next()?.to_owned();
                Some((name, first))
            })
            .collect();
        let values: Vec<(&str, &str)> = values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        for (title, query) in
            testkit::prometheus::dashboard_queries(&root.join(&file.path), &values)
        {
            count += 1;
            rules.push_str(&format!(
                "  # {}: {title}\n  - record: dashboard_query_{count}\n    expr: {}\n",
                file.path,
                serde_json::to_string(&query).expect("quote")
            ));
        }
    }
    assert!(count >= 20, "only {count} queries found");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.yml");
    std::fs::write(&path, &rules).expect("write rules");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is missing ({e}); install it with: apt-get install -y prometheus")
        });
    assert!(
        out.status.success(),
        "promtool rejected a dashboard query:\n{}{}\n---\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
