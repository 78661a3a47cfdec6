//! auth-service's events: every token-ending change is written to the
//! outbox with its durable record and relayed to the `AUTH` stream, once
//! each, even when a relay died between publishing and marking or several
//! relay at once. Against the machine's NATS server, a namespace per test.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::events::outbox::{Relay, RelaySettings, Wake};
use common::events::{AUTH_STREAM, Namespace, ensure_stream};
use common::testing::{delete_streams, nats_namespace, shared_nats_url, stream_events};
use reqwest::{Method, StatusCode};
use sqlx::PgPool;

use crate::support::{TestApp, spawn_with, test_settings};

/// Waits until the outbox holds no unsent row.
async fn relayed(app: &TestApp) {
    let started = Instant::now();
    loop {
        let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
        if unsent == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{unsent} never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn every_change_that_ends_tokens_is_published_once_in_a_versioned_envelope(pool: PgPool) {
    let (url, namespace) = (shared_nats_url(), nats_namespace());
    let settings = test_settings(&[
        ("NATS_URL", &url),
        ("NATS_NAMESPACE", &namespace),
        ("REFRESH_GRACE_SECONDS", "0"),
        ("OTP_RESEND_SECONDS", "0"),
        ("OTP_PER_NUMBER_HOUR", "100"),
    ]);
    let app = spawn_with(pool, settings).await;
    auth_service::events::start_relay(&app.state).await.unwrap();
    let admin = app.admin_token().await;

    let first = app.login_phone("+13128059861").await;
    let token = first["access_token"].as_str().unwrap();
    let logout = app
        .call(Method::POST, "/api/v1/auth/logout", token, None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    let phone = app.login_phone("+13128059861").await;
    let tablet = app.login_phone("+13128059861").await;
    let token = phone["access_token"].as_str().unwrap();
    let session = tablet["session_id"].as_str().unwrap();
    let path = format!("/api/v1/auth/sessions/{session}");
    let deleted = app.call(Method::DELETE, &path, token, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let old = phone["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(old).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(old).await.status(), StatusCode::UNAUTHORIZED);

    let again = app.login_phone("+13128059861").await;
    let token = again["access_token"].as_str().unwrap();
    let user_id = again["user"]["id"].as_i64().unwrap();
    let all = app
        .call(Method::POST, "/api/v1/auth/logout-all", token, None)
        .await;
    assert_eq!(all.status(), StatusCode::NO_CONTENT);

    for action in ["deactivate", "activate"] {
        let path = format!("/api/v1/admin/users/{user_id}/{action}");
        let answer = app.call(Method::POST, &path, &admin, None).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let last = app.login_phone("+13128059861").await;
    let token = last["access_token"].as_str().unwrap();
    let gone = app
        .call(Method::DELETE, "/api/v1/auth/me", token, None)
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    relayed(&app).await;
    let events = stream_events(&url, &namespace, "AUTH").await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|(subject, event)| {
            let reason = event["data"]["reason"].as_str().unwrap_or("");
            (subject.as_str(), reason)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("auth.session.ended", "logout"),
            ("auth.session.ended", "session_deleted"),
            ("auth.session.ended", "refresh_reuse"),
            ("auth.user.revoked", ""),
            ("auth.user.deactivated", ""),
            ("auth.user.activated", ""),
            ("auth.user.deleted", ""),
        ]
    );
    for (subject, event) in &events {
        assert_eq!(event["v"], 1);
        assert_eq!(event["type"].as_str().unwrap(), subject);
        assert!(event["id"].as_str().unwrap().len() == 36);
        assert_eq!(event["data"]["user_id"], user_id);
    }
    assert_eq!(
        events[0].1["data"]["session_ids"][0], first["session_id"],
        "the logout names its session"
    );
    delete_streams(&url, &namespace).await;
}

/// Writes `count` events straight into the outbox.
async fn fill_outbox(db: &PgPool, count: usize) {
    for n in 0..count {
        let event = common::events::Envelope::new(common::events::AuthEvent::UserActivated(
            common::events::UserRef {
                user_id: common::ids::UserId(n as i64),
            },
        ));
        common::events::outbox::enqueue(db, &event).await.unwrap();
    }
}

fn relay(db: &PgPool, client: &async_nats::Client, namespace: &str) -> Relay {
    Relay::new(
        db.clone(),
        client.clone(),
        Namespace::parse(namespace).unwrap(),
        AUTH_STREAM,
        Wake::default(),
        RelaySettings::default(),
    )
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_relay_that_died_after_publishing_and_relays_racing_send_each_event_once(pool: PgPool) {
    let (url, namespace) = (shared_nats_url(), nats_namespace());
    let client = async_nats::connect(&url).await.unwrap();
    let js = jetstream::new(client.clone());
    ensure_stream(&js, &Namespace::parse(&namespace).unwrap(), AUTH_STREAM, 1)
        .await
        .unwrap();
    fill_outbox(&pool, 500).await;

    // A relay died after publishing the first 120 but before marking them:
    // they are published, and still unsent in the outbox.
    let rows: Vec<(uuid::Uuid, String, String)> =
        sqlx::query_as("select event_id, subject, payload::text from outbox order by id limit 120")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (event_id, subject, payload) in rows {
        let publish = jetstream::message::PublishMessage::build()
            .message_id(event_id.to_string())
            .payload(payload.into_bytes().into());
        js.send_publish(format!("{namespace}.{subject}"), publish)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // Three replicas' relays take over at once.
    let relays: Vec<Relay> = (0..3).map(|_| relay(&pool, &client, &namespace)).collect();
    let passes = relays.iter().map(|relay| relay.pass());
    let published: usize = futures::future::try_join_all(passes)
        .await
        .unwrap()
        .into_iter()
        .sum();
    assert_eq!(published, 500, "each row claimed by one relay");

    let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    let mut stream = js.get_stream(format!("{namespace}_AUTH")).await.unwrap();
    let messages = stream.info().await.unwrap().state.messages;
    assert_eq!(messages, 500, "no loss, no duplicate");
    delete_streams(&url, &namespace).await;
}
