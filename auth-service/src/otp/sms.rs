//! SMS delivery behind one trait: `log` (development outbox), `webhook`
//! (JSON POST with timeout and retry) and `twilio`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use common::config::Env;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::outbox::OutboxMessage;
use super::phone::mask;
use crate::store::RedisStore;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS provider could not be reached or refused the message: {0}")]
    Provider(String),
}

/// Sends a code to a number.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a>;
    /// Whether the development outbox endpoint may exist.
    fn has_dev_outbox(&self) -> bool {
        false
    }
}

/// Where codes go.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// Development: log a masked number and keep the code in the dev outbox.
    Log,
    /// POST `{"to", "code", "message"}` to a URL.
    Webhook {
        url: String,
        timeout: Duration,
        retries: u32,
    },
    /// Twilio's Messages API.
    Twilio {
        account_sid: String,
        auth_token: SecretString,
        from: String,
        base_url: String,
        timeout: Duration,
    },
}

impl SmsProvider {
    /// `SMS_PROVIDER` and its settings.
    pub fn from_env(env: &Env) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(env.parse("SMS_TIMEOUT_MS", 3000)?);
        match env.string("SMS_PROVIDER", "log").as_str() {
            "log" => Ok(Self::Log),
            "webhook" => Ok(Self::Webhook {
                url: env
                    .optional("SMS_WEBHOOK_URL")
                    .context("SMS_PROVIDER=webhook needs SMS_WEBHOOK_URL")?,
                timeout,
                retries: env.parse("SMS_WEBHOOK_RETRIES", 2)?,
            }),
            "twilio" => Ok(Self::Twilio {
                account_sid: env
                    .optional("TWILIO_ACCOUNT_SID")
                    .context("SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID")?,
                auth_token: {
                    let (token, defaulted) = env.secret("TWILIO_AUTH_TOKEN", "")?;
                    ensure!(!defaulted, "SMS_PROVIDER=twilio needs TWILIO_AUTH_TOKEN");
                    token
                },
                from: env
                    .optional("TWILIO_FROM")
                    .context("SMS_PROVIDER=twilio needs TWILIO_FROM")?,
                base_url: env.string("TWILIO_BASE_URL", "https://api.twilio.com"),
                timeout,
            }),
            other => bail!("SMS_PROVIDER must be log, webhook or twilio, not {other:?}"),
        }
    }
}

/// The words of a code's SMS. Origin-bound: the last line is
/// `@<domain> #<code>` (WebOTP on the web, iOS and Android autofill), so
/// the app fills the code in itself and a browser offers it only to the
/// shop's own domain, never to a phishing page. With an Android app hash
/// (SMS Retriever) configured, it stands on the line before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsText {
    domain: Option<String>,
    android_app_hash: Option<String>,
}

impl SmsText {
    /// `domain` is a host name (`SMS_WEBOTP_DOMAIN`), `android_app_hash`
    /// the 11 characters Android's SMS Retriever computes for the app.
    pub fn new(domain: Option<String>, android_app_hash: Option<String>) -> anyhow::Result<Self> {
        if let Some(domain) = &domain {
            anyhow::ensure!(
                is_host_name(domain),
                "SMS_WEBOTP_DOMAIN must be a host name such as shop.example"
            );
        }
        if let Some(hash) = &android_app_hash {
            anyhow::ensure!(
                hash.len() == 11
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
                "SMS_ANDROID_APP_HASH must be the 11 characters of the app's SMS Retriever hash"
            );
        }
        Ok(Self {
            domain,
            android_app_hash,
        })
    }

    /// Whether the text carries the `@domain #code` line.
    pub fn is_origin_bound(&self) -> bool {
        self.domain.is_some()
    }

    pub fn render(&self, code: &str) -> String {
        let mut text =
            format!("Your verification code is {code}. It expires in 5 minutes. Never share it.");
        if self.domain.is_some() || self.android_app_hash.is_some() {
            text.push('\n');
        }
        if let Some(hash) = &self.android_app_hash {
            text.push('\n');
            text.push_str(hash);
        }
        if let Some(domain) = &self.domain {
            text.push_str(&format!("\n@{domain} #{code}"));
        }
        text
    }
}

