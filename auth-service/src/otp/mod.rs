//! Logging in by SMS code: codes are drawn (`code.rs`), kept hashed in
//! Redis with their attempts and cooldown (`store.rs`), limited per number,
//! client IP, country and in total (`limits.rs`, every send and verify
//! limit in one place), delivered by a provider (`sms.rs`) or, in
//! development, to the outbox (`outbox.rs`). Numbers are parsed by
//! `phone.rs`. [`Otp::send_code`] and [`log_in`] are the use cases.

pub mod breaker;
pub mod challenge;
pub mod code;
pub mod destinations;
pub mod firewall;
pub mod limits;
pub mod outbox;
pub mod phone;
pub mod sms;
pub mod store;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use self::breaker::{BreakerState, Event};
use self::challenge::{Challenge, ChallengeResponse, ChallengeVerifier, ProofOfWork};
use self::code::generate_code;
use self::destinations::Destinations;
use self::firewall::Clock;
use self::limits::{SendLimits, SendOutcome, VerifyLimits, VerifyOutcome};
use self::outbox::OutboxMessage;
use self::phone::{Phone, PhoneError};
use self::sms::{SmsError, SmsSender};
use crate::accounts::users;
use crate::config::OtpSettings;
use crate::error::ApiError;
use crate::secrets::ServerKeys;
use crate::sessions::{Sessions, TokenPair};
use crate::store::{RedisStore, StoreError};

/// The phone-code feature: what it needs and nothing else; cheap to clone.
#[derive(Clone)]
pub struct Otp {
    store: RedisStore,
    sms: Arc<dyn SmsSender>,
    keys: ServerKeys,
    settings: Arc<OtpSettings>,
    /// ISO codes numbers may come from; empty allows every country.
    countries: Arc<[String]>,
    /// Per market, the countries codes may be sent to.
    destinations: Arc<Destinations>,
    /// Now, for the budgets' days and the breaker's window.
    clock: Clock,
    /// What `send-code` asks of a client when the firewall is wary.
    challenges: Arc<dyn ChallengeVerifier>,
    /// Numbers parsed lately, by their input: a login parses the same
    /// number at send and at verify, and libphonenumber's validation
    /// (regular expressions per number type) was a tenth of a login's CPU.
    parsed: moka::sync::Cache<String, Result<Phone, PhoneError>>,
}

/// How many parsed numbers [`Otp`] keeps (about 300 bytes each with the
/// cache's own bookkeeping): the last minutes of sends at a busy shop's
/// rate, so that most verifies find their number.
const PARSED_NUMBERS_KEPT: u64 = 8_192;

/// Why a code was not sent or not accepted (the HTTP answer is chosen by
/// `error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("over a send or verify limit; retry in {0} s")]
    RateLimited(u64),
    #[error("wrong code")]
    Wrong {
        /// The last attempt allowed: the code is now void.
        burnt: bool,
    },
    #[error("no live code for this number")]
    NoLiveCode,
    #[error("too many wrong codes; a new code may be sent in {0} s")]
    Locked(u64),
    #[error("too many wrong codes for this number today; retry in {0} s")]
    CappedForToday(u64),
    #[error("solve the challenge and send again")]
    ChallengeRequired(Box<Challenge>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sms(#[from] SmsError),
}

/// The answer to a send: how long the code lives and when to resend.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    pub expires_in: u64,
    pub resend_after: u64,
}

/// A right code, used up by the check: what is needed to give it back.
#[derive(Debug)]
pub struct AcceptedCode {
    digest: String,
    ttl_ms: u64,
}

/// A request for a code, its fields already parsed.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    pub phone: &'a Phone,
    pub client_ip: IpAddr,
    /// The market the login is for (its destination countries apply).
    pub market: &'a str,
    /// A solved challenge, if the client was asked for one.
    pub challenge: Option<&'a ChallengeResponse>,
}

/// A phone login attempt, its fields already parsed.
#[derive(Debug)]
pub struct PhoneLogin<'a> {
    pub phone: &'a Phone,
    pub code: &'a str,
    pub client_ip: IpAddr,
    pub market: &'a str,
    pub device_name: Option<&'a str>,
}

