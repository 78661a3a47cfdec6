//! Typed settings, read once at start from the variables of DESIGN.md's
//! table, with development defaults and production guards.

use std::time::Duration;

use crate::otp::destinations::Destinations;
use crate::otp::firewall::FirewallSettings;
use crate::otp::sms::{SmsProvider, SmsText};
use anyhow::{bail, ensure};
use common::client_ip::ClientAddressing;
use common::config::{AppEnv, Env};
use common::events::BusSettings;
use common::keys::{JwtAlgorithm, KeyBytes, MIN_HS256_SECRET_BYTES, parse_keyring};
use secrecy::{ExposeSecret, SecretString};

/// Where the development database is.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/auth";

/// Development value of `INTERNAL_API_TOKEN`; production refuses it.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token";
/// The longest a login under attack may be held back: well inside any
/// client's timeout.
const MAX_LOGIN_SLOW_DELAY: Duration = Duration::from_secs(5);

/// Development value of `AUTH_SECRET_KEY`; production refuses it.
pub const DEV_AUTH_SECRET_KEY: &str = "development-only-auth-secret-key-change-me";

/// One-time-code lifetimes and limits (API.md's defaults).
#[derive(Debug, Clone)]
pub struct OtpSettings {
    pub code_ttl_seconds: u64,
    pub resend_seconds: u64,
    pub max_attempts: u32,
    /// Wrong codes one number may be sent in a day, over all its codes,
    /// before it must wait for the day to pass; 0 turns the cap off.
    pub failures_per_number_day: u32,
    pub per_number_hour: u32,
    pub per_ip_hour: u32,
    /// 0 turns the per-country budget off.
    pub per_country_hour: u32,
    /// 0 turns the total budget off.
    pub total_hour: u32,
    pub verify_per_ip_hour: u32,
    /// The SMS firewall's silent rules (`otp/firewall.rs`).
    pub firewall: FirewallSettings,
}

/// Password login limits and hashing cost.
#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub login_per_ip_hour: u32,
    /// Failures one client address may make on one account per window
    /// before that address is refused (`429`) for that account.
    pub failures_per_account_address: u32,
    pub failure_window_seconds: u64,
    /// Failures on one account, from every address, in the window after
    /// which every attempt on it waits `slow_delay` before it is checked.
    pub slow_after_failures: u32,
    pub slow_delay: Duration,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_concurrency: usize,
}

