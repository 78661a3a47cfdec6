use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{
    access, expect_problem, read, refresh_token, spawn, spawn_with, test_settings,
};

const PHONE: &str = "+13128059851";

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn admin_routes_refuse_customers_and_anonymous_callers(pool: PgPool) {
    let app = spawn(pool).await;
    let customer = app.login_phone(PHONE).await;
    let routes = [
        (Method::GET, "/api/v1/admin/users"),
        (Method::POST, "/api/v1/admin/users"),
        (Method::POST, "/api/v1/admin/users/1/deactivate"),
        (Method::POST, "/api/v1/admin/users/1/activate"),
        (Method::GET, "/api/v1/admin/users/1"),
        (Method::GET, "/api/v1/admin/users/1/sessions"),
        (
            Method::DELETE,
            "/api/v1/admin/users/1/sessions/00000000-0000-4000-8000-000000000000",
        ),
    ];
    for (method, path) in routes {
        let body = (method == Method::POST)
            .then(|| json!({"email": "x@example.com", "password": "long-enough", "role": "admin"}));
        expect_problem(
            app.call(method.clone(), path, access(&customer), body)
                .await,
            403,
            "forbidden",
        )
        .await;
        let anonymous = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        expect_problem(anonymous, 401, "missing_token").await;
    }
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn admins_create_search_and_page_users(pool: PgPool) {
    let app = spawn(pool).await;
    let admin = app.admin_token().await;
    let create =
        |email: &str| json!({"email": email, "password": "a-long-password", "role": "customer"});
    let (status, user) = read(
        app.call(
            Method::POST,
            "/api/v1/admin/users",
            &admin,
            Some(create("Clerk@Example.com")),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "clerk@example.com");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["is_active"], true);
    expect_problem(
        app.call(
            Method::POST,
            "/api/v1/admin/users",
            &admin,
            Some(create("CLERK@example.com")),
        )
        .await,
        409,
        "email_taken",
    )
    .await;
    let invalid = app
        .call(
            Method::POST,
            "/api/v1/admin/users",
            &admin,
            Some(json!({"email": "nope", "password": "short", "role": "boss"})),
        )
        .await;
    let body = expect_problem(invalid, 422, "validation_failed").await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password", "role"]);

    app.login_phone(PHONE).await;
    let (_, found) = read(
        app.call(
            Method::GET,
            "/api/v1/admin/users?email=CLERK%40example.com",
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], user["id"]);
    let (_, found) = read(
        app.call(
            Method::GET,
            "/api/v1/admin/users?phone=%2B1%20312%20805%209851",
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["phone"], PHONE);
    let (_, page) = read(
        app.call(
            Method::GET,
            "/api/v1/admin/users?per_page=1&page=2",
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["total"], 3);
    assert_eq!(
        (page["page"].as_i64(), page["per_page"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    expect_problem(
        app.call(Method::GET, "/api/v1/admin/users?per_page=0", &admin, None)
            .await,
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.call(Method::GET, "/api/v1/admin/users?page=x", &admin, None)
            .await,
        422,
        "validation_failed",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn deactivation_ends_every_session_and_activation_lets_the_user_log_in_again(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("OTP_RESEND_SECONDS", "0")])).await;
    let admin = app.admin_token().await;
    let pair = app.login_phone(PHONE).await;
    let id = pair["user"]["id"].as_i64().unwrap();

    let (status, user) = read(
        app.call(
            Method::POST,
            &format!("/api/v1/admin/users/{id}/deactivate"),
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["is_active"], false);
    let status = app.status_of(&pair).await;
    assert_eq!(
        status,
        json!({"active": false, "reason": "user_inactive", "user_active": false})
    );
    expect_problem(app.me(access(&pair)).await, 401, "user_inactive").await;
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "user_inactive",
    )
    .await;
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    expect_problem(app.verify_code(PHONE, &code).await, 401, "user_inactive").await;

    let (status, user) = read(
        app.call(
            Method::POST,
            &format!("/api/v1/admin/users/{id}/activate"),
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["is_active"], true);
    // Old sessions stay ended; a new login works.
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;
    expect_problem(app.me(access(&pair)).await, 401, "token_revoked").await;
    let again = app.login_phone(PHONE).await;
    assert_eq!(again["user"]["id"], id);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn unknown_and_malformed_user_ids_are_404(pool: PgPool) {
    let app = spawn(pool).await;
    let admin = app.admin_token().await;
    for path in [
        "/api/v1/admin/users/999999/deactivate",
        "/api/v1/admin/users/0/activate",
        "/api/v1/admin/users/abc/activate",
        "/api/v1/admin/users/-4/deactivate",
    ] {
        expect_problem(
            app.call(Method::POST, path, &admin, None).await,
            404,
            "not_found",
        )
        .await;
    }
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn admins_see_a_users_sessions_and_end_one_at_once(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("OTP_RESEND_SECONDS", "0")])).await;
    let admin = app.admin_token().await;
    let phone_one = app.login_phone(PHONE).await;
    let phone_two = app.login_phone(PHONE).await;
    let user_id = phone_one["user"]["id"].as_i64().unwrap();

    let (status, user) = read(
        app.call(
            Method::GET,
            &format!("/api/v1/admin/users/{user_id}"),
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["phone"], PHONE);
    expect_problem(
        app.call(Method::GET, "/api/v1/admin/users/999999", &admin, None)
            .await,
        404,
        "not_found",
    )
    .await;

    let sessions_path = format!("/api/v1/admin/users/{user_id}/sessions");
    let (status, list) = read(app.call(Method::GET, &sessions_path, &admin, None).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(ids.contains(&phone_one["session_id"].as_str().unwrap()));
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["current"] == false)
    );

    let ended = phone_one["session_id"].as_str().unwrap();
    let response = app
        .call(
            Method::DELETE,
            &format!("{sessions_path}/{ended}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // That phone is logged out at once; the other session goes on.
    expect_problem(app.me(access(&phone_one)).await, 401, "token_revoked").await;
    expect_problem(
        app.refresh(refresh_token(&phone_one)).await,
        401,
        "refresh_invalid",
    )
    .await;
    assert_eq!(app.me(access(&phone_two)).await.status(), StatusCode::OK);
    let (_, list) = read(app.call(Method::GET, &sessions_path, &admin, None).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // Ending it again, or another user's session through this user, is 404.
    expect_problem(
        app.call(
            Method::DELETE,
            &format!("{sessions_path}/{ended}"),
            &admin,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let admin_user = crate::support::claims_of(&admin)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = phone_two["session_id"].as_str().unwrap();
    expect_problem(
        app.call(
            Method::DELETE,
            &format!("/api/v1/admin/users/{admin_user}/sessions/{other}"),
            &admin,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.me(access(&phone_two)).await.status(), StatusCode::OK);
    expect_problem(
        app.call(
            Method::GET,
            "/api/v1/admin/users/999999/sessions",
            &admin,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}
