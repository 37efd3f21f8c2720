//! The served OpenAPI document matches the routes, and no generated input gets a 5xx.

use proptest::{
    prelude::*,
    strategy::{Strategy, ValueTree},
    test_runner::TestRunner,
};
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn the_openapi_document_describes_the_real_routes(app: TestApp) {
    let doc = app.get("/api/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"].as_str().unwrap_or("").starts_with("3."),
        "OpenAPI 3"
    );
    let paths = doc.body["paths"].as_object().expect("paths");
    for expected in [
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/create",
        "/api/tasks/all",
        "/api/stats",
        "/api/dead-letters/redrive",
        "/healthz",
        "/readyz",
        "/health-check",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }

    for (path, item) in paths {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in item.as_object().expect("path item").keys() {
            let request = match method.as_str() {
                "get" => app.client.get(app.url(&concrete)),
                "post" => app
                    .client
                    .post(app.url(&concrete))
                    .header("content-type", "application/json")
                    .body("{}"),
                "delete" => app.client.delete(app.url(&concrete)),
                other => panic!("undocumented method {other}"),
            };
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let no_route = status == 405
                || body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route"));
            assert!(
                !no_route,
                "{method} {path} is documented but not routed ({status})"
            );
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z]{0,8}".prop_map(Value::String),
        prop_oneof![
            Just("cpu"),
            Just("ram"),
            Just("light"),
            Just("average"),
            Just("intense")
        ]
        .prop_map(|s| json!(s)),
        (0u64..2000).prop_map(|n| json!(n)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("kind".to_owned()),
                    Just("intensity".to_owned()),
                    Just("fail_percent".to_owned()),
                    Just("count".to_owned()),
                    "[a-z_]{1,6}"
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Entries that are valid or one mistake away from it.
fn near_valid_entry() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("cpu"), Just("ram"), Just("gpu")],
        prop_oneof![
            Just("light"),
            Just("average"),
            Just("intense"),
            Just("LIGHT")
        ],
        prop::option::of(0u64..=120),
        prop::option::of(0u64..=3),
    )
        .prop_map(|(kind, intensity, fail, count)| {
            let mut entry = json!({"kind": kind, "intensity": intensity});
            if let Some(f) = fail {
                entry["fail_percent"] = json!(f);
            }
            if let Some(c) = count {
                entry["count"] = json!(c);
            }
            entry
        })
}

async fn no_generated_body_gets_a_5xx(app: TestApp) {
    let mut runner = TestRunner::deterministic();
    let strategy = prop_oneof![
        json_value(),
        near_valid_entry(),
        prop::collection::vec(near_valid_entry(), 1..4).prop_map(Value::Array),
    ];
    let mut accepted = 0;
    for _ in 0..300 {
        let value = strategy.new_tree(&mut runner).expect("generate").current();
        let answer = app.post_tasks(&value).await;
        assert!(
            answer.status < 500,
            "{value} -> {} {}",
            answer.status,
            answer.text
        );
        assert!(
            matches!(answer.status, 202 | 400 | 413),
            "{value} -> {}",
            answer.status
        );
        if answer.status == 202 {
            accepted += 1;
        } else {
            assert!(!answer.code().is_empty(), "{value}: error code");
        }
    }
    // Raw bytes that are not JSON at all.
    let bytes = prop::collection::vec(any::<u8>(), 0..200);
    for _ in 0..100 {
        let body = bytes.new_tree(&mut runner).expect("generate").current();
        let answer = app.post_raw("/api/tasks", "application/json", body).await;
        assert!(answer.status < 500, "raw bytes -> {}", answer.status);
    }
    assert!(
        accepted > 0,
        "the generator also produces valid submissions"
    );
}

both_backends!(
    the_openapi_document_describes_the_real_routes,
    no_generated_body_gets_a_5xx
);
