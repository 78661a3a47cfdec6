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
    /// exactly one caller is let through to probe.
    pub fn admit(&self) -> Result<(), Open> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.open_until {
            None => Ok(()),
            Some(until) if Instant::now() < until => Err(Open),
            Some(_) if state.probing => Err(Open),
            Some(_) => {
                state.probing = true;
                Ok(())
            }
        }
    }

    /// Records the outcome of an admitted call.
    pub fn record(&self, succeeded: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_lets_one_probe_through() {
        let breaker = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            assert_eq!(breaker.admit(), Ok(()));
            breaker.record(false);
        }
        assert_eq!(breaker.admit(), Ok(()), "still closed below the threshold");
        breaker.record(false);
        assert_eq!(breaker.admit(), Err(Open), "open at the threshold");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.admit(), Ok(()), "one probe after the interval");
        assert_eq!(breaker.admit(), Err(Open), "only one probe at a time");
        breaker.record(false);
        assert_eq!(breaker.admit(), Err(Open), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.admit(), Ok(()));
        breaker.record(true);
        assert_eq!(breaker.admit(), Ok(()), "a good probe closes");
        assert_eq!(breaker.admit(), Ok(()));
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        breaker.record(false);
        breaker.record(true);
        breaker.record(false);
        assert_eq!(breaker.admit(), Ok(()));
    }
}