impl Otp {
    pub fn new(
        store: RedisStore,
        sms: Arc<dyn SmsSender>,
        keys: ServerKeys,
        settings: OtpSettings,
        countries: &[String],
        destinations: Destinations,
    ) -> Self {
        let challenges = Arc::new(ProofOfWork::new(
            keys.clone(),
            store.clone(),
            settings.firewall.challenge.difficulty,
            settings.firewall.challenge.ttl_seconds,
        ));
        Self {
            store,
            sms,
            keys,
            settings: Arc::new(settings),
            countries: countries.into(),
            destinations: Arc::new(destinations),
            clock: Clock::system(),
            challenges,
            // Least recently used out: the entry that matters is the one a
            // send made a moment ago for its verify (moka's default
            // admission would turn away a new number when the cache is
            // full of numbers seen as often).
            parsed: moka::sync::Cache::builder()
                .max_capacity(PARSED_NUMBERS_KEPT)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
        }
    }

    /// The same feature reading another clock (tests cross day boundaries).
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// A number as a request wrote it, checked against the allowed countries.
    pub fn parse_phone(&self, input: &str) -> Result<Phone, PhoneError> {
        if input.len() > phone::MAX_INPUT_BYTES {
            return Err(PhoneError::Invalid);
        }
        self.parsed
            .get_with_by_ref(input, || Phone::parse(input, &self.countries))
    }

    /// Sends a fresh code for a login in the request's market, within every
    /// limit; a resend voids the previous code. The answer does not tell
    /// whether the number has an account, nor whether a code was sent: the
    /// firewall's silent rules (destinations, number ranges, the breaker's
    /// trickle, the daily budgets) drop a send with the answer of a sent
    /// one. It may ask for a challenge instead (`ChallengeRequired`).
    pub async fn send_code(&self, request: SendRequest<'_>) -> Result<CodeSent, OtpError> {
        let SendRequest {
            phone,
            client_ip,
            market,
            challenge,
        } = request;
        let ip_sends =
            limits::check_send_budgets(&self.store, &self.settings, phone, client_ip).await?;
        let answer = CodeSent {
            expires_in: self.settings.code_ttl_seconds,
            resend_after: self.settings.resend_seconds,
        };
        let rules = &self.settings.firewall;
        let now = self.clock.now();
        let open = breaker::check(&self.store, &rules.breaker, phone.country(), now).await?
            == BreakerState::Open;
        let proven = self
            .challenge_gate(phone, (client_ip, ip_sends), challenge, open, now)
            .await?;
        // The number's own limits (resend cooldown, hourly cap) apply to
        // every send alike, dropped or not: were a dropped send to leave
        // no cooldown, a repeat would tell it apart from a sent one.
        let code = generate_code();
        let digest = self.keys.code_digest(phone.e164(), &code);
        let limits = SendLimits::from(self.settings.as_ref());
        if let SendOutcome::Refused(wait) =
            self.store.store_code(phone.e164(), &digest, limits).await?
        {
            metrics::counter!("otp_sends_refused_total", "reason" => "otp-number").increment(1);
            return Err(OtpError::RateLimited(wait));
        }
        if !self.destinations.allows(market, phone.country()) {
            count_send(phone, "destination_refused");
            tracing::info!(
                country = phone.country(),
                market,
                "no code sent: the number is outside its market's destination countries"
            );
            return Ok(answer);
        }
        if open && !proven {
            let trickle = self
                .store
                .hit(
                    "sms-trickle",
                    phone.country(),
                    rules.breaker.trickle_per_minute,
                    60,
                )
                .await?;
            if trickle.is_err() || rules.breaker.trickle_per_minute == 0 {
                count_send(phone, "breaker_held");
                return Ok(answer);
            }
        }
        if let Err(dropped) = firewall::check_range(&self.store, rules, phone).await? {
            count_send(phone, dropped.label());
            return Ok(answer);
        }
        // Last, so that the budgets count only what is sent.
        if let Err(dropped) = firewall::spend_budget(&self.store, rules, phone, now).await? {
            count_send(phone, dropped.label());
            return Ok(answer);
        }
        self.sms.send(phone.e164(), &code).await?;
        metrics::counter!("otp_sends_total").increment(1);
        count_send(phone, "sent");
        self.count_for_breaker(phone, Event::Sent).await;
        Ok(answer)
    }

    /// Counts a sent or verified code in its country's breaker window. Only
    /// bookkeeping: the SMS is already sent, the code already used, so a
    /// failure here is logged and must not fail the request.
    async fn count_for_breaker(&self, phone: &Phone, event: Event) {
        let breaker = &self.settings.firewall.breaker;
        let now = self.clock.now();
        if let Err(error) = breaker::record(&self.store, breaker, phone.country(), event, now).await
        {
            tracing::warn!(%error, ?event, "the SMS breaker could not count a code");
        }
    }

