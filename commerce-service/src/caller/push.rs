//! Pushed revocations: what the `auth.*` events on the bus say about the
//! status cache, and whether the push may be trusted.
//!
//! An event marks its user or session as changed at an *epoch* (a counter
//! of applied events). A cached status is served only if nothing it depends
//! on changed after its call began, so a logout takes effect the moment its
//! event arrives, even when the answer of a call already under way comes
//! back after it.
//!
//! A positive answer may outlive the short TTL (up to the pushed TTL) only
//! while the push *vouches* for it:
//! - the subscription has not been lost since the answer was fetched, and
//! - a watermark is fresh: auth-service's outbox relay announced that every
//!   revocation committed before time W is on the stream at or before
//!   sequence S, this replica has applied the stream up to S, and W is no
//!   older than the short TTL.
//!
//! A revocation the push has not delivered is then younger than the short
//! TTL, so no answer is served for longer after a revocation than without
//! the push. A lost subscription, a gap in sequence numbers, lag, or an
//! auth-side relay that cannot publish all stop the watermark or reset the
//! trust, and the short TTL applies at once: never fail open.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use common::events::AuthEvent;
use common::events::watermark::Watermark;
use common::ids::{SessionId, UserId};

/// Changes remembered at most; past it they are all forgotten and the
/// push vouches for no earlier answer (the short TTL applies to those).
const MAX_CHANGES: usize = 1_000_000;

/// What an event changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Changed {
    User(UserId),
    Session(SessionId),
}

/// The push's state, shared by the status cache and the subscription.
#[derive(Clone)]
pub struct Push {
    inner: Arc<Inner>,
}

struct Inner {
    short_ms: i64,
    pushed_ms: i64,
    /// Events applied so far.
    epoch: AtomicU64,
    /// When (in epochs) each user or session last changed, and the unix
    /// milliseconds it was recorded (for forgetting old entries).
    changes: RwLock<HashMap<Changed, (u64, i64)>>,
    /// Unix milliseconds since which the subscription has been unbroken;
    /// `i64::MAX` while there is none.
    trusted_since_ms: AtomicI64,
    connected: AtomicBool,
    /// The last stream sequence applied (or skipped as before our time).
    applied: AtomicU64,
    /// Whether `applied` has been set: an empty stream starts at 0 too.
    started: AtomicBool,
    /// Every revocation committed before this (unix ms) has been applied.
    watermark_ms: AtomicI64,
    /// Watermarks waiting for the stream to be applied up to theirs.
    waiting: Mutex<VecDeque<(Watermark, i64)>>,
    /// When `changes` was last pruned (unix ms).
    pruned_ms: AtomicI64,
}

/// Where a status call began: the epoch and the time.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    pub epoch: u64,
    pub at_ms: i64,
}