/// Everything auth-service is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub listen_addr: String,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub database_acquire_timeout: Duration,
    pub redis_url: SecretString,
    /// Prefix of every Redis key (tests isolate themselves with their own).
    pub redis_key_prefix: String,
    pub redis_timeout: Duration,
    pub request_timeout: Duration,
    /// How long readiness reports "stopping" before the server drains.
    pub shutdown_grace: Duration,
    /// Apply migrations when serving starts (development, compose); with
    /// `false` they run as their own step and serving only checks them.
    pub migrate_on_start: bool,
    pub jwt_algorithm: JwtAlgorithm,
    pub signing_keys: Vec<(String, KeyBytes)>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_leeway_seconds: u64,
    pub access_token_ttl_seconds: u64,
    pub refresh_idle_seconds: u64,
    pub session_max_seconds: u64,
    pub refresh_grace_seconds: u64,
    /// How recent a login must be for account deletion.
    pub reauth_max_age_seconds: u64,
    pub internal_api_token: SecretString,
    /// Server key for code hashes and refresh-token MACs and successors.
    pub auth_secret_key: SecretString,
    pub sms: SmsProvider,
    pub otp: OtpSettings,
    pub password: PasswordSettings,
    /// `TRUSTED_PROXIES` and `RATE_LIMIT_IPV6_PREFIX`: IPv6 clients share
    /// one rate-limit bucket per network of that prefix length (one
    /// subscriber usually holds a whole /64).
    pub client_addressing: ClientAddressing,
    /// ISO 3166 alpha-2 codes, upper-case; empty allows every country.
    pub phone_countries: Vec<String>,
    /// Per market, the countries codes may be sent to (`SMS_DESTINATIONS`).
    pub sms_destinations: Destinations,
    /// The words of a code's SMS, origin-bound (`SMS_WEBOTP_DOMAIN`,
    /// `SMS_ANDROID_APP_HASH`).
    pub sms_text: SmsText,
    pub default_market: String,
    pub markets: Vec<String>,
    /// The event bus (`NATS_URL`); none: no events, commerce keeps its
    /// short status TTL.
    pub bus: Option<BusSettings>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::load(&Env::system())
    }

    /// Reads settings from `env`, validating them.
    pub fn load(env: &Env) -> anyhow::Result<Self> {
        let app_env = env.app_env()?;
        let jwt_algorithm = JwtAlgorithm::parse(&env.string("JWT_ALG", "EdDSA"))?;
        let dev_keys = jwt_algorithm.dev_signing_spec();
        let (keys_spec, keys_defaulted) = env.secret("JWT_SIGNING_KEYS", &dev_keys)?;
        let signing_keys = parse_keyring(keys_spec.expose_secret(), "JWT_SIGNING_KEYS")?;
        let (internal_api_token, internal_defaulted) =
            env.secret("INTERNAL_API_TOKEN", DEV_INTERNAL_TOKEN)?;
        let (auth_secret_key, secret_defaulted) =
            env.secret("AUTH_SECRET_KEY", DEV_AUTH_SECRET_KEY)?;
        let (database_url, _) = env.secret("DATABASE_URL", DEFAULT_DATABASE_URL)?;
        let (redis_url, _) = env.secret("REDIS_URL", "redis://127.0.0.1:6379")?;

        let settings = Self {
            app_env,
            listen_addr: env.string("LISTEN_ADDR", "127.0.0.1:8081"),
            database_url,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 20)?,
            database_acquire_timeout: Duration::from_millis(
                env.parse("DATABASE_ACQUIRE_TIMEOUT_MS", 3000)?,
            ),
            redis_url,
            redis_key_prefix: env.string("REDIS_KEY_PREFIX", "auth"),
            redis_timeout: Duration::from_millis(env.parse("REDIS_TIMEOUT_MS", 2000)?),
            request_timeout: Duration::from_millis(env.parse("REQUEST_TIMEOUT_MS", 15_000)?),
            shutdown_grace: Duration::from_millis(env.parse("SHUTDOWN_GRACE_MS", 0)?),
            migrate_on_start: env.parse("MIGRATE_ON_START", true)?,
            jwt_algorithm,
            signing_keys,
            jwt_issuer: env.string("JWT_ISSUER", "auth-service"),
            jwt_audience: env.string("JWT_AUDIENCE", "shop-api"),
            jwt_leeway_seconds: env.parse("JWT_LEEWAY_SECONDS", 30)?,
            access_token_ttl_seconds: env.parse("ACCESS_TOKEN_TTL_SECONDS", 1800)?,
            refresh_idle_seconds: env.parse("REFRESH_IDLE_SECONDS", 604_800)?,
            session_max_seconds: env.parse("SESSION_MAX_SECONDS", 7_776_000)?,
            refresh_grace_seconds: env.parse("REFRESH_GRACE_SECONDS", 10)?,
            reauth_max_age_seconds: env.parse("REAUTH_MAX_AGE_SECONDS", 300)?,
            internal_api_token,
            auth_secret_key,
            sms: SmsProvider::from_env(env)?,
            otp: OtpSettings {
                code_ttl_seconds: env.parse("OTP_CODE_TTL_SECONDS", 300)?,
                resend_seconds: env.parse("OTP_RESEND_SECONDS", 60)?,
                max_attempts: env.parse("OTP_MAX_ATTEMPTS", 5)?,
                failures_per_number_day: env.parse("OTP_FAILURES_PER_NUMBER_DAY", 15)?,
                per_number_hour: env.parse("OTP_PER_NUMBER_HOUR", 5)?,
                per_ip_hour: env.parse("OTP_PER_IP_HOUR", 60)?,
                per_country_hour: env.parse("OTP_PER_COUNTRY_HOUR", 0)?,
                total_hour: env.parse("OTP_TOTAL_HOUR", 0)?,
                verify_per_ip_hour: env.parse("OTP_VERIFY_PER_IP_HOUR", 300)?,
                firewall: FirewallSettings::from_env(env)?,
            },
            password: PasswordSettings {
                login_per_ip_hour: env.parse("LOGIN_PER_IP_HOUR", 100)?,
                failures_per_account_address: env
                    .parse("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", 10)?,
                failure_window_seconds: env.parse("LOGIN_FAILURE_WINDOW_SECONDS", 900)?,
                slow_after_failures: env.parse("LOGIN_SLOW_AFTER_FAILURES", 10)?,
                slow_delay: Duration::from_millis(env.parse("LOGIN_SLOW_DELAY_MS", 2000)?),
                argon2_memory_kib: env.parse("ARGON2_MEMORY_KIB", 19_456)?,
                argon2_iterations: env.parse("ARGON2_ITERATIONS", 2)?,
                argon2_parallelism: env.parse("ARGON2_PARALLELISM", 1)?,
                hash_concurrency: env.parse(
                    "PASSWORD_HASH_CONCURRENCY",
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )?,
            },
            client_addressing: ClientAddressing::from_env(env)?,
            phone_countries: env
                .list("PHONE_COUNTRIES", "")
                .iter()
                .map(|code| code.to_ascii_uppercase())
                .collect(),
            sms_destinations: Destinations::parse(
                &env.string("SMS_DESTINATIONS", DEFAULT_SMS_DESTINATIONS),
            )?,
            sms_text: SmsText::new(
                optional(env.string(
                    "SMS_WEBOTP_DOMAIN",
                    if app_env.is_production() {
                        ""
                    } else {
                        "localhost"
                    },
                )),
                optional(env.string("SMS_ANDROID_APP_HASH", "")),
            )?,
            default_market: env.string("DEFAULT_MARKET", "us").to_ascii_lowercase(),
            markets: env
                .list("MARKETS", "us,in,eu")
                .iter()
                .map(|code| code.to_ascii_lowercase())
                .collect(),
            bus: BusSettings::from_env(env)?,
        };
        settings.validate(keys_defaulted, internal_defaulted, secret_defaulted)?;
        Ok(settings)
    }

    fn validate(
        &self,
        keys_defaulted: bool,
        internal_defaulted: bool,
        secret_defaulted: bool,
    ) -> anyhow::Result<()> {
        ensure!(
            self.access_token_ttl_seconds >= 1,
            "ACCESS_TOKEN_TTL_SECONDS must be at least 1"
        );
        ensure!(
            self.refresh_idle_seconds >= 60,
            "REFRESH_IDLE_SECONDS must be at least 60"
        );
        ensure!(
            self.session_max_seconds >= self.refresh_idle_seconds,
            "SESSION_MAX_SECONDS must not be below REFRESH_IDLE_SECONDS"
        );
        ensure!(
            self.reauth_max_age_seconds >= 1,
            "REAUTH_MAX_AGE_SECONDS must be at least 1"
        );
        ensure!(
            self.otp.max_attempts >= 1,
            "OTP_MAX_ATTEMPTS must be at least 1"
        );
        ensure!(
            self.otp.code_ttl_seconds >= 30,
            "OTP_CODE_TTL_SECONDS must be at least 30"
        );
        ensure!(
            self.password.hash_concurrency >= 1,
            "PASSWORD_HASH_CONCURRENCY must be at least 1"
        );
        ensure!(
            self.password.slow_delay <= MAX_LOGIN_SLOW_DELAY
                && self.password.slow_delay < self.request_timeout,
            "LOGIN_SLOW_DELAY_MS must be at most 5000 and below REQUEST_TIMEOUT_MS"
        );
        ensure!(
            self.markets
                .iter()
                .all(|m| common::market::is_well_formed(m)),
            "MARKETS holds a malformed market code"
        );
        ensure!(
            self.markets.contains(&self.default_market),
            "DEFAULT_MARKET must be one of MARKETS"
        );
        ensure!(
            self.phone_countries
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())),
            "PHONE_COUNTRIES holds ISO 3166 alpha-2 codes such as US,IN"
        );
        for market in &self.markets {
            ensure!(
                self.sms_destinations.lists(market),
                "SMS_DESTINATIONS names no destination countries for market {market:?}"
            );
        }
        ensure!(
            self.auth_secret_key.expose_secret().len() >= 32,
            "AUTH_SECRET_KEY must be at least 32 bytes"
        );
        if self.jwt_algorithm == JwtAlgorithm::EdDsa {
            for (kid, KeyBytes(seed)) in &self.signing_keys {
                ensure!(
                    seed.len() == 32,
                    "JWT_SIGNING_KEYS: key {kid:?} is not a 32-byte Ed25519 seed"
                );
            }
        }
        if self.app_env.is_production() {
            ensure!(
                !keys_defaulted,
                "APP_ENV=production refuses the development JWT_SIGNING_KEYS"
            );
            ensure!(
                !internal_defaulted,
                "APP_ENV=production refuses the development INTERNAL_API_TOKEN"
            );
            ensure!(
                !secret_defaulted,
                "APP_ENV=production refuses the development AUTH_SECRET_KEY"
            );
            ensure!(
                self.internal_api_token.expose_secret().len() >= 32
                    && self.internal_api_token.expose_secret() != DEV_INTERNAL_TOKEN,
                "INTERNAL_API_TOKEN must be at least 32 bytes in production, and not the development one"
            );
            ensure!(
                self.auth_secret_key.expose_secret().len() >= 32
                    && self.auth_secret_key.expose_secret() != DEV_AUTH_SECRET_KEY,
                "AUTH_SECRET_KEY must be at least 32 bytes in production, and not the development one"
            );
            for (kid, KeyBytes(bytes)) in &self.signing_keys {
                ensure!(
                    !common::keys::is_development_key(bytes),
                    "APP_ENV=production refuses the development key, here under the key id {kid:?}"
                );
            }
            let dev_kid_used = self
                .signing_keys
                .iter()
                .any(|(kid, _)| kid == common::keys::DEV_KID);
            ensure!(
                !dev_kid_used,
                "APP_ENV=production refuses the development key id"
            );
            if self.jwt_algorithm == JwtAlgorithm::Hs256 {
                for (kid, KeyBytes(secret)) in &self.signing_keys {
                    ensure!(
                        secret.len() >= MIN_HS256_SECRET_BYTES,
                        "JWT_SIGNING_KEYS: HS256 secret {kid:?} is shorter than {MIN_HS256_SECRET_BYTES} bytes"
                    );
                }
            }
            if matches!(self.sms, SmsProvider::Log) {
                bail!("APP_ENV=production refuses SMS_PROVIDER=log");
            }
            ensure!(
                !self.sms_destinations.allows_every_country(),
                "APP_ENV=production refuses SMS_DESTINATIONS allowing every country (*)"
            );
            ensure!(
                self.sms_text.is_origin_bound(),
                "APP_ENV=production needs SMS_WEBOTP_DOMAIN: codes are bound to the shop's domain"
            );
        }
        Ok(())
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_seconds)
    }
}

