//! Helpers to read typed settings once, at start, from the environment (or
//! from a map in tests). A malformed variable fails fast and names itself.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, bail};
use secrecy::SecretString;

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where settings come from: the process environment, or a fixed map.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    /// The process environment.
    pub fn system() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// A fixed set of variables (tests); everything else is unset.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
        }
    }

    /// A variable's value when set and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A variable's value, or `default` when unset or blank.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A variable parsed as `T`, or `default` when unset.
    pub fn parse<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<T>()
                .map_err(|error| anyhow::anyhow!("{name}={text:?} is invalid: {error}")),
        }
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE` (Docker
    /// and Kubernetes secrets), or `default`. The flag tells whether the
    /// development default was used, so production can refuse it.
    pub fn secret(&self, name: &str, default: &str) -> anyhow::Result<(SecretString, bool)> {
        if let Some(path) = self.optional(&format!("{name}_FILE")) {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{name}_FILE: cannot read {path}"))?;
            return Ok((SecretString::from(text.trim().to_owned()), false));
        }
        match self.optional(name) {
            Some(value) => Ok((SecretString::from(value), false)),
            None => Ok((SecretString::from(default.to_owned()), true)),
        }
    }

    /// A comma-separated list; blank entries are dropped.
    pub fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.string(name, default)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `APP_ENV`: `development` (default) or `production`.
    pub fn app_env(&self) -> anyhow::Result<AppEnv> {
        match self.string("APP_ENV", "development").as_str() {
            "development" | "dev" | "test" => Ok(AppEnv::Development),
            "production" | "prod" => Ok(AppEnv::Production),
            other => bail!("APP_ENV must be development or production, not {other:?}"),
        }
    }
}

/// `APP_ENV`: production refuses development keys and secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn values_defaults_and_errors_name_the_variable() {
        let env = Env::from_pairs([
            ("PORT", "80"),
            ("BAD", "x"),
            ("LIST", "a, ,b"),
            ("BLANK", "  "),
        ]);
        assert_eq!(env.parse("PORT", 1u16).unwrap(), 80);
        assert_eq!(env.parse("MISSING", 7u16).unwrap(), 7);
        assert_eq!(env.string("BLANK", "d"), "d");
        let error = env.parse("BAD", 1u16).unwrap_err().to_string();
        assert!(error.contains("BAD"), "{error}");
        assert_eq!(env.list("LIST", ""), ["a", "b"]);
        let (secret, defaulted) = env.secret("TOKEN", "dev").unwrap();
        assert_eq!((secret.expose_secret(), defaulted), ("dev", true));
        assert!(env.app_env().unwrap() == AppEnv::Development);
    }
}
