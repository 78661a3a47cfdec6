//! The schema during a rollout: migrations as their own step, an old
//! replica meeting a newer schema, a new replica meeting an older one.

use std::borrow::Cow;

use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// This build's migrations without the newest: the build before it.
fn previous_build() -> Migrator {
    let all = &auth_service::MIGRATOR;
    Migrator {
        migrations: Cow::Owned(all.migrations[..all.migrations.len() - 1].to_vec()),
        ignore_missing: false,
        locking: all.locking,
        no_tx: all.no_tx,
        table_name: all.table_name.clone(),
        create_schemas: all.create_schemas.clone(),
    }
}

#[sqlx::test(migrations = false)]
async fn a_replica_that_does_not_migrate_refuses_a_schema_it_cannot_run_on(pool: PgPool) {
    // Nothing applied yet.
    let error = common::db::ensure_migrated(&auth_service::MIGRATOR, &pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("`migrate` step"), "{error}");
    // The previous build's schema lacks this build's newest migration.
    common::db::migrate(&previous_build(), &pool).await.unwrap();
    let error = common::db::ensure_migrated(&auth_service::MIGRATOR, &pool)
        .await
        .unwrap_err()
        .to_string();
    let newest = auth_service::MIGRATOR.migrations.last().unwrap().version;
    assert!(error.contains(&newest.to_string()), "{error}");
    // The migrate step brings it up; now this build serves.
    auth_service::cli::migrate(&pool).await.unwrap();
    common::db::ensure_migrated(&auth_service::MIGRATOR, &pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn an_old_replica_restarting_mid_rollout_accepts_the_newer_schema(pool: PgPool) {
    // The database already holds this build's newest migration; the
    // previous build, restarting, migrates (nothing to do) and checks.
    common::db::migrate(&previous_build(), &pool).await.unwrap();
    common::db::ensure_migrated(&previous_build(), &pool)
        .await
        .unwrap();
}
