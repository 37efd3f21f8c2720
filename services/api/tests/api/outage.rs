//! A backend outage, caused for real: the API's own moto server is stopped, then started again.

use serde_json::json;

use crate::helpers::launch_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_outage_gives_503_with_retry_after_and_the_api_recovers() {
    let mut moto = testkit::OwnMoto::start();
    let name = format!("outage{}", uuid::Uuid::new_v4().simple());
    let resources = moto.create_resources(&name, 3).await;
    let app = launch_on(resources).await;
    assert_eq!(
        app.post_tasks(&json!({"kind": "cpu", "intensity": "light"}))
            .await
            .status,
        202
    );

    moto.stop();

    let down = app
        .post_tasks(&json!({"kind": "cpu", "intensity": "light"}))
        .await;
    assert_eq!(
        (down.status, down.code()),
        (503, "unavailable"),
        "{}",
        down.text
    );
    assert_eq!(
        down.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(app.get("/api/stats").await.status, 503);
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "liveness does not depend on backends"
    );

    moto.restart();
    // A restarted moto is empty: recreate the same queue and table, as a recovered AWS region
    // would still have them.
    moto.create_resources(&name, 3).await;

    assert_eq!(app.get("/readyz").await.status, 200);
    let up = app
        .post_tasks(&json!({"kind": "cpu", "intensity": "light"}))
        .await;
    assert_eq!(up.status, 202, "{}", up.text);
}
