use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_while_the_database_is_up() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn readyz_fails_but_healthz_answers_when_the_database_is_down() {
    let app = spawn_app().await;
    let crate::helpers::TestApp { address, client, cluster, .. } = app;
    cluster.stop().unwrap();
    let readyz = client.get(format!("{address}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
    let healthz = client.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
}