fn is_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Builds the configured provider.
pub fn from_settings(
    provider: &SmsProvider,
    text: SmsText,
    store: RedisStore,
) -> anyhow::Result<Arc<dyn SmsSender>> {
    Ok(match provider {
        SmsProvider::Log => Arc::new(LogSender { store, text }),
        SmsProvider::Webhook {
            url,
            timeout,
            retries,
        } => Arc::new(WebhookSender {
            client: http_client(*timeout)?,
            url: url.clone(),
            retries: *retries,
            text,
        }),
        SmsProvider::Twilio {
            account_sid,
            auth_token,
            from,
            base_url,
            timeout,
        } => Arc::new(TwilioSender {
            client: http_client(*timeout)?,
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
            from: from.clone(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            text,
        }),
    })
}

fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()?)
}

/// Development: logs that a code went to a masked number and keeps the
/// message in the Redis outbox for the dev-only internal endpoint.
pub struct LogSender {
    store: RedisStore,
    text: SmsText,
}

impl SmsSender for LogSender {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let sent_at = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let message = OutboxMessage {
                to: to_e164.to_owned(),
                code: code.to_owned(),
                message: self.text.render(code),
                sent_at,
            };
            self.store
                .push_outbox(&message)
                .await
                .map_err(|error| SmsError::Provider(error.to_string()))?;
            tracing::info!(to = %mask(to_e164), "verification code written to the development outbox");
            Ok(())
        })
    }

    fn has_dev_outbox(&self) -> bool {
        true
    }
}

/// POSTs `{"to", "code", "message"}` to a URL; retries 5xx and transport
/// errors with a short backoff.
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    retries: u32,
    text: SmsText,
}

impl SmsSender for WebhookSender {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let body = json!({"to": to_e164, "code": code, "message": self.text.render(code)});
            let mut last_error = String::new();
            for attempt in 0..=self.retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                match self.client.post(&self.url).json(&body).send().await {
                    Ok(response) if response.status().is_success() => {
                        tracing::info!(to = %mask(to_e164), attempt, "verification code handed to the SMS webhook");
                        return Ok(());
                    }
                    Ok(response) if response.status().is_client_error() => {
                        return Err(SmsError::Provider(format!(
                            "webhook answered {}",
                            response.status()
                        )));
                    }
                    Ok(response) => last_error = format!("webhook answered {}", response.status()),
                    Err(error) => last_error = error.without_url().to_string(),
                }
            }
            Err(SmsError::Provider(last_error))
        })
    }
}

/// Twilio's Messages API (form POST with basic auth).
pub struct TwilioSender {
    client: reqwest::Client,
    account_sid: String,
    auth_token: SecretString,
    from: String,
    base_url: String,
    text: SmsText,
}

impl SmsSender for TwilioSender {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url, self.account_sid
            );
            let text = self.text.render(code);
            let form = [
                ("To", to_e164),
                ("From", self.from.as_str()),
                ("Body", text.as_str()),
            ];
            let response = self
                .client
                .post(url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .form(&form)
                .send()
                .await
                .map_err(|error| SmsError::Provider(error.without_url().to_string()))?;
            if response.status().is_success() {
                tracing::info!(to = %mask(to_e164), "verification code handed to Twilio");
                Ok(())
            } else {
                Err(SmsError::Provider(format!(
                    "twilio answered {}",
                    response.status()
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_ends_with_the_origin_bound_line() {
        let bound = SmsText::new(Some("shop.example".into()), Some("FA+9qCX9VSu".into())).unwrap();
        let text = bound.render("123456");
        assert!(text.starts_with("Your verification code is 123456."));
        assert!(
            text.ends_with("\n\nFA+9qCX9VSu\n@shop.example #123456"),
            "{text}"
        );
        let plain = SmsText::new(None, None).unwrap().render("123456");
        assert!(!plain.contains('@') && !plain.contains('\n'));
        for bad in [
            "Shop.example",
            "shop..example",
            "-shop.example",
            "shop example",
            "",
        ] {
            assert!(SmsText::new(Some(bad.into()), None).is_err(), "{bad:?}");
        }
        assert!(SmsText::new(None, Some("short".into())).is_err());
    }
}