/// The development and default destinations: each market of the default
/// `MARKETS` to its own countries.
pub const DEFAULT_SMS_DESTINATIONS: &str = "us=US;in=IN;eu=EU";

fn optional(value: String) -> Option<String> {
    let value = value.trim().to_owned();
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_load() {
        let settings = Settings::load(&Env::from_pairs([])).unwrap();
        assert_eq!(settings.listen_addr, "127.0.0.1:8081");
        assert_eq!(settings.access_token_ttl_seconds, 1800);
        assert_eq!(settings.otp.per_number_hour, 5);
        assert_eq!(settings.jwt_algorithm, JwtAlgorithm::EdDsa);
    }

    #[test]
    fn production_refuses_development_secrets_short_hs256_keys_and_the_log_provider() {
        let error = |pairs: &[(&str, &str)]| {
            let mut all = vec![("APP_ENV", "production")];
            all.extend_from_slice(pairs);
            Settings::load(&Env::from_pairs(all))
                .unwrap_err()
                .to_string()
        };
        assert!(error(&[]).contains("JWT_SIGNING_KEYS"));
        let strong = [
            ("JWT_ALG", "HS256"),
            ("JWT_SIGNING_KEYS", "k1=c2hvcnQ="),
            (
                "INTERNAL_API_TOKEN",
                "an-internal-token-of-at-least-32-bytes",
            ),
            ("AUTH_SECRET_KEY", "an-auth-secret-key-of-at-least-32-bytes"),
            ("SMS_PROVIDER", "webhook"),
            ("SMS_WEBHOOK_URL", "http://sms.invalid/send"),
        ];
        assert!(error(&strong).contains("shorter than 32"));
        let mut with_log = strong.to_vec();
        with_log[1] = (
            "JWT_SIGNING_KEYS",
            "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        );
        with_log[4] = ("SMS_PROVIDER", "log");
        assert!(error(&with_log).contains("SMS_PROVIDER=log"));
        with_log[4] = ("SMS_PROVIDER", "webhook");
        assert!(error(&with_log).contains("SMS_WEBOTP_DOMAIN"));
        with_log.push(("SMS_WEBOTP_DOMAIN", "shop.example"));
        with_log.push(("SMS_DESTINATIONS", "us=*;in=IN;eu=EU"));
        assert!(error(&with_log).contains("every country"));
        with_log.pop();
        let mut all = vec![("APP_ENV", "production")];
        all.extend_from_slice(&with_log);
        assert!(Settings::load(&Env::from_pairs(all)).is_ok());
        let unlisted = [("SMS_DESTINATIONS", "us=US;eu=EU")];
        let refused = Settings::load(&Env::from_pairs(unlisted)).unwrap_err();
        assert!(refused.to_string().contains("\"in\""), "{refused}");
    }

    #[test]
    fn production_refuses_copied_development_keys_and_secrets_by_value() {
        let error = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("APP_ENV", "production"),
                ("SMS_PROVIDER", "webhook"),
                ("SMS_WEBHOOK_URL", "http://sms.invalid/send"),
                ("SMS_WEBOTP_DOMAIN", "shop.example"),
            ];
            all.extend_from_slice(pairs);
            Settings::load(&Env::from_pairs(all))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let dev_seed = format!("k2026a={}", common::keys::DEV_ED25519_SEED_B64);
        let own_seed = "k2026a=Ff7S0VlXa4hzW6oN6q5TKcHp9xOq0dO1GqDsiN7Wk3M=";
        let token = (
            "INTERNAL_API_TOKEN",
            "an-internal-token-of-at-least-32-bytes",
        );
        let secret = ("AUTH_SECRET_KEY", "an-auth-secret-key-of-at-least-32-bytes");
        assert!(
            error(&[("JWT_SIGNING_KEYS", dev_seed.as_str()), token, secret])
                .contains("development key")
        );
        assert!(
            error(&[
                ("JWT_SIGNING_KEYS", own_seed),
                token,
                ("AUTH_SECRET_KEY", DEV_AUTH_SECRET_KEY)
            ])
            .contains("AUTH_SECRET_KEY")
        );
        assert!(
            error(&[
                ("JWT_SIGNING_KEYS", own_seed),
                ("INTERNAL_API_TOKEN", DEV_INTERNAL_TOKEN),
                secret
            ])
            .contains("INTERNAL_API_TOKEN")
        );
        assert_eq!(error(&[("JWT_SIGNING_KEYS", own_seed), token, secret]), "");
    }
}
