//! Backoff for the HTTP clients (Grafana, GitHub): exponential with full jitter, capped, and a
//! server's `Retry-After` wins when it asks for longer.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before try `attempt + 1` (attempt counts from 1).
    pub fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let jittered = exp.mul_f64(rand::random_range(0.5..=1.0));
        headers
            .and_then(retry_after)
            .map_or(jittered, |asked| asked.min(self.max * 6).max(jittered))
    }
}

impl Backoff {
    /// Sends `request` as try `attempt`. A connection failure or timeout with tries left waits
    /// and answers `None`: send again.
    pub async fn send(
        &self,
        attempt: u32,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<reqwest::Response>, reqwest::Error> {
        match request.send().await {
            Ok(r) => Ok(Some(r)),
            Err(e) if attempt < self.attempts && (e.is_connect() || e.is_timeout()) => {
                tokio::time::sleep(self.delay(attempt, None)).await;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// `Retry-After` in seconds (the form Grafana and GitHub send).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_honours_retry_after() {
        let b = Backoff {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert!(b.delay(1, None) <= Duration::from_millis(100));
        assert!(b.delay(3, None) >= Duration::from_millis(200));
        assert!(b.delay(30, None) <= Duration::from_secs(1));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().expect("header"));
        assert_eq!(b.delay(1, Some(&h)), Duration::from_secs(3));
    }
}
