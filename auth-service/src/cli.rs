//! The subcommands of the binary besides serving: `migrate`, `keygen` and
//! `create-admin`.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use common::claims::Role;
use common::ids::UserId;

use sqlx::PgPool;

use crate::accounts::Accounts;
use crate::accounts::email::{normalize_email, password_problem};
use crate::accounts::users;
use crate::config::Settings;
use crate::store::RedisStore;

/// Applies pending migrations of the users database.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    common::db::migrate(&crate::MIGRATOR, db).await
}

/// Before serving: migrates (`MIGRATE_ON_START`, the default), or, where
/// migrations run as their own step, refuses to serve a database that
/// lacks one this build needs.
pub async fn prepare_schema(db: &PgPool, migrate_on_start: bool) -> anyhow::Result<()> {
    if migrate_on_start {
        migrate(db).await
    } else {
        common::db::ensure_migrated(&crate::MIGRATOR, db).await
    }
}

/// Refuses to serve in production on a Redis that may evict keys (an
/// evicted session index would make a logout-all miss live sessions);
/// elsewhere warns. A Redis that cannot be asked now is checked by
/// readiness later.
pub async fn check_eviction_policy(store: &RedisStore, settings: &Settings) -> anyhow::Result<()> {
    match store.eviction_policy().await {
        Ok(Some(policy)) if policy != "noeviction" => {
            if settings.app_env.is_production() {
                bail!(
                    "Redis's maxmemory-policy is {policy}: set it to noeviction (APP_ENV=production refuses to run where sessions can be evicted)"
                );
            }
            tracing::warn!(%policy, "Redis's maxmemory-policy is not noeviction: sessions can be evicted; readiness reports not ready");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "could not read Redis's maxmemory-policy at start; readiness checks it");
        }
    }
    Ok(())
}

/// Creates an admin account; the password comes from `ADMIN_PASSWORD` or,
/// when that is unset, from stdin. With `if_missing`, an existing account
/// is success.
pub async fn create_admin(
    db: &PgPool,
    accounts: &Accounts,
    email: &str,
    if_missing: bool,
) -> anyhow::Result<()> {
    migrate(db).await?;
    let email = normalize_email(email).context("--email is not an email address")?;
    if users::find_by_email(db, &email).await?.is_some() {
        if if_missing {
            println!("admin {email} already exists");
            return Ok(());
        }
        bail!("an account with email {email} already exists");
    }
    let password = match std::env::var("ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the password from stdin")?;
            input.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let id = create_admin_account(accounts, &email, &password).await?;
    println!("admin {email} created with id {id}");
    Ok(())
}

/// The first admin of a new deployment (there is no HTTP route for it: an
/// admin creates the others). Returns the new user's id.
pub async fn create_admin_account(
    accounts: &Accounts,
    email: &str,
    password: &str,
) -> anyhow::Result<UserId> {
    let email = normalize_email(email).context("not an email address")?;
    if let Some(problem) = password_problem(password) {
        bail!("the password {problem}");
    }
    let row = accounts
        .create_with_password(&email, password, Role::Admin)
        .await
        .map_err(|error| anyhow::anyhow!("creating the admin: {error}"))?;
    Ok(row.id)
}

/// Writes a new Ed25519 key pair as `DIR/KID.pem` (signing, for
/// `JWT_SIGNING_KEYS`, mode 0600) and `PUBLIC_DIR/KID.pub.pem` (for
/// `JWT_VERIFY_KEYS`), unless the private key file exists already. Two
/// directories, so that commerce-service can be given the public key
/// without ever seeing the private one.
pub fn keygen(dir: &Path, public_dir: &Path, kid: &str) -> anyhow::Result<()> {
    use common::keys::{
        ed25519_pkcs8_from_seed, ed25519_public_from_seed, ed25519_spki_from_public,
        generate_ed25519_seed, parse_keyring, pem,
    };
    anyhow::ensure!(
        !kid.is_empty()
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "--kid is letters, digits, - and _"
    );
    let private_path = dir.join(format!("{kid}.pem"));
    let public_path = public_dir.join(format!("{kid}.pub.pem"));
    for dir in [dir, public_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let write_public = |seed: &[u8]| -> anyhow::Result<()> {
        let public = ed25519_public_from_seed(seed)?;
        std::fs::write(
            &public_path,
            pem("PUBLIC KEY", &ed25519_spki_from_public(&public)?),
        )
        .with_context(|| format!("writing {}", public_path.display()))
    };
    if private_path.exists() {
        // Kept; its public half is written again where it is missing (a
        // public directory added after the key was made).
        if !public_path.exists() {
            let keyring = parse_keyring(&format!("{kid}={}", private_path.display()), "--dir")?;
            write_public(&keyring[0].1.0)?;
            println!("wrote {} from the existing key", public_path.display());
        }
        println!("{} exists; keeping it", private_path.display());
        return Ok(());
    }
    let seed = generate_ed25519_seed()?;
    write_public(&seed)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(&private_path)?,
        pem("PRIVATE KEY", &ed25519_pkcs8_from_seed(&seed)?).as_bytes(),
    )?;
    println!(
        "wrote {} and {}\n  auth-service:     JWT_SIGNING_KEYS={kid}={}\n  commerce-service: JWT_VERIFY_KEYS={kid}={}",
        private_path.display(),
        public_path.display(),
        private_path.display(),
        public_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::keygen;

    #[test]
    fn keygen_puts_the_public_key_apart_from_the_private_one() {
        let root = std::env::temp_dir().join(format!("keygen-{}", uuid::Uuid::new_v4().simple()));
        let (private, public) = (root.join("signing"), root.join("public"));
        keygen(&private, &public, "k1").unwrap();
        assert!(private.join("k1.pem").is_file());
        assert!(
            !private.join("k1.pub.pem").exists(),
            "no public key beside the private one"
        );
        assert!(public.join("k1.pub.pem").is_file());
        assert!(
            !public.join("k1.pem").exists(),
            "the public directory holds no private key"
        );
        let first = std::fs::read_to_string(public.join("k1.pub.pem")).unwrap();

        // Run again with the public key gone: the key is kept, and its public
        // half is derived again, identical.
        std::fs::remove_file(public.join("k1.pub.pem")).unwrap();
        keygen(&private, &public, "k1").unwrap();
        assert_eq!(
            std::fs::read_to_string(public.join("k1.pub.pem")).unwrap(),
            first
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