impl Push {
    /// `short`: the TTL without a healthy push; `pushed`: with one.
    pub fn new(short: Duration, pushed: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                short_ms: short.as_millis() as i64,
                pushed_ms: pushed.as_millis().max(short.as_millis()) as i64,
                epoch: AtomicU64::new(0),
                changes: RwLock::new(HashMap::new()),
                trusted_since_ms: AtomicI64::new(i64::MAX),
                connected: AtomicBool::new(false),
                applied: AtomicU64::new(0),
                started: AtomicBool::new(false),
                watermark_ms: AtomicI64::new(i64::MIN),
                waiting: Mutex::new(VecDeque::new()),
                pruned_ms: AtomicI64::new(now_ms()),
            }),
        }
    }

    /// How long an answer may live at most (the cache entry's lifetime).
    pub fn longest(&self) -> Duration {
        Duration::from_millis(self.inner.pushed_ms as u64)
    }

    /// Taken before a status call; the answer is judged by it.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            epoch: self.inner.epoch.load(Ordering::Acquire),
            at_ms: now_ms(),
        }
    }

    /// Whether an answer fetched under `ticket` for this user and session
    /// may still be served now (see the module documentation).
    pub fn may_serve(&self, user_id: UserId, session_id: SessionId, ticket: Ticket) -> bool {
        let inner = &self.inner;
        {
            let changes = inner.changes.read().unwrap_or_else(|e| e.into_inner());
            let changed_after = |key| {
                changes
                    .get(&key)
                    .is_some_and(|(epoch, _)| *epoch > ticket.epoch)
            };
            if changed_after(Changed::User(user_id)) || changed_after(Changed::Session(session_id))
            {
                return false;
            }
        }
        let now = now_ms();
        let age = now - ticket.at_ms;
        if age <= inner.short_ms {
            return true;
        }
        age <= inner.pushed_ms && self.vouches_for(ticket.at_ms, now)
    }

    /// Whether the push is healthy now for an answer fetched at `fetched_ms`.
    fn vouches_for(&self, fetched_ms: i64, now: i64) -> bool {
        let inner = &self.inner;
        inner.connected.load(Ordering::Acquire)
            && fetched_ms >= inner.trusted_since_ms.load(Ordering::Acquire)
            && inner.watermark_ms.load(Ordering::Acquire) >= now - inner.short_ms
    }

    /// Whether the push currently lets answers outlive the short TTL.
    pub fn healthy(&self) -> bool {
        let now = now_ms();
        self.vouches_for(now, now)
    }

    /// The subscription is (again) in place, resuming after `applied`.
    pub fn subscribed(&self) {
        let inner = &self.inner;
        // A subscription resumed after a loss replays what it missed, but
        // answers fetched before the loss stay short-lived (`lost`).
        let since = inner.trusted_since_ms.load(Ordering::Acquire);
        if since == i64::MAX {
            inner.trusted_since_ms.store(now_ms(), Ordering::Release);
        }
        inner.connected.store(true, Ordering::Release);
        metrics::gauge!("revocation_push_connected").set(1.0);
    }

    /// The subscription broke, lagged past repair or skipped events: no
    /// answer fetched so far outlives the short TTL.
    pub fn lost(&self) {
        let inner = &self.inner;
        inner.connected.store(false, Ordering::Release);
        inner.trusted_since_ms.store(now_ms(), Ordering::Release);
        metrics::gauge!("revocation_push_connected").set(0.0);
    }

    /// The last stream sequence applied, once following has started (a
    /// resumed subscription goes on from there, missing nothing).
    pub fn applied(&self) -> Option<u64> {
        let inner = &self.inner;
        inner
            .started
            .load(Ordering::Acquire)
            .then(|| inner.applied.load(Ordering::Acquire))
    }

    /// Starts counting at `sequence` (the stream's last when subscribing
    /// afresh): nothing before it concerns answers fetched from now on.
    pub fn start_at(&self, sequence: u64) {
        self.inner.applied.store(sequence, Ordering::Release);
        self.inner.started.store(true, Ordering::Release);
    }

    /// Applies one event found at `sequence` of the stream (`None`: one
    /// this version cannot read). A sequence that skips ahead means events
    /// were missed, and an unreadable one may have revoked anything: either
    /// resets the trust.
    pub fn apply(&self, sequence: u64, event: Option<&AuthEvent>) {
        let inner = &self.inner;
        let expected = inner.applied.load(Ordering::Acquire) + 1;
        if sequence < expected {
            return;
        }
        if sequence > expected {
            tracing::warn!(expected, sequence, "revocation push skipped events");
            metrics::counter!("revocation_push_gaps_total").increment(1);
            self.lost();
            inner.connected.store(true, Ordering::Release);
        }
        let Some(event) = event else {
            // An event this version cannot read may have revoked anything.
            inner.trusted_since_ms.store(now_ms(), Ordering::Release);
            inner.applied.store(sequence, Ordering::Release);
            self.advance();
            return;
        };
        {
            let epoch = inner.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            let now = now_ms();
            let mut changes = inner.changes.write().unwrap_or_else(|e| e.into_inner());
            if changes.len() >= MAX_CHANGES {
                changes.retain(|_, (_, at)| *at >= now - inner.pushed_ms);
                if changes.len() >= MAX_CHANGES {
                    changes.clear();
                    inner.trusted_since_ms.store(now, Ordering::Release);
                }
            }
            let mut mark = |key| {
                changes.insert(key, (epoch, now));
            };
            match event {
                AuthEvent::SessionEnded(ended) => {
                    for session in &ended.session_ids {
                        mark(Changed::Session(*session));
                    }
                }
                other => mark(Changed::User(other.user_id())),
            }
            metrics::counter!("revocation_push_events_total").increment(1);
        }
        inner.applied.store(sequence, Ordering::Release);
        self.advance();
    }

    /// A watermark arrived (at `received_ms`, this replica's clock).
    pub fn watermark(&self, watermark: Watermark, received_ms: i64) {
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((watermark, received_ms));
        self.advance();
    }

    /// Takes up every waiting watermark the applied stream has reached.
    fn advance(&self) {
        let inner = &self.inner;
        let applied = inner.applied.load(Ordering::Acquire);
        let mut waiting = inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // Watermarks come in order of sequence per relay; several relays'
        // interleave, so look at all of them.
        let mut newest = i64::MIN;
        waiting.retain(|(watermark, received_ms)| {
            if watermark.stream_sequence <= applied {
                // A clock ahead of ours must not claim a future watermark.
                newest = newest.max(watermark.through_ms.min(*received_ms));
                false
            } else {
                true
            }
        });
        // A consumer far behind must not hoard watermarks.
        while waiting.len() > 1024 {
            waiting.pop_front();
        }
        if newest > i64::MIN {
            inner.watermark_ms.fetch_max(newest, Ordering::AcqRel);
        }
        drop(waiting);
        // Forget, now and then, changes no cached answer can depend on.
        let now = now_ms();
        let last = inner.pruned_ms.load(Ordering::Acquire);
        if now - last > inner.pushed_ms
            && inner
                .pruned_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let horizon = now - inner.pushed_ms - inner.short_ms;
            inner
                .changes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, (_, at)| *at >= horizon);
        }
    }
}

