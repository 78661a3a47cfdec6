//! A circuit breaker around the token-status call. While auth-service
//! hangs, every cache miss would otherwise wait the whole `AUTH_TIMEOUT_MS`
//! and hold a request; after `AUTH_BREAKER_FAILURES` failed calls in a row
//! the breaker opens and misses are answered `503 auth_unavailable` at once
//! for `AUTH_BREAKER_OPEN_MS`; then one call probes, and its outcome closes
//! or reopens the breaker. It never fails open: an open breaker refuses,
//! exactly as an unreachable auth-service does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    /// Set while open: calls are refused until then.
    open_until: Option<Instant>,
    /// One call is probing a half-open breaker.
    probing: bool,
}

/// The breaker refused the call without making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open;

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a call may be made now. When the open interval is over,
    /// exactly one caller is let through to probe. The permit records the
    /// call's outcome; a permit dropped unrecorded (the request was
    /// cancelled mid-call) records nothing, but an abandoned probe frees the
    /// probe's place, so the breaker never waits for it.
    pub fn admit(&self) -> Result<Permit<'_>, Open> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let probe = match state.open_until {
            None => false,
            Some(until) if Instant::now() < until => return Err(Open),
            Some(_) if state.probing => return Err(Open),
            Some(_) => {
                state.probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    /// Records the outcome of an admitted call.
    fn record(&self, succeeded: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.probing = false;
        if succeeded {
            if state.open_until.take().is_some() {
                tracing::info!("auth-service answers again: token-status breaker closed");
            }
            state.consecutive_failures = 0;
            metrics::gauge!("auth_status_breaker_open").set(0.0);
            return;
        }
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        if state.open_until.is_some() || state.consecutive_failures >= self.threshold {
            if state.open_until.is_none() {
                tracing::warn!(
                    failures = state.consecutive_failures,
                    "token-status breaker opened: auth-service is not answering"
                );
            }
            state.open_until = Some(Instant::now() + self.open_for);
            metrics::gauge!("auth_status_breaker_open").set(1.0);
        }
    }
}

/// The right to make one call; record its outcome with [`Permit::record`].
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Permit<'_> {
    pub fn record(mut self, succeeded: bool) {
        self.recorded = true;
        self.breaker.record(succeeded);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            let mut state = self.breaker.state.lock().unwrap_or_else(|e| e.into_inner());
            state.probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(breaker: &Breaker, succeeds: bool) -> Result<(), Open> {
        breaker.admit()?.record(succeeds);
        Ok(())
    }

    #[test]
    fn opens_after_the_threshold_then_lets_one_probe_through() {
        let breaker = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            assert_eq!(call(&breaker, false), Ok(()));
        }
        assert_eq!(
            call(&breaker, false),
            Ok(()),
            "still closed below the threshold"
        );
        assert_eq!(breaker.admit().err(), Some(Open), "open at the threshold");
        std::thread::sleep(Duration::from_millis(60));
        let probe = breaker.admit().expect("one probe after the interval");
        assert_eq!(
            breaker.admit().err(),
            Some(Open),
            "only one probe at a time"
        );
        probe.record(false);
        assert_eq!(breaker.admit().err(), Some(Open), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(call(&breaker, true), Ok(()), "a good probe closes");
        assert_eq!(call(&breaker, true), Ok(()));
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        assert_eq!(call(&breaker, false), Ok(()));
        assert_eq!(call(&breaker, true), Ok(()));
        assert_eq!(call(&breaker, false), Ok(()));
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn an_abandoned_probe_never_blocks_the_next_one() {
        let breaker = Breaker::new(1, Duration::from_millis(30));
        assert_eq!(call(&breaker, false), Ok(()));
        std::thread::sleep(Duration::from_millis(40));
        drop(breaker.admit().expect("the probe"));
        assert_eq!(
            call(&breaker, true),
            Ok(()),
            "the next caller probes and closes"
        );
        assert_eq!(call(&breaker, true), Ok(()));
    }

    #[test]
    fn cancelled_calls_are_not_failures() {
        let breaker = Breaker::new(1, Duration::from_secs(60));
        for _ in 0..3 {
            drop(breaker.admit().expect("closed"));
        }
        assert!(breaker.admit().is_ok(), "still closed");
    }
}
