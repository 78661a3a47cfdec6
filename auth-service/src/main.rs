//! The auth-service binary: serve (default), `migrate`, `create-admin`.

use std::io::Read as _;
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use auth_service::config::Settings;
use auth_service::domain::email::{normalize_email, password_problem};
use auth_service::{AppState, MIGRATOR};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "auth-service",
    version,
    about = "Login, tokens and sessions of the shop"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a new Ed25519 key pair as `DIR/KID.pem` (signing, for
    /// JWT_SIGNING_KEYS) and `DIR/KID.pub.pem` (for JWT_VERIFY_KEYS), unless
    /// the private key file exists already.
    Keygen {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long)]
        kid: String,
    },
    /// Create an admin account (password from ADMIN_PASSWORD or stdin).
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Succeed without change when the account already exists.
        #[arg(long)]
        if_missing: bool,
    },
}

/// mimalloc: under load the services spend a tenth of their CPU in glibc's
/// malloc and free (measured by `cargo xtask bench`; see bench/REPORT.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = common::telemetry::init(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Key generation needs no settings, database or Redis.
    if let Command::Keygen { dir, kid } = &command {
        return keygen(dir, kid);
    }
    let state = AppState::connect(Settings::from_env()?)?;
    match command {
        Command::Serve => serve(state).await,
        Command::Migrate => migrate(&state).await,
        Command::CreateAdmin { email, if_missing } => {
            create_admin(&state, &email, if_missing).await
        }
        Command::Keygen { .. } => Ok(()),
    }
}

async fn migrate(state: &AppState) -> anyhow::Result<()> {
    common::db::migrate(&MIGRATOR, &state.db).await
}

async fn serve(state: AppState) -> anyhow::Result<()> {
    migrate(&state).await?;
    let addr = state.settings.listen_addr.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
    tracing::info!(%addr, "auth-service listening");
    let (lifecycle, grace) = (state.lifecycle.clone(), state.settings.shutdown_grace);
    let app = auth_service::app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(lifecycle.stopped(grace))
    .await
    .context("serving HTTP")
}

async fn create_admin(state: &AppState, email: &str, if_missing: bool) -> anyhow::Result<()> {
    migrate(state).await?;
    let email = normalize_email(email).context("--email is not an email address")?;
    if auth_service::db::users::find_by_email(&state.db, &email)
        .await?
        .is_some()
    {
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
    if let Some(problem) = password_problem(&password) {
        bail!("the password {problem}");
    }
    let row =
        auth_service::routes::admin::create_password_account(state, &email, &password, "admin")
            .await
            .map_err(|error| anyhow::anyhow!("creating the admin: {error}"))?;
    println!("admin {email} created with id {}", row.id);
    Ok(())
}

fn keygen(dir: &std::path::Path, kid: &str) -> anyhow::Result<()> {
    use common::keys::{
        ed25519_pkcs8_from_seed, ed25519_public_from_seed, ed25519_spki_from_public,
        generate_ed25519_seed, pem,
    };
    anyhow::ensure!(
        !kid.is_empty()
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "--kid is letters, digits, - and _"
    );
    let private_path = dir.join(format!("{kid}.pem"));
    let public_path = dir.join(format!("{kid}.pub.pem"));
    if private_path.exists() {
        println!("{} exists; keeping it", private_path.display());
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let seed = generate_ed25519_seed()?;
    let public = ed25519_public_from_seed(&seed)?;
    std::fs::write(
        &public_path,
        pem("PUBLIC KEY", &ed25519_spki_from_public(&public)?),
    )?;
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
