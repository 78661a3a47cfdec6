//! The OpenAPI documents are the contract: Schemathesis generates requests
//! from each service's `/openapi.json` (valid and invalid data, bounded and
//! seeded) and checks every answer, sent to the service directly and
//! through the gateway: no 5xx, a documented status and content type
//! (problem+json for every error) and a body matching its schema.
//! Customer operations run with a real customer's token, admin ones with
//! the admin's; each run signs in a customer of its own, since a run may
//! log its customer out.
//!
//! Against a stack of its own by default; with `E2E_BASE_URL` against a
//! running deployment (the gateway), its documents read from the first of
//! `E2E_AUTH_REPLICAS` and `E2E_COMMERCE_REPLICAS`, which are also checked
//! directly. `SCHEMATHESIS_SEED` replays a run; `SCHEMATHESIS_EXAMPLES`
//! (default 20) bounds the examples per operation.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use e2e::app::{App, next_phone};
use e2e::stacks::{Target, drop_stack, env_or, own_stack, target_of};
use xtask::schemathesis::{self, Run};

const ADMIN_PATHS: &str = "^/api/v1/admin/";

/// One service's document and the base URLs it is checked at.
struct Service {
    name: &'static str,
    base_url: String,
}

struct Deployment {
    target: Arc<Target>,
    services: Vec<Service>,
}

fn first_listed(variable: &str) -> Option<String> {
    env_or(variable, "")
        .split(',')
        .map(|url| url.trim().trim_end_matches('/').to_owned())
        .find(|url| !url.is_empty())
}

#[test]
fn every_answer_matches_the_openapi_documents() {
    let executable = schemathesis::ensure().expect("schemathesis installs");
    let seed: u64 = env_or("SCHEMATHESIS_SEED", "20261130")
        .parse()
        .expect("a number");
    let examples: u32 = env_or("SCHEMATHESIS_EXAMPLES", "20")
        .parse()
        .expect("a number");
    let (deployment, stack) = if let Ok(base) = std::env::var("E2E_BASE_URL") {
        let auth = first_listed("E2E_AUTH_REPLICAS")
            .unwrap_or_else(|| env_or("E2E_AUTH_URL", "http://127.0.0.1:8081"));
        let commerce = first_listed("E2E_COMMERCE_REPLICAS")
            .expect("E2E_COMMERCE_REPLICAS names commerce-service's document");
        let target = Target {
            gateway: base.trim_end_matches('/').to_owned(),
            auth_internal: auth.clone(),
            admin_email: env_or("ADMIN_EMAIL", "admin@example.com"),
            admin_password: env_or("ADMIN_PASSWORD", "admin-dev-password"),
        };
        let deployment = Deployment {
            target: Arc::new(target),
            services: vec![
                Service {
                    name: "auth-service",
                    base_url: auth,
                },
                Service {
                    name: "commerce-service",
                    base_url: commerce,
                },
            ],
        };
        (deployment, None)
    } else {
        // Limits per address raised: every request comes from one address.
        let stack = own_stack(
            "contract",
            &[
                ("OTP_RESEND_SECONDS", "1"),
                ("OTP_PER_IP_HOUR", "100000"),
                ("OTP_VERIFY_PER_IP_HOUR", "100000"),
                ("LOGIN_PER_IP_HOUR", "100000"),
            ],
        )
        .expect("a stack of its own starts");
        let deployment = Deployment {
            target: Arc::new(target_of(&stack)),
            services: vec![
                Service {
                    name: "auth-service",
                    base_url: stack.config.auth_url(),
                },
                Service {
                    name: "commerce-service",
                    base_url: stack.config.commerce_url(),
                },
            ],
        };
        (deployment, Some(stack))
    };

    let outcome = check(&deployment, &executable, seed, examples);
    if let Some(stack) = stack {
        drop_stack(stack);
    }
    if let Err(error) = outcome {
        panic!("{error:#}");
    }
}

fn check(
    deployment: &Deployment,
    executable: &std::path::Path,
    seed: u64,
    examples: u32,
) -> anyhow::Result<()> {
    let gateway = deployment.target.gateway.clone();
    // commerce-service first: auth-service's admin runs may deactivate the
    // admin they run as (the generated data picks user ids), so each signs
    // in as an admin of its own, and they come last.
    let mut services: Vec<&Service> = deployment.services.iter().collect();
    services.sort_by_key(|service| service.name == "auth-service");
    let mut runs: Vec<(&Service, String, bool)> = Vec::new();
    for admin in [false, true] {
        for service in &services {
            for base in [service.base_url.clone(), gateway.clone()] {
                runs.push((service, base, admin));
            }
        }
    }
    // Every token first: a run may trip the per-address code limits.
    let tokens = tokio::runtime::Runtime::new()?.block_on(async {
        let app = App::new(deployment.target.clone());
        let first_admin = app.admin().await.context("the admin signs in")?;
        let mut tokens = Vec::new();
        for (index, (_, _, admin)) in runs.iter().enumerate() {
            let token = if *admin {
                app.another_admin(&first_admin, &format!("contract-{index}@example.com"))
                    .await
                    .context("an admin of the run's own signs in")?
            } else {
                app.login(&next_phone())
                    .await
                    .context("a customer signs in")?
                    .access
            };
            tokens.push(token);
        }
        anyhow::Ok(tokens)
    })?;
    let mut failures = Vec::new();
    for ((service, base_url, admin), bearer) in runs.iter().zip(&tokens) {
        let schema = format!("{}/openapi.json", service.base_url);
        let run = Run {
            schema: &schema,
            base_url,
            bearer: Some(bearer),
            paths: ADMIN_PATHS,
            exclude: !admin,
            examples,
            seed,
            time_limit: Duration::from_secs(300),
        };
        if let Err(error) = run.execute(executable) {
            let who = if *admin { "admin" } else { "customer" };
            failures.push(format!("{} ({who}): {error:#}", service.name));
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}
