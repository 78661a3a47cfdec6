//! Argon2id password hashing, off the async runtime and under a concurrency
//! cap so that a flood of logins cannot starve the service.

use std::sync::Arc;
use std::time::Duration;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;

/// How long a login may wait for a hashing slot before answering 503.
const SLOT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("every password hashing slot stayed busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    slots: Arc<Semaphore>,
    /// Verified instead when the email is unknown, so that both paths cost
    /// one verification of a hash with the same parameters.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|error| anyhow::anyhow!("ARGON2_* parameters are invalid: {error}"))?;
        let mut dummy_password = [0u8; 24];
        fill_random(&mut dummy_password);
        let dummy_hash =
            hash_blocking(&params, &dummy_password).map_err(|e| anyhow::anyhow!(e.to_string()))?;
        Ok(Self {
            params,
            slots: Arc::new(Semaphore::new(settings.hash_concurrency)),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=...`) with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _slot = self.slot().await?;
        let params = self.params.clone();
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password))
            .await
            .map_err(|error| PasswordError::Hashing(error.to_string()))?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown email, phone-only account); the
    /// answer is then always `false`, after the same work.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let _slot = self.slot().await?;
        let real = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.as_bytes().to_vec();
        let matched = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).ok()?;
            Some(
                Argon2::default()
                    .verify_password(&password, &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(|error| PasswordError::Hashing(error.to_string()))?
        .unwrap_or(false);
        Ok(real && matched)
    }

    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, PasswordError> {
        match tokio::time::timeout(SLOT_WAIT, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(PasswordError::Busy),
        }
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, PasswordError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hashing(error.to_string()))
}

fn fill_random(bytes: &mut [u8]) {
    use rand::RngExt as _;
    rand::rng().fill(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&PasswordSettings {
            login_per_ip_hour: 100,
            failures_per_account_address: 10,
            failure_window_seconds: 900,
            slow_after_failures: 10,
            slow_delay: std::time::Duration::from_secs(2),
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            hash_concurrency: 2,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let hasher = hasher();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_verifies_the_dummy_hash_and_fails() {
        let hasher = hasher();
        assert!(hasher.dummy_hash.starts_with("$argon2id$"));
        assert!(!hasher.verify("anything", None).await.unwrap());
    }
}
