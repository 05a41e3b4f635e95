//! What a list request with more than one thing wrong is told: the filter first, then the
//! sort, then the cursor, as before the store took over compiling them.

use crate::common::Server;

#[tokio::test]
async fn a_bad_filter_is_reported_before_a_bad_sort_or_cursor() {
    let s = Server::start().await;
    let bad_filter = "filter=nosuch%20eq%20%22x%22";
    s.get(&format!("/Users?{bad_filter}&sortBy=nosuch&cursor=garbage"))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.get(&format!(
        "/Groups?{bad_filter}&sortBy=nosuch&cursor=garbage"
    ))
    .await
    .assert_error(400, Some("invalidFilter"));
    // A bad sort comes before a bad cursor.
    let sorted = s.get("/Users?sortBy=nosuch&cursor=garbage").await;
    assert_eq!(sorted.status, 400, "{}", sorted.text);
    assert_ne!(
        sorted.json()["scimType"],
        "invalidCursor",
        "{}",
        sorted.text
    );
    // With both fine, the cursor is what is wrong.
    s.get("/Users?cursor=garbage")
        .await
        .assert_error(400, Some("invalidCursor"));
}
