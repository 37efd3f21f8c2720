//! GitHub's `deployment` and `deployment_status` webhooks: signature check (X-Hub-Signature-256,
//! HMAC-SHA256 of the raw body, compared in constant time), redelivery detection
//! (X-GitHub-Delivery) and the change each event makes to a [`History`].

use std::collections::{HashSet, VecDeque};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{
    github::parse_time,
    model::{Deployment, History},
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing X-Hub-Signature-256")]
    Unsigned,
    #[error("X-Hub-Signature-256 does not match the body")]
    BadSignature,
    #[error("not JSON: {0}")]
    Json(String),
    #[error("{event} event without {field}")]
    Missing { event: String, field: &'static str },
}

/// Checks `sha256=<hex>` against the body. `Mac::verify_slice` compares in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<(), WebhookError> {
    let signature = signature.ok_or(WebhookError::Unsigned)?;
    let given = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| WebhookError::BadSignature)
}

/// `sha256=<hex>` for `body`, as GitHub signs it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivery ids already handled; the oldest are forgotten past `capacity`.
pub struct Deliveries {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Deliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True the first time `id` is seen.
    pub fn first_time(&mut self, id: &str) -> bool {
        if !self.seen.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// What an accepted event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A deployment or status was recorded; a success may need its commits fetched.
    Deployment { id: u64, succeeded: bool },
    /// An event or action these metrics do not use (pings, other events).
    Ignored,
}

/// Applies a `deployment` or `deployment_status` event to `history`. Events of other repositories
/// than `repo` (when given) are ignored.
pub fn apply(
    history: &mut History,
    event: &str,
    body: &[u8],
    repo: Option<&str>,
) -> Result<Applied, WebhookError> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Json(e.to_string()))?;
    if event != "deployment" && event != "deployment_status" {
        return Ok(Applied::Ignored);
    }
    if repo.is_some_and(|r| payload["repository"]["full_name"].as_str() != Some(r)) {
        return Ok(Applied::Ignored);
    }
    let missing = |field| WebhookError::Missing {
        event: event.to_owned(),
        field,
    };
    let d = &payload["deployment"];
    let id = d["id"].as_u64().ok_or_else(|| missing("deployment.id"))?;
    let index = match history.deployments.iter().position(|x| x.id == id) {
        Some(i) => i,
        None => {
            history.deployments.push(Deployment {
                id,
                sha: d["sha"]
                    .as_str()
                    .ok_or_else(|| missing("deployment.sha"))?
                    .to_owned(),
                github_environment: d["environment"]
                    .as_str()
                    .ok_or_else(|| missing("deployment.environment"))?
                    .to_owned(),
                created_at: d["created_at"]
                    .as_str()
                    .and_then(parse_time)
                    .ok_or_else(|| missing("deployment.created_at"))?,
                succeeded_at: None,
                failed_at: None,
            });
            history.deployments.len() - 1
        }
    };
    let deployment = &mut history.deployments[index];
    if event == "deployment_status" {
        let s = &payload["deployment_status"];
        let state = s["state"]
            .as_str()
            .ok_or_else(|| missing("deployment_status.state"))?;
        let at = s["created_at"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| missing("deployment_status.created_at"))?;
        deployment.apply_status(state, at);
    }
    Ok(Applied::Deployment {
        id,
        succeeded: deployment.succeeded_at.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let sig = sign(b"secret", b"body");
        assert_eq!(verify(b"secret", b"body", Some(&sig)), Ok(()));
        assert_eq!(
            verify(b"other", b"body", Some(&sig)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"secret", b"body!", Some(&sig)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"secret", b"body", None),
            Err(WebhookError::Unsigned)
        );
        assert_eq!(
            verify(b"secret", b"body", Some("sha1=abc")),
            Err(WebhookError::BadSignature)
        );
        // GitHub's documented example (docs.github.com, "Validating webhook deliveries").
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn redeliveries_are_recognised() {
        let mut d = Deliveries::new(2);
        assert!(d.first_time("a"));
        assert!(!d.first_time("a"));
        assert!(d.first_time("b"));
        assert!(d.first_time("c"));
        assert!(d.first_time("a"), "forgotten past capacity");
    }
}