/// This replica's clock in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use common::events::{SessionEndReason, SessionsEnded, UserRef};

    use super::*;

    const USER: UserId = UserId(7);

    fn push() -> (Push, SessionId) {
        let push = Push::new(Duration::from_millis(2000), Duration::from_millis(30_000));
        push.start_at(10);
        push.subscribed();
        (push, SessionId::new())
    }

    fn fresh_watermark(push: &Push, stream_sequence: u64) {
        let watermark = Watermark {
            v: 1,
            through_ms: now_ms(),
            stream_sequence,
        };
        push.watermark(watermark, now_ms());
    }

    fn logout(session: SessionId) -> AuthEvent {
        AuthEvent::SessionEnded(SessionsEnded {
            user_id: USER,
            session_ids: vec![session],
            reason: SessionEndReason::Logout,
        })
    }

    #[test]
    fn an_event_after_the_call_began_refuses_its_answer_at_once() {
        let (push, session) = push();
        let before = push.ticket();
        assert!(push.may_serve(USER, session, before));
        push.apply(11, Some(&logout(session)));
        assert!(!push.may_serve(USER, session, before));
        // An answer fetched after the event reflects it already.
        assert!(push.may_serve(USER, session, push.ticket()));
        // A user event reaches every session of the user.
        let other = SessionId::new();
        let ticket = push.ticket();
        push.apply(
            12,
            Some(&AuthEvent::UserDeactivated(UserRef { user_id: USER })),
        );
        assert!(!push.may_serve(USER, other, ticket));
    }

    /// A push with a 50 ms short TTL, and an answer fetched after it
    /// subscribed that is now older than that.
    fn with_an_aged_answer() -> (Push, SessionId, Ticket) {
        let push = Push::new(Duration::from_millis(50), Duration::from_secs(30));
        push.start_at(10);
        push.subscribed();
        std::thread::sleep(Duration::from_millis(5));
        let answer = push.ticket();
        std::thread::sleep(Duration::from_millis(80));
        (push, SessionId::new(), answer)
    }

    #[test]
    fn past_the_short_ttl_only_an_applied_fresh_watermark_vouches() {
        let (push, session, answer) = with_an_aged_answer();
        assert!(!push.may_serve(USER, session, answer), "no watermark yet");
        // Announced, but the stream is not applied that far.
        fresh_watermark(&push, 12);
        assert!(!push.may_serve(USER, session, answer));
        push.apply(11, Some(&logout(SessionId::new())));
        push.apply(12, Some(&logout(SessionId::new())));
        assert!(push.healthy());
        assert!(push.may_serve(USER, session, answer));
        // Past the pushed TTL, never.
        let ancient = Ticket {
            at_ms: answer.at_ms - 31_000,
            ..answer
        };
        assert!(!push.may_serve(USER, session, ancient));
        // An event this version cannot read may have revoked anything.
        push.apply(13, None);
        assert!(!push.may_serve(USER, session, answer));
    }

    #[test]
    fn a_stale_watermark_a_gap_or_a_lost_subscription_brings_the_short_ttl_back() {
        let (push, session, answer) = with_an_aged_answer();
        let stale = Watermark {
            v: 1,
            through_ms: now_ms() - 60,
            stream_sequence: 10,
        };
        push.watermark(stale, now_ms());
        assert!(!push.healthy(), "older than the short TTL");
        assert!(!push.may_serve(USER, session, answer));
        fresh_watermark(&push, 10);
        assert!(push.may_serve(USER, session, answer));
        // Sequence 11 to 14 never arrived.
        push.apply(15, Some(&logout(SessionId::new())));
        fresh_watermark(&push, 15);
        assert!(
            !push.may_serve(USER, session, answer),
            "events were skipped"
        );

        let (push, session, answer) = with_an_aged_answer();
        fresh_watermark(&push, 10);
        assert!(push.may_serve(USER, session, answer));
        push.lost();
        assert!(
            !push.may_serve(USER, session, answer),
            "the subscription broke"
        );
        push.subscribed();
        fresh_watermark(&push, 10);
        assert!(
            !push.may_serve(USER, session, answer),
            "fetched before the break"
        );
        assert!(
            push.may_serve(USER, session, push.ticket()),
            "within the short TTL"
        );
    }

    #[test]
    fn an_empty_stream_resumes_from_the_start() {
        let push = Push::new(Duration::from_secs(2), Duration::from_secs(30));
        assert_eq!(push.applied(), None);
        push.start_at(0);
        assert_eq!(push.applied(), Some(0));
    }
}
