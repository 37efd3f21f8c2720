//! Health routes, unknown routes and methods, the page.

use crate::helpers::TestApp;

async fn health_routes_answer(app: TestApp) {
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);
    let original = app.get("/health-check").await;
    assert_eq!((original.status, original.text.as_str()), (200, "OK"));
}

async fn unknown_routes_and_methods_get_json_errors(app: TestApp) {
    let unknown = app.get("/api/nothing-here").await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let wrong_method = app
        .client
        .put(app.url("/api/tasks"))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_method.status().as_u16(), 405);
    let body: serde_json::Value = wrong_method.json().await.expect("json");
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

async fn the_page_is_served_at_the_root(app: TestApp) {
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<html"), "{}", page.text);
}

both_backends!(
    health_routes_answer,
    unknown_routes_and_methods_get_json_errors,
    the_page_is_served_at_the_root
);
