use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Stack, expect_problem, read, spawn};

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn markets_are_listed(pool: PgPool) {
    let stack = spawn(pool).await;
    let (status, body) = read(
        stack
            .client
            .get(stack.url("/api/v1/markets"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["eu", "in", "us"]);
    assert_eq!(
        body["items"][2],
        json!({"code": "us", "currency": "USD", "name": "United States"})
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_storefront_counts_and_pages_only_its_first_thousand_matches(pool: PgPool) {
    let stack = spawn(pool.clone()).await;
    // 1,200 products priced in "us", named "lamp N"; one in three is "red".
    priced_products(
        &pool,
        1200,
        "lamp",
        "case when n % 3 = 0 then 'red lamp ' else 'lamp ' end || n",
    )
    .await;
    let (_, all) = storefront(&stack, "").await;
    assert_eq!(
        (&all["total"], &all["total_exact"]),
        (&json!(1000), &json!(false)),
        "more than the window match: the total says at least 1000"
    );
    let (_, red) = storefront(&stack, "?q=red").await;
    assert_eq!(
        (&red["total"], &red["total_exact"]),
        (&json!(400), &json!(true))
    );
    // The window's last page is served, newest first as ever.
    let (status, last) = storefront(&stack, "?page=10&per_page=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last["items"].as_array().map(Vec::len), Some(100));
    assert_eq!(last["items"][99]["slug"], "lamp-201");
    // A page reaching past it is refused, whatever the catalog holds.
    for past in ["?page=11&per_page=100", "?page=51", "?q=red&page=51"] {
        let (status, problem) = storefront(&stack, past).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{past}");
        assert_eq!(problem["code"], "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "page");
    }
    // Counting stops at the window, so the admin's list stays exact.
    let admin = stack.admin_token().await;
    let (_, admin_list) = read(stack.get("/api/v1/admin/products", &admin).await).await;
    assert_eq!(admin_list["total"], 1200);
    assert!(admin_list.get("total_exact").is_none());
}

/// A search's best plan depends on its word (a common one: read the newest
/// products; a rare one: the trigram index), and a prepared statement may
/// settle on one generic plan after five runs, after which a search for a
/// word no name has read every product. So searches are never prepared,
/// while the plain list is.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn searches_are_planned_for_their_own_word_every_time(pool: PgPool) {
    let stack = spawn(pool.clone()).await;
    priced_products(
        &pool,
        400,
        "mug",
        "case when n % 20 = 0 then 'kettle ' else 'mug ' end || n",
    )
    .await;
    for _ in 0..10 {
        let (status, page) = storefront(&stack, "?q=mug").await;
        assert_eq!((status, &page["total"]), (StatusCode::OK, &json!(380)));
        let (_, listed) = storefront(&stack, "").await;
        assert_eq!(listed["total"], 400);
    }
    let (_, rare) = storefront(&stack, "?q=kettle").await;
    assert_eq!(rare["total"], 20);
    let (_, none) = storefront(&stack, "?q=xylophone").await;
    assert_eq!((&none["total"], &none["items"]), (&json!(0), &json!([])));

    // Every connection the service used, each asked what it has prepared.
    let mut connections = Vec::new();
    for _ in 0..pool.size() {
        connections.push(pool.acquire().await.unwrap());
    }
    let (mut searches, mut lists) = (0, 0);
    for connection in &mut connections {
        let prepared: Vec<String> =
            sqlx::query_scalar("select statement from pg_prepared_statements")
                .fetch_all(&mut **connection)
                .await
                .unwrap();
        searches += prepared
            .iter()
            .filter(|s| s.contains("p.name ilike $2"))
            .count();
        lists += prepared
            .iter()
            .filter(|s| s.contains("with listed as materialized"))
            .count();
    }
    assert_eq!(searches, 0, "a search was prepared");
    assert!(lists >= 1, "the plain list is prepared once per connection");
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn products_are_listed_per_market_searched_and_paged(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let shirt = stack
        .create_item(&admin, "red-shirt", 0, json!({"us": 1999, "eu": 1799}))
        .await;
    let hat = stack
        .create_item(&admin, "blue-hat", 3, json!({"us": 999}))
        .await;
    let retired = stack
        .create_item(&admin, "old-shirt", 3, json!({"us": 999}))
        .await;
    stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", retired.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;

    let list = |query: &'static str, market: &'static str| {
        stack
            .client
            .get(stack.url(&format!("/api/v1/products{query}")))
            .header("x-market", market)
            .send()
    };
    let (status, us) = read(list("", "us").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(us["total"], 2);
    assert_eq!(us["total_exact"], true);
    assert_eq!(us["items"][0]["id"], hat.product_id, "newest first");
    let sku = &us["items"][1]["skus"][0];
    assert_eq!(
        sku["price"],
        json!({"amount_minor": 1999, "currency": "USD"})
    );
    assert_eq!(sku["in_stock"], false);
    assert_eq!(sku["attributes"], json!({"size": "M"}));

    let (_, eu) = read(list("", "eu").await.unwrap()).await;
    assert_eq!(eu["total"], 1);
    assert_eq!(
        eu["items"][0]["skus"][0]["price"],
        json!({"amount_minor": 1799, "currency": "EUR"})
    );

    let (_, found) = read(list("?q=SHIRT", "us").await.unwrap()).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], shirt.product_id);
    let (_, none) = read(list("?q=%25", "us").await.unwrap()).await;
    assert_eq!(none["total"], 0, "wildcards are escaped");

    let (_, paged) = read(list("?per_page=1&page=2", "us").await.unwrap()).await;
    assert_eq!(
        (
            paged["page"].as_i64(),
            paged["per_page"].as_i64(),
            paged["total"].as_i64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(paged["items"][0]["id"], shirt.product_id);
    let (_, past_the_end) = read(list("?per_page=1&page=5", "us").await.unwrap()).await;
    assert_eq!(
        (&past_the_end["items"], &past_the_end["total"]),
        (&json!([]), &json!(2)),
        "a page past the end still tells the total"
    );
    let (_, clamped) = read(list("?per_page=1000", "us").await.unwrap()).await;
    assert_eq!(clamped["per_page"], 100);
    for bad in ["?page=0", "?per_page=-1", "?page=two"] {
        expect_problem(list(bad, "us").await.unwrap(), 422, "validation_failed").await;
    }
    let long = format!("?q={}", "x".repeat(101));
    let response = stack
        .client
        .get(stack.url(&format!("/api/v1/products{long}")))
        .send()
        .await
        .unwrap();
    expect_problem(response, 422, "validation_failed").await;
    expect_problem(list("", "mars").await.unwrap(), 400, "unknown_market").await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_product_is_found_only_when_active_and_priced_in_the_market(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "lamp", 2, json!({"us": 4500}))
        .await;
    let path = format!("/api/v1/products/{}", item.product_id);
    // The catalog ignores tokens, even broken ones, and defaults to `us`.
    let response = stack
        .client
        .get(stack.url(&path))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    let (status, product) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product["slug"], "lamp");
    assert_eq!(product["skus"][0]["in_stock"], true);
    let in_india = stack
        .client
        .get(stack.url(&path))
        .header("x-market", "in")
        .send()
        .await
        .unwrap();
    expect_problem(in_india, 404, "not_found").await;
    for missing in [
        "/api/v1/products/999999",
        "/api/v1/products/0",
        "/api/v1/products/x",
    ] {
        expect_problem(
            stack.client.get(stack.url(missing)).send().await.unwrap(),
            404,
            "not_found",
        )
        .await;
    }
    stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", item.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;
    expect_problem(
        stack.client.get(stack.url(&path)).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn catalog_answers_are_cacheable_and_revalidate_with_304(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1200, "eu": 1100}))
        .await;
    let fetch = |path: String, market: &'static str, tag: Option<String>| {
        let mut request = stack
            .client
            .get(stack.url(&path))
            .header("x-market", market);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };
    for path in [
        format!("/api/v1/products/{}", item.product_id),
        "/api/v1/products?per_page=5".to_owned(),
    ] {
        let first = fetch(path.clone(), "us", None).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let headers = first.headers().clone();
        let tag = headers["etag"].to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=1, stale-while-revalidate=5"
        );
        assert_eq!(headers["vary"], "X-Market");
        assert_eq!(headers["content-type"], "application/json");
        let body = first.text().await.unwrap();
        assert!(body.contains("1200"), "{body}");

        // The same answer, asked again with its tag: 304, no body; the
        // same tag again (every replica computes it alike).
        let again = fetch(path.clone(), "us", Some(tag.clone())).await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
        assert_eq!(again.text().await.unwrap(), "");
        let weak = fetch(path.clone(), "us", Some(format!("\"other\", W/{tag}")))
            .await
            .unwrap();
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
        // Another market is another answer.
        let eu = fetch(path.clone(), "eu", Some(tag.clone())).await.unwrap();
        assert_eq!(eu.status(), StatusCode::OK);
        assert_ne!(eu.headers()["etag"].to_str().unwrap(), tag);
        // A garbage header is ignored: the whole answer.
        let garbage = fetch(path.clone(), "us", Some("not a tag".to_owned()))
            .await
            .unwrap();
        assert_eq!(garbage.status(), StatusCode::OK);
    }

    // A price change is a new answer: the old tag gets the new price.
    let product_path = format!("/api/v1/products/{}", item.product_id);
    let old = fetch(product_path.clone(), "us", None).await.unwrap();
    let old_tag = old.headers()["etag"].to_str().unwrap().to_owned();
    let response = stack
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}/prices/us", item.sku_id),
            &admin,
            Some(json!({"amount_minor": 1500})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh = fetch(product_path, "us", Some(old_tag.clone()))
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), old_tag);
    let (_, product) = read(fresh).await;
    assert_eq!(product["skus"][0]["price"]["amount_minor"], 1500);
    // Errors are not cacheable answers.
    let missing = fetch("/api/v1/products/999999".to_owned(), "us", None)
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get("etag").is_none());
}

/// `count` products priced in "us" (one SKU each), slugs `{slug}-N`, each
/// named by `name`, an SQL expression of `n`.
async fn priced_products(pool: &PgPool, count: i32, slug: &str, name: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "with made as (
             insert into products (slug, name)
             select '{slug}-' || n, {name}
             from generate_series(1, {count}) n returning id, slug),
         skus_made as (insert into skus (product_id, code, stock) select id, slug, 5 from made returning id)
         insert into prices (sku_id, market, amount_minor) select id, 'us', 100 from skus_made"
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// The storefront's list in "us" with `query`, as a shopper's app asks.
async fn storefront(stack: &Stack, query: &str) -> (StatusCode, Value) {
    read(
        stack
            .client
            .get(stack.url(&format!("/api/v1/products{query}")))
            .header("x-market", "us")
            .send()
            .await
            .unwrap(),
    )
    .await
}
