//! The benchmark's SMS provider: auth-service runs with
//! `SMS_PROVIDER=webhook` pointed here, as it runs in production against
//! a provider's API, and the logins take their codes from this sink. So a
//! measured login is what a customer's is (send-code, including the call
//! to the provider, then verify-code), not a third request to the
//! development outbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;

/// The last code sent to each number, until a login takes it.
#[derive(Clone, Default)]
pub struct SmsSink {
    codes: Arc<Mutex<HashMap<String, String>>>,
}

/// What `WebhookSender` posts.
#[derive(Deserialize)]
struct Sms {
    to: String,
    code: String,
}

impl SmsSink {
    /// Serves the sink on a free port of 127.0.0.1 (in the current tokio
    /// runtime); answers its webhook URL.
    pub async fn start() -> anyhow::Result<(Self, String)> {
        let sink = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/sms", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/sms", post(receive))
            .with_state(sink.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok((sink, url))
    }

    /// The code last sent to `e164` (auth-service has called the webhook
    /// before it answers send-code, so the code is here by then).
    pub fn take(&self, e164: &str) -> anyhow::Result<String> {
        self.codes
            .lock()
            .map_err(|_| anyhow::anyhow!("the SMS sink's lock is poisoned"))?
            .remove(e164)
            .with_context(|| format!("no code was sent to {e164}"))
    }
}

async fn receive(State(sink): State<SmsSink>, Json(sms): Json<Sms>) {
    if let Ok(mut codes) = sink.codes.lock() {
        codes.insert(sms.to, sms.code);
    }
}
