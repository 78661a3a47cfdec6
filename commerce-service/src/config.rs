//! Typed settings, read once at start from the variables of DESIGN.md's table.

use std::time::Duration;

use anyhow::ensure;
use common::client_ip::ClientAddressing;
use common::config::{AppEnv, Env};
use common::events::BusSettings;
use common::keys::{DEV_KID, JwtAlgorithm, KeyBytes, MIN_HS256_SECRET_BYTES, parse_keyring};
use secrecy::{ExposeSecret, SecretString};

/// Where the development database is.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/commerce";

/// Development value of `INTERNAL_API_TOKEN`; production refuses it.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token";

#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub listen_addr: String,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub database_acquire_timeout: Duration,
    pub request_timeout: Duration,
    /// How long readiness reports "stopping" before the server drains.
    pub shutdown_grace: Duration,
    /// Apply migrations when serving starts (development, compose); with
    /// `false` they run as their own step and serving only checks them.
    pub migrate_on_start: bool,
    pub jwt_algorithm: JwtAlgorithm,
    pub verify_keys: Vec<(String, KeyBytes)>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_leeway_seconds: u64,
    /// auth-service's access-token lifetime: no token may claim more.
    pub access_token_ttl_seconds: u64,
    pub internal_api_token: SecretString,
    pub auth_url: String,
    /// Lifetime of a positive token-status answer; zero disables the cache.
    pub status_cache_ttl: Duration,
    /// Its lifetime while the revocation push is healthy.
    pub status_cache_pushed_ttl: Duration,
    pub auth_timeout: Duration,
    /// Consecutive failed token-status calls that open the breaker.
    pub auth_breaker_failures: u32,
    /// How long an open breaker answers `503 auth_unavailable` at once
    /// before one call probes auth-service again.
    pub auth_breaker_open: Duration,
    pub pending_order_ttl: Duration,
    pub max_pending_orders: i64,
    pub max_held_units_per_sku: i64,
    /// How often the expiry task looks for overdue pending orders.
    pub expiry_sweep_interval: Duration,
    pub default_market: String,
    /// Idle time after which a guest cart is gone (each use pushes it back).
    pub guest_cart_ttl: Duration,
    /// Guest carts one client address may create per hour (0: no limit).
    pub guest_carts_per_ip_hour: u32,
    /// How often expired guest carts and past creation windows are swept.
    pub guest_sweep_interval: Duration,
    /// `TRUSTED_PROXIES` and `RATE_LIMIT_IPV6_PREFIX`, as in auth-service.
    pub client_addressing: ClientAddressing,
    /// The event bus (`NATS_URL`); none: no pushed revocations (the short
    /// status TTL only) and no events.
    pub bus: Option<BusSettings>,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::load(&Env::system())
    }

    pub fn load(env: &Env) -> anyhow::Result<Self> {
        let app_env = env.app_env()?;
        let jwt_algorithm = JwtAlgorithm::parse(&env.string("JWT_ALG", "EdDSA"))?;
        let (keys_spec, keys_defaulted) =
            env.secret("JWT_VERIFY_KEYS", &jwt_algorithm.dev_verify_spec())?;
        let verify_keys = parse_keyring(keys_spec.expose_secret(), "JWT_VERIFY_KEYS")?;
        let (internal_api_token, internal_defaulted) =
            env.secret("INTERNAL_API_TOKEN", DEV_INTERNAL_TOKEN)?;
        let (database_url, _) = env.secret("DATABASE_URL", DEFAULT_DATABASE_URL)?;
        let settings = Self {
            app_env,
            listen_addr: env.string("LISTEN_ADDR", "127.0.0.1:8082"),
            database_url,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 20)?,
            database_acquire_timeout: Duration::from_millis(
                env.parse("DATABASE_ACQUIRE_TIMEOUT_MS", 3000)?,
            ),
            request_timeout: Duration::from_millis(env.parse("REQUEST_TIMEOUT_MS", 15_000)?),
            shutdown_grace: Duration::from_millis(env.parse("SHUTDOWN_GRACE_MS", 0)?),
            migrate_on_start: env.parse("MIGRATE_ON_START", true)?,
            jwt_algorithm,
            verify_keys,
            jwt_issuer: env.string("JWT_ISSUER", "auth-service"),
            jwt_audience: env.string("JWT_AUDIENCE", "shop-api"),
            jwt_leeway_seconds: env.parse("JWT_LEEWAY_SECONDS", 30)?,
            access_token_ttl_seconds: env.parse("ACCESS_TOKEN_TTL_SECONDS", 1800)?,
            internal_api_token,
            auth_url: env
                .string("AUTH_URL", "http://127.0.0.1:8081")
                .trim_end_matches('/')
                .to_owned(),
            status_cache_ttl: Duration::from_millis(env.parse("STATUS_CACHE_TTL_MS", 2000)?),
            status_cache_pushed_ttl: Duration::from_millis(
                env.parse("STATUS_CACHE_PUSHED_TTL_MS", 30_000)?,
            ),
            auth_timeout: Duration::from_millis(env.parse("AUTH_TIMEOUT_MS", 500)?),
            auth_breaker_failures: env.parse("AUTH_BREAKER_FAILURES", 5)?,
            auth_breaker_open: Duration::from_millis(env.parse("AUTH_BREAKER_OPEN_MS", 2000)?),
            pending_order_ttl: Duration::from_secs(env.parse("PENDING_ORDER_TTL_SECONDS", 86_400)?),
            max_pending_orders: env.parse("MAX_PENDING_ORDERS", 10)?,
            max_held_units_per_sku: env.parse("MAX_HELD_UNITS_PER_SKU", 20)?,
            expiry_sweep_interval: Duration::from_millis(env.parse("EXPIRY_SWEEP_MS", 30_000)?),
            default_market: env.string("DEFAULT_MARKET", "us").to_ascii_lowercase(),
            guest_cart_ttl: Duration::from_secs(env.parse("GUEST_CART_TTL_SECONDS", 2_592_000)?),
            guest_carts_per_ip_hour: env.parse("GUEST_CARTS_PER_IP_HOUR", 60)?,
            guest_sweep_interval: Duration::from_millis(env.parse("GUEST_CART_SWEEP_MS", 60_000)?),
            client_addressing: ClientAddressing::from_env(env)?,
            bus: BusSettings::from_env(env)?,
        };
        ensure!(
            common::market::is_well_formed(&settings.default_market),
            "DEFAULT_MARKET must be a market code such as us"
        );
        ensure!(
            settings.auth_timeout >= Duration::from_millis(10),
            "AUTH_TIMEOUT_MS must be at least 10"
        );
        ensure!(
            settings.auth_breaker_failures >= 1,
            "AUTH_BREAKER_FAILURES must be at least 1"
        );
        ensure!(
            settings.max_pending_orders >= 1,
            "MAX_PENDING_ORDERS must be at least 1"
        );
        ensure!(
            (1..=31_536_000).contains(&settings.guest_cart_ttl.as_secs()),
            "GUEST_CART_TTL_SECONDS must be from 1 to 31536000 (a year)"
        );
        ensure!(
            settings.guest_sweep_interval >= Duration::from_millis(10),
            "GUEST_CART_SWEEP_MS must be at least 10"
        );
        ensure!(
            settings.max_held_units_per_sku >= 1,
            "MAX_HELD_UNITS_PER_SKU must be at least 1"
        );
        ensure!(
            settings
                .auth_url
                .split(',')
                .map(str::trim)
                .all(|url| url.starts_with("http://") || url.starts_with("https://")),
            "AUTH_URL must be an http(s) URL, or several separated by commas"
        );
        if app_env.is_production() {
            ensure!(
                !keys_defaulted,
                "APP_ENV=production refuses the development JWT_VERIFY_KEYS"
            );
            ensure!(
                settings.verify_keys.iter().all(|(kid, _)| kid != DEV_KID),
                "APP_ENV=production refuses the development key id"
            );
            ensure!(
                !internal_defaulted,
                "APP_ENV=production refuses the development INTERNAL_API_TOKEN"
            );
            let token = settings.internal_api_token.expose_secret();
            ensure!(
                token.len() >= 32 && token != DEV_INTERNAL_TOKEN,
                "INTERNAL_API_TOKEN must be at least 32 bytes in production, and not the development one"
            );
            for (kid, KeyBytes(bytes)) in &settings.verify_keys {
                ensure!(
                    !common::keys::is_development_key(bytes),
                    "APP_ENV=production refuses the development key, here under the key id {kid:?}"
                );
            }
            if jwt_algorithm == JwtAlgorithm::Hs256 {
                for (kid, KeyBytes(secret)) in &settings.verify_keys {
                    ensure!(
                        secret.len() >= MIN_HS256_SECRET_BYTES,
                        "JWT_VERIFY_KEYS: HS256 secret {kid:?} is shorter than {MIN_HS256_SECRET_BYTES} bytes"
                    );
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_load_and_production_refuses_them() {
        let settings = Settings::load(&Env::from_pairs([])).unwrap();
        assert_eq!(settings.listen_addr, "127.0.0.1:8082");
        assert_eq!(settings.status_cache_ttl, Duration::from_secs(2));
        assert_eq!(settings.auth_timeout, Duration::from_millis(500));
        assert_eq!(settings.max_pending_orders, 10);
        let error = Settings::load(&Env::from_pairs([("APP_ENV", "production")])).unwrap_err();
        assert!(error.to_string().contains("JWT_VERIFY_KEYS"));
    }

    #[test]
    fn production_refuses_copied_development_keys_and_tokens_by_value() {
        let error = |pairs: &[(&str, &str)]| {
            let mut all = vec![("APP_ENV", "production")];
            all.extend_from_slice(pairs);
            Settings::load(&Env::from_pairs(all))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let dev_public = format!("k2026a={}", common::keys::DEV_ED25519_PUBLIC_B64);
        let own_public = "k2026a=Ff7S0VlXa4hzW6oN6q5TKcHp9xOq0dO1GqDsiN7Wk3M=";
        let strong_token = "an-internal-token-of-at-least-32-bytes";
        assert!(
            error(&[
                ("JWT_VERIFY_KEYS", dev_public.as_str()),
                ("INTERNAL_API_TOKEN", strong_token)
            ])
            .contains("development key")
        );
        assert!(
            error(&[
                ("JWT_VERIFY_KEYS", own_public),
                ("INTERNAL_API_TOKEN", "dev-internal-token")
            ])
            .contains("INTERNAL_API_TOKEN")
        );
        assert_eq!(
            error(&[
                ("JWT_VERIFY_KEYS", own_public),
                ("INTERNAL_API_TOKEN", strong_token)
            ]),
            ""
        );
    }
}