    /// Whether the client proved itself with a solved challenge; asks for
    /// one (`Err`) when the breaker is open or the address (with its sends
    /// this hour) or the number's range is hot, unless the address is
    /// exempt.
    async fn challenge_gate(
        &self,
        phone: &Phone,
        (client_ip, ip_sends): (IpAddr, u64),
        response: Option<&ChallengeResponse>,
        breaker_open: bool,
        now: time::OffsetDateTime,
    ) -> Result<bool, OtpError> {
        let rules = &self.settings.firewall;
        if rules
            .challenge
            .exempt
            .iter()
            .any(|net| net.contains(&client_ip))
        {
            return Ok(false);
        }
        if let Some(response) = response
            && self.challenges.verify(phone, response, now).await?
        {
            return Ok(true);
        }
        let wary = breaker_open || firewall::is_hot(&self.store, rules, phone, ip_sends).await?;
        if wary {
            count_send(phone, "challenged");
            return Err(OtpError::ChallengeRequired(Box::new(
                self.challenges.issue(phone, now),
            )));
        }
        Ok(false)
    }

    /// Checks a presented code under the per-IP verify limit; a right code
    /// is used up (see [`Otp::give_back`]).
    pub async fn verify_code(
        &self,
        phone: &Phone,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<AcceptedCode, OtpError> {
        limits::check_verify_budget(&self.store, &self.settings, client_ip).await?;
        let digest = self.keys.code_digest(phone.e164(), code);
        let outcome = self
            .store
            .check_code(
                phone.e164(),
                &digest,
                VerifyLimits::from(self.settings.as_ref()),
            )
            .await?;
        metrics::counter!("otp_verifications_total", "outcome" => outcome.label()).increment(1);
        match outcome {
            VerifyOutcome::Accepted(ttl_ms) => {
                self.count_for_breaker(phone, Event::Verified).await;
                Ok(AcceptedCode { digest, ttl_ms })
            }
            VerifyOutcome::Wrong => Err(OtpError::Wrong { burnt: false }),
            VerifyOutcome::WrongAndBurnt => {
                metrics::counter!("otp_codes_locked_total").increment(1);
                Err(OtpError::Wrong { burnt: true })
            }
            VerifyOutcome::NoLiveCode => Err(OtpError::NoLiveCode),
            VerifyOutcome::Locked(wait) => Err(OtpError::Locked(wait)),
            VerifyOutcome::Capped(wait) => Err(OtpError::CappedForToday(wait)),
        }
    }

    /// Puts a used-up code back when the login it was for could not be
    /// finished because a dependency failed, so the customer retries with
    /// the same code instead of paying for another SMS. A code sent since
    /// wins; a failure to put it back only costs that retry.
    pub async fn give_back(&self, phone: &Phone, accepted: &AcceptedCode) {
        match self
            .store
            .give_back_code(phone.e164(), &accepted.digest, accepted.ttl_ms)
            .await
        {
            Ok(restored) => tracing::info!(
                restored,
                "a used code was offered back after a failed login"
            ),
            Err(error) => tracing::warn!(%error, "a used code could not be given back"),
        }
    }

    /// Whether codes go to the development outbox (`SMS_PROVIDER=log`);
    /// with a real provider the outbox does not exist.
    pub fn has_dev_outbox(&self) -> bool {
        self.sms.has_dev_outbox()
    }

    /// Development only: the codes sent to a number, newest first.
    pub async fn dev_outbox(&self, phone: &Phone) -> Result<Vec<OutboxMessage>, StoreError> {
        self.store.read_outbox(phone.e164()).await
    }
}

/// Counts what became of one send, by destination country.
fn count_send(phone: &Phone, outcome: &'static str) {
    metrics::counter!(
        "sms_sends_total",
        "country" => phone.country().to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Exchanges a right code for a session; the user is created on first login.
pub async fn log_in(
    otp: &Otp,
    db: &PgPool,
    sessions: &Sessions,
    login: PhoneLogin<'_>,
) -> Result<TokenPair, ApiError> {
    let accepted = otp
        .verify_code(login.phone, login.code, login.client_ip)
        .await?;
    let finished = async {
        let user = users::find_or_create_by_phone(db, login.phone.e164(), login.market).await?;
        if !user.is_active {
            return Err(common::Problem::user_inactive().into());
        }
        tracing::info!(user_id = user.id.0, phone = %login.phone.masked(), "phone login");
        sessions.start(user, login.market, login.device_name).await
    }
    .await;
    if let Err(error) = &finished
        && error.is_outage()
    {
        otp.give_back(login.phone, &accepted).await;
    }
    finished
}
