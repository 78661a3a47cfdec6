//! The auth-service binary: serve (default), or one of the subcommands of
//! `cli.rs`: `migrate`, `create-admin`, `keygen`; `openapi` prints the
//! public routes' OpenAPI document.

use auth_service::config::Settings;
use auth_service::{AppState, cli};
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
    /// Print the OpenAPI document of the public routes (what
    /// `/openapi.json` serves) and exit; needs no settings.
    Openapi,
    /// Write a new Ed25519 key pair as `DIR/KID.pem` (signing, for
    /// JWT_SIGNING_KEYS) and `DIR/KID.pub.pem` (for JWT_VERIFY_KEYS), unless
    /// the private key file exists already.
    Keygen {
        /// Where the private key goes (readable by auth-service only).
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Where the public key goes (what commerce-service mounts);
        /// the private key's directory by default.
        #[arg(long)]
        public_dir: Option<std::path::PathBuf>,
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

/// How often expired revocation records are deleted.
const REVOCATION_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// mimalloc: under load the services spend a tenth of their CPU in glibc's
/// malloc and free (measured by `cargo xtask bench`; see bench/REPORT.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Before telemetry starts: standard output is the document's alone.
    if let Command::Openapi = command {
        let document = auth_service::routes::openapi_document().to_pretty_json()?;
        println!("{document}");
        return Ok(());
    }
    let _telemetry = common::telemetry::init(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    // Key generation needs no settings, database or Redis.
    if let Command::Keygen {
        dir,
        public_dir,
        kid,
    } = &command
    {
        return cli::keygen(dir, public_dir.as_deref().unwrap_or(dir), kid);
    }
    // Migrating needs the database only, none of the other secrets.
    if let Command::Migrate = command {
        return common::db::migrate_database_from_env(
            &auth_service::MIGRATOR,
            auth_service::config::DEFAULT_DATABASE_URL,
        )
        .await;
    }
    let state = AppState::connect(Settings::from_env()?)?;
    match command {
        Command::Serve => serve(state).await,
        // Answered above, before the settings were read.
        Command::Migrate | Command::Openapi => Ok(()),
        Command::CreateAdmin { email, if_missing } => {
            cli::create_admin(&state.db, &state.accounts, &email, if_missing).await
        }
        Command::Keygen { .. } => Ok(()),
    }
}

async fn serve(state: AppState) -> anyhow::Result<()> {
    cli::prepare_schema(&state.db, state.settings.migrate_on_start).await?;
    cli::check_eviction_policy(&state.store, &state.settings).await?;
    tokio::spawn(auth_service::sessions::revocations::run_pruning(
        state.db.clone(),
        REVOCATION_PRUNE_INTERVAL,
    ));
    auth_service::events::start_relay(&state).await?;
    let addr = state.settings.listen_addr.clone();
    let (lifecycle, grace) = (state.lifecycle.clone(), state.settings.shutdown_grace);
    let app = auth_service::app(state);
    common::serve::listen_and_serve("auth-service", &addr, app, lifecycle, grace).await
}
