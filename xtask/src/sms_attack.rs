//! The SMS-pumping simulation: an attacker sends 10,000 `send-code`
//! requests to numbers in a few premium ranges from many client addresses
//! (as a trusted proxy would forward them, in `X-Forwarded-For`), never
//! verifying and solving every challenge it is given, while 200 real
//! customers in the shop's countries log in. It reports how many SMS
//! reached the attacker's numbers, how many customers logged in, and
//! whether any answer to the attacker differed by the rule that stopped
//! it. Windows and thresholds are scaled down ([`STACK_ENV`]) so that it
//! runs in well under a minute.
//!
//! `cargo xtask sms-attack` runs it against a stack of its own and prints
//! the report; the end-to-end test `e2e/tests/sms_attack.rs` asserts it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use futures::StreamExt as _;
use rand::RngExt as _;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The attack's requests.
pub const ATTACK_REQUESTS: usize = 10_000;
/// The customers logging in meanwhile.
pub const CUSTOMERS: usize = 200;

/// auth-service's settings for the run: the firewall's production rules
/// with windows and thresholds scaled from hours to a minute, and none of
/// the development stack's exemptions.
pub const STACK_ENV: &[(&str, &str)] = &[
    ("SMS_PER_RANGE_HOUR", "5"),
    ("SMS_BREAKER_WINDOW_SECONDS", "60"),
    ("SMS_BREAKER_MIN_SENDS", "10"),
    ("SMS_BREAKER_MIN_CONVERSION_PERCENT", "20"),
    ("SMS_BREAKER_COOLOFF_SECONDS", "30"),
    ("SMS_BREAKER_TRICKLE_PER_MINUTE", "1"),
    ("SMS_BREAKER_EXEMPT_COUNTRIES", ""),
    ("SMS_CHALLENGE_EXEMPT", ""),
    ("SMS_CHALLENGE_DIFFICULTY", "10"),
    ("SMS_CHALLENGE_IP_AFTER", "5"),
    ("SMS_CHALLENGE_RANGE_AFTER", "3"),
    ("SMS_DAILY_BUDGET", "2000"),
    ("SMS_DAILY_BUDGET_PER_COUNTRY", "1000"),
];

/// The attacker's premium ranges: (market, E.164 prefix of the range).
const ATTACK_RANGES: [(&str, &str); 3] = [("eu", "+371212"), ("eu", "+371255"), ("us", "+190055")];

/// What the run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub attack_requests: usize,
    /// SMS that reached the attacker's numbers.
    pub attack_sms: usize,
    /// The attacker's answers by status.
    pub attack_statuses: BTreeMap<u16, usize>,
    /// Distinct bodies of the attacker's `202`s and `428`s (without the
    /// per-request ids and challenges): 1 each if nothing tells rules apart.
    pub distinct_accepted_bodies: usize,
    pub distinct_challenge_details: usize,
    /// `428 challenge_required` answers the attacker got (and solved).
    pub challenges_asked: usize,
    pub customers: usize,
    pub customers_logged_in: usize,
    pub customers_challenged: usize,
    /// Why the customers who did not log in did not, by step.
    pub customer_failures: BTreeMap<String, usize>,
    pub elapsed: Duration,
}

impl Report {
    /// The bar: at most 25 SMS to the attacker, at least 99 % of
    /// the customers in, and no answer that names a rule.
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(
            self.attack_sms <= 25,
            "{} SMS reached the attacker",
            self.attack_sms
        );
        ensure!(
            self.customers_logged_in * 100 >= self.customers * 99,
            "only {} of {} customers logged in",
            self.customers_logged_in,
            self.customers
        );
        ensure!(
            self.attack_statuses.keys().all(|s| *s == 202 || *s == 428),
            "the attacker saw other answers: {:?}",
            self.attack_statuses
        );
        ensure!(
            self.distinct_accepted_bodies <= 1 && self.distinct_challenge_details <= 1,
            "the answers differ by rule"
        );
        Ok(())
    }

    pub fn render(&self) -> String {
        format!(
            "SMS-pumping simulation ({:.1} s)\n\
             attacker: {} send-code requests to {} premium ranges, never verifying, solving every challenge\n\
             \x20 SMS that reached the attacker's numbers: {} (bar: at most 25)\n\
             \x20 final answers: {:?}; challenges asked and solved: {}; distinct 202 bodies: {}; distinct 428 details: {}\n\
             customers: {} logged in of {} ({:.1} %, bar: 99 %); {} solved a challenge on the way; failures: {:?}\n",
            self.elapsed.as_secs_f64(),
            self.attack_requests,
            ATTACK_RANGES.len(),
            self.attack_sms,
            self.attack_statuses,
            self.challenges_asked,
            self.distinct_accepted_bodies,
            self.distinct_challenge_details,
            self.customers_logged_in,
            self.customers,
            100.0 * self.customers_logged_in as f64 / self.customers as f64,
            self.customers_challenged,
            self.customer_failures,
        )
    }
}

