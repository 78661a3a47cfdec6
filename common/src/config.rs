//! Helpers to read typed settings from the environment once, at start. A
//! missing or malformed variable fails fast and names the variable.

use std::str::FromStr;

use anyhow::{Context, bail};
use secrecy::SecretString;

/// `APP_ENV`: production refuses development keys and secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    pub fn from_env() -> anyhow::Result<Self> {
        match string("APP_ENV", "development").as_str() {
            "development" | "dev" | "test" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => bail!("APP_ENV must be development or production, not {other:?}"),
        }
    }

    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

/// A variable's value, or `default` when unset or empty.
pub fn string(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => default.to_owned(),
    }
}

/// A variable's value when set and not empty.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A variable parsed as `T`, or `default` when unset.
pub fn parse<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<T>()
            .map_err(|error| anyhow::anyhow!("{name}={text:?} is invalid: {error}")),
    }
}

/// A secret from `NAME`, or from the file named by `NAME_FILE` (Docker and
/// Kubernetes secrets), or `default`. Whether the default was used is
/// returned so production can refuse development secrets.
pub fn secret(name: &str, default: &str) -> anyhow::Result<(SecretString, bool)> {
    if let Some(path) = optional(&format!("{name}_FILE")) {
        let text = std::fs::read_to_string(&path).with_context(|| format!("{name}_FILE: reading {path}"))?;
        return Ok((SecretString::from(text.trim().to_owned()), false));
    }
    match optional(name) {
        Some(value) => Ok((SecretString::from(value), false)),
        None => Ok((SecretString::from(default.to_owned()), true)),
    }
}

/// A comma-separated list; empty entries are dropped.
pub fn list(name: &str, default: &str) -> Vec<String> {
    string(name, default)
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}
