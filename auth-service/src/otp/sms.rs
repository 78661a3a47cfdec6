//! SMS delivery behind one trait: `log` (development outbox), `webhook`
//! (JSON POST with timeout and retry) and `twilio`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::outbox::OutboxMessage;
use super::phone::mask;
use crate::config::SmsProvider;
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

fn message_text(code: &str) -> String {
    format!("Your verification code is {code}. It expires in 5 minutes. Never share it.")
}

/// Builds the configured provider.
pub fn from_settings(
    provider: &SmsProvider,
    store: RedisStore,
) -> anyhow::Result<Arc<dyn SmsSender>> {
    Ok(match provider {
        SmsProvider::Log => Arc::new(LogSender { store }),
        SmsProvider::Webhook {
            url,
            timeout,
            retries,
        } => Arc::new(WebhookSender {
            client: http_client(*timeout)?,
            url: url.clone(),
            retries: *retries,
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
}

impl SmsSender for WebhookSender {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let body = json!({"to": to_e164, "code": code, "message": message_text(code)});
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
}

impl SmsSender for TwilioSender {
    fn send<'a>(&'a self, to_e164: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url, self.account_sid
            );
            let text = message_text(code);
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
