//! The commerce-service binary: serve (default), or one of the subcommands
//! of `cli.rs`: `migrate`, `seed`; `openapi` prints the public routes'
//! OpenAPI document.

use clap::{Parser, Subcommand};
use commerce_service::config::Settings;
use commerce_service::{AppState, cli};

#[derive(Parser)]
#[command(
    name = "commerce-service",
    version,
    about = "Catalog, cart, wishlist and orders of the shop"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service, the pending-order expiry and the guest-cart
    /// sweep (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document of the public routes (what
    /// `/openapi.json` serves) and exit; needs no settings.
    Openapi,
    /// Apply migrations, then seed markets and the demo catalog (idempotent).
    Seed,
}

/// mimalloc: under load the services spend a tenth of their CPU in glibc's
/// malloc and free (measured by `cargo xtask bench`; see bench/REPORT.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Before telemetry starts: standard output is the document's alone.
    if let Command::Openapi = command {
        let document = commerce_service::routes::openapi_document().to_pretty_json()?;
        println!("{document}");
        return Ok(());
    }
    let _telemetry = common::telemetry::init(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    // Migrating needs the database only, none of the other settings.
    if let Command::Migrate = command {
        return common::db::migrate_database_from_env(
            &commerce_service::MIGRATOR,
            commerce_service::config::DEFAULT_DATABASE_URL,
        )
        .await;
    }
    let state = AppState::connect(Settings::from_env()?)?;
    match command {
        Command::Serve => serve(state).await,
        // Answered above, before the settings were read.
        Command::Migrate | Command::Openapi => Ok(()),
        Command::Seed => cli::seed(&state.db, &state.markets).await,
    }
}

async fn serve(state: AppState) -> anyhow::Result<()> {
    cli::prepare_schema(&state.db, state.settings.migrate_on_start).await?;
    commerce_service::events::start(&state).await?;
    tokio::spawn(commerce_service::orders::fulfilment::run_expiry(
        state.db.clone(),
        state.outbox.clone(),
        state.settings.expiry_sweep_interval,
    ));
    tokio::spawn(commerce_service::cart::guest::run_sweeper(
        state.db.clone(),
        state.settings.guest_sweep_interval,
    ));
    let addr = state.settings.listen_addr.clone();
    let (lifecycle, grace) = (state.lifecycle.clone(), state.settings.shutdown_grace);
    let app = commerce_service::app(state);
    common::serve::listen_and_serve("commerce-service", &addr, app, lifecycle, grace).await
}
