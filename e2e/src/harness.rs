//! The journeys' harness: each journey is a libtest-mimic trial that runs
//! on its own runtime against one target.

use std::sync::Arc;

use libtest_mimic::{Failed, Trial};

use crate::app::App;
use crate::stacks::Target;

pub fn block_on(
    journey: impl std::future::Future<Output = anyhow::Result<()>>,
) -> Result<(), Failed> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(journey)
        .map_err(|error| Failed::from(format!("{error:#}")))
}

pub fn trial<F, Fut>(name: &'static str, target: &Arc<Target>, journey: F) -> Trial
where
    F: FnOnce(App) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let target = target.clone();
    Trial::test(name, move || block_on(journey(App::new(target))))
}