/// Finds the counter a proof-of-work challenge asks for. Written from the
/// published rule (leading zero bits of SHA-256(`challenge:solution`)), as
/// an app or an attacker would, not borrowed from auth-service's checker:
/// a fault in that checker must not be mirrored by the simulation.
pub fn solve(challenge: &str, difficulty: u32) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|solution| {
            let digest = Sha256::digest(format!("{challenge}:{solution}").as_bytes());
            let mut bits = 0;
            for byte in digest {
                if byte == 0 {
                    bits += 8;
                } else {
                    bits += byte.leading_zeros();
                    break;
                }
            }
            bits >= difficulty
        })
        .unwrap_or_default()
}

struct Auth {
    client: Client,
    /// auth-service itself: the simulation plays the trusted proxy.
    base: String,
    internal_token: String,
}

impl Auth {
    /// `send-code` from `client_ip`, answering one challenge if asked;
    /// the final answer and the challenge's `detail`, if one was asked.
    async fn send_code(
        &self,
        phone: &str,
        market: &str,
        client_ip: &str,
    ) -> anyhow::Result<(StatusCode, Value, Option<Value>)> {
        let mut body = json!({ "phone": phone });
        let mut challenged = None;
        for _ in 0..2 {
            let response = self
                .client
                .post(format!("{}/api/v1/auth/send-code", self.base))
                .header("x-forwarded-for", client_ip)
                .header("x-market", market)
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.as_u16() != 428 || challenged.is_some() {
                return Ok((status, answer, challenged));
            }
            challenged = Some(answer["detail"].clone());
            let challenge = answer["challenge"]["challenge"]
                .as_str()
                .context("a 428 carries its challenge")?
                .to_owned();
            let difficulty = answer["challenge"]["difficulty"].as_u64().unwrap_or(32) as u32;
            let solution = solve(&challenge, difficulty);
            body["challenge_response"] = json!({"challenge": challenge, "solution": solution});
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The codes the development outbox holds for `phone`, newest first.
    async fn outbox(&self, phone: &str) -> anyhow::Result<Vec<String>> {
        let response = self
            .client
            .get(format!("{}/internal/v1/dev/sms-outbox", self.base))
            .query(&[("phone", phone)])
            .bearer_auth(&self.internal_token)
            .send()
            .await?;
        let body: Value = response.json().await?;
        Ok(body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["code"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn verify(
        &self,
        phone: &str,
        code: &str,
        market: &str,
        client_ip: &str,
    ) -> anyhow::Result<bool> {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/verify-code", self.base))
            .header("x-forwarded-for", client_ip)
            .header("x-market", market)
            .json(&json!({"phone": phone, "verification_code": code}))
            .send()
            .await?;
        Ok(response.status() == StatusCode::OK)
    }

    /// A customer's whole login: code, outbox, verify. The inner `Err`
    /// names the step that failed; `Ok` says whether a challenge was asked.
    async fn customer_logs_in(
        &self,
        phone: &str,
        market: &str,
        client_ip: &str,
    ) -> anyhow::Result<Result<bool, String>> {
        let (status, _, challenge) = self.send_code(phone, market, client_ip).await?;
        let challenged = challenge.is_some();
        if status != StatusCode::ACCEPTED {
            return Ok(Err(format!("send-code answered {status}")));
        }
        let Some(code) = self.outbox(phone).await?.into_iter().next() else {
            return Ok(Err(format!("no SMS reached the customer ({market})")));
        };
        if !self.verify(phone, &code, market, client_ip).await? {
            return Ok(Err("verify-code refused the code".to_owned()));
        }
        Ok(Ok(challenged))
    }
}

/// The `nth` number of the range `prefix` (11 digits in all: a US or a
/// Latvian number), walking the range as pumping does.
fn number_in(prefix: &str, nth: usize) -> String {
    let free = 12 - prefix.len();
    format!("{prefix}{:0free$}", nth % 10usize.pow(free as u32))
}

/// A real customer: US numbers over many area codes and exchanges, Indian
/// mobiles over many operators' blocks.
fn customer(n: usize) -> (String, &'static str) {
    const AREA_CODES: [u32; 10] = [212, 312, 415, 617, 202, 305, 404, 503, 206, 713];
    const INDIAN_BLOCKS: [&str; 12] = [
        "9876", "9812", "9845", "9990", "9810", "9899", "9820", "9833", "7021", "8050", "9448",
        "9008",
    ];
    let mut rng = rand::rng();
    if n % 10 < 9 {
        let area = AREA_CODES[rng.random_range(0..AREA_CODES.len())];
        let mut exchange = rng.random_range(200..1000u32);
        if exchange % 100 == 11 {
            exchange += 1;
        }
        let line = rng.random_range(0..10_000u32);
        (format!("+1{area}{exchange}{line:04}"), "us")
    } else {
        let block = INDIAN_BLOCKS[rng.random_range(0..INDIAN_BLOCKS.len())];
        let rest = rng.random_range(0..1_000_000u32);
        (format!("+91{block}{rest:06}"), "in")
    }
}

/// Runs the attack and the customers' logins at once against auth-service
/// at `auth_base` (it must trust this machine as its proxy and hold the
/// development SMS outbox).
pub async fn simulate(auth_base: &str, internal_token: &str) -> anyhow::Result<Report> {
    let auth = Arc::new(Auth {
        client: Client::builder().timeout(Duration::from_secs(30)).build()?,
        base: auth_base.trim_end_matches('/').to_owned(),
        internal_token: internal_token.to_owned(),
    });
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));

    let attacker = {
        let auth = auth.clone();
        async move {
            futures::stream::iter(0..ATTACK_REQUESTS)
                .map(|n| {
                    let auth = auth.clone();
                    async move {
                        let (market, prefix) = ATTACK_RANGES[n % ATTACK_RANGES.len()];
                        let phone = number_in(prefix, 1000 + n / ATTACK_RANGES.len());
                        // 2,000 addresses, each used for five requests.
                        let client_ip = format!("198.18.{}.{}", (n / 5) / 250, (n / 5) % 250 + 1);
                        let (status, body, challenge) =
                            auth.send_code(&phone, market, &client_ip).await?;
                        anyhow::Ok((phone, status, body, challenge))
                    }
                })
                .buffer_unordered(24)
                .collect::<Vec<_>>()
                .await
        }
    };
    let customers = {
        let auth = auth.clone();
        let next = next.clone();
        async move {
            futures::stream::iter(0..CUSTOMERS)
                .map(|n| {
                    let auth = auth.clone();
                    let next = next.clone();
                    async move {
                        // Spread over the attack's time.
                        tokio::time::sleep(Duration::from_millis(40 * n as u64)).await;
                        let (phone, market) = customer(next.fetch_add(1, Ordering::Relaxed));
                        let client_ip = format!("10.20.{}.{}", n / 250, n % 250 + 1);
                        auth.customer_logs_in(&phone, market, &client_ip).await
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await
        }
    };
    let (attack, logins) = tokio::join!(attacker, customers);

    let mut statuses = BTreeMap::new();
    let mut accepted_bodies = std::collections::BTreeSet::new();
    let mut challenge_details = std::collections::BTreeSet::new();
    let mut accepted_numbers = Vec::new();
    let mut challenges_asked = 0;
    for outcome in attack {
        let (phone, status, body, challenge) = outcome?;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        if let Some(detail) = challenge {
            challenges_asked += 1;
            challenge_details.insert(detail.to_string());
        }
        match status.as_u16() {
            202 => {
                accepted_bodies.insert(body.to_string());
                accepted_numbers.push(phone);
            }
            428 => {
                challenge_details.insert(body["detail"].to_string());
            }
            _ => {}
        }
    }
    let attack_sms: usize = futures::stream::iter(accepted_numbers)
        .map(|phone| {
            let auth = auth.clone();
            async move { auth.outbox(&phone).await.map(|codes| codes.len()) }
        })
        .buffer_unordered(24)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum::<anyhow::Result<usize>>()?;
    let mut customers_logged_in = 0;
    let mut customers_challenged = 0;
    let mut customer_failures = BTreeMap::new();
    for login in logins {
        match login? {
            Ok(challenged) => {
                customers_logged_in += 1;
                customers_challenged += usize::from(challenged);
            }
            Err(step) => *customer_failures.entry(step).or_insert(0) += 1,
        }
    }
    Ok(Report {
        attack_requests: ATTACK_REQUESTS,
        attack_sms,
        attack_statuses: statuses,
        distinct_accepted_bodies: accepted_bodies.len(),
        distinct_challenge_details: challenge_details.len(),
        challenges_asked,
        customers: CUSTOMERS,
        customers_logged_in,
        customers_challenged,
        customer_failures,
        elapsed: started.elapsed(),
    })
}

/// `cargo xtask sms-attack`: a stack of its own (the debug binaries, built
/// first), the simulation, the report; the stack is removed afterwards.
pub fn run_own() -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["build", "-p", "auth-service", "-p", "commerce-service"])
            .status()?;
    ensure!(status.success(), "building the services failed");
    let id = format!("smsattack{}", std::process::id());
    let config = crate::stack::StackConfig {
        gateway_port: crate::stack::free_port()?,
        auth_ports: crate::stack::free_ports(1)?,
        commerce_ports: crate::stack::free_ports(1)?,
        postgres_url: crate::postgres_server_url(),
        auth_database: format!("{id}_auth"),
        commerce_database: format!("{id}_commerce"),
        redis_url: crate::redis_url(),
        redis_key_prefix: id.clone(),
        nats_url: None,
        nats_namespace: String::new(),
        bin_dir: root.join("target/debug"),
        work_dir: root.join("target").join(&id),
        admin_email: "admin@example.com".into(),
        admin_password: "admin-dev-password".into(),
        extra_env: STACK_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let stack = crate::stack::Stack::start(config.clone())?;
    let report = tokio::runtime::Runtime::new()?
        .block_on(simulate(&config.auth_url(), "dev-internal-token"));
    drop(stack);
    for database in [&config.auth_database, &config.commerce_database] {
        let _ = crate::database::drop_database(&format!("{}/{database}", config.postgres_url));
    }
    let _ = std::fs::remove_dir_all(&config.work_dir);
    let report = report?;
    print!("{}", report.render());
    report.check()
}
