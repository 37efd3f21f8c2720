//! The ADOT collector configuration the ECS task definitions mount (`telemetry/adot/collector.yaml`):
//! every pipeline uses only components that are defined, every defined component is used, and the
//! pipelines send what DESIGN.md says where it says.

use serde_norway::Value;

fn config() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/adot/collector.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("read collector.yaml"))
        .expect("valid YAML")
}

fn names(section: &Value) -> Vec<String> {
    section
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_pipeline_references_defined_components_and_nothing_is_unused() {
    let c = config();
    let pipelines = c["service"]["pipelines"].as_mapping().expect("pipelines");
    let mut used = std::collections::BTreeSet::new();
    for (name, p) in pipelines {
        for kind in ["receivers", "processors", "exporters"] {
            let defined = names(&c[kind]);
            for component in list(&p[kind]) {
                assert!(
                    defined.contains(&component),
                    "pipeline {name:?} uses undefined {kind} {component}"
                );
                used.insert((kind, component));
            }
        }
        assert!(
            !list(&p["receivers"]).is_empty() && !list(&p["exporters"]).is_empty(),
            "{name:?} is complete"
        );
    }
    for kind in ["receivers", "processors", "exporters"] {
        for component in names(&c[kind]) {
            assert!(
                used.contains(&(kind, component.clone())),
                "{kind} {component} is defined but unused"
            );
        }
    }
    for ext in list(&c["service"]["extensions"]) {
        assert!(
            names(&c["extensions"]).contains(&ext),
            "extension {ext} is not defined"
        );
    }
}

#[test]
fn traces_go_to_xray_and_metrics_to_managed_prometheus_with_sigv4() {
    let c = config();
    let traces = &c["service"]["pipelines"]["traces"];
    let metrics = &c["service"]["pipelines"]["metrics"];
    assert_eq!(list(&traces["receivers"]), ["otlp"]);
    assert_eq!(list(&traces["exporters"]), ["awsxray"]);
    assert_eq!(list(&metrics["receivers"]), ["prometheus"]);
    assert_eq!(list(&metrics["exporters"]), ["prometheusremotewrite"]);
    assert_eq!(
        c["exporters"]["prometheusremotewrite"]["auth"]["authenticator"].as_str(),
        Some("sigv4auth")
    );
    assert_eq!(
        c["extensions"]["sigv4auth"]["service"].as_str(),
        Some("aps")
    );
    // The memory limiter must come first in every pipeline to protect the task.
    for p in [traces, metrics] {
        assert_eq!(
            list(&p["processors"]).first().map(String::as_str),
            Some("memory_limiter")
        );
        assert!(list(&p["processors"]).contains(&"resourcedetection".to_owned()));
    }
    assert!(list(&c["processors"]["resourcedetection"]["detectors"]).contains(&"ecs".to_owned()));
    // The app exports OTLP/HTTP to localhost:4318 (the task definition's endpoint); gRPC, its
    // other protocol, on 4317.
    assert_eq!(
        c["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as_str(),
        Some("127.0.0.1:4318")
    );
    assert_eq!(
        c["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].as_str(),
        Some("127.0.0.1:4317")
    );
}
