//! What the DORA metrics are computed from: deployments with their statuses, the commits each
//! successful deployment brought, and incidents. Times are Unix seconds.

use std::collections::HashMap;

use serde::Serialize;

/// A GitHub deployment of one service to one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    /// The GitHub environment, `<environment>-<service>` by the deploy workflow's convention.
    pub github_environment: String,
    pub created_at: i64,
    /// When a `success` status was posted.
    pub succeeded_at: Option<i64>,
    /// When a `failure` or `error` status was posted (and no success).
    pub failed_at: Option<i64>,
}

impl Deployment {
    /// Applies one deployment status. GitHub marks older deployments `inactive` when a newer one
    /// succeeds, so the outcome is the first success or failure, not the latest status.
    pub fn apply_status(&mut self, state: &str, at: i64) {
        match state {
            "success" if self.succeeded_at.is_none() => {
                self.succeeded_at = Some(at);
                self.failed_at = None;
            }
            "failure" | "error" if self.succeeded_at.is_none() && self.failed_at.is_none() => {
                self.failed_at = Some(at);
            }
            _ => {}
        }
    }

    pub fn finished(&self) -> bool {
        self.succeeded_at.is_some() || self.failed_at.is_some()
    }
}

/// `production-api` -> (`production`, `api`); a name without `-` is its own environment of
/// service `all`.
pub fn split_environment(github_environment: &str) -> (&str, &str) {
    github_environment
        .split_once('-')
        .unwrap_or((github_environment, "all"))
}

/// A commit a deployment brought, with its author date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub sha: String,
    pub authored_at: i64,
}

/// A GitHub issue with the incident label, linked to the deployment that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub number: u64,
    pub created_at: i64,
    pub deployment_id: Option<u64>,
}

/// Everything collected for one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    pub deployments: Vec<Deployment>,
    /// Deployment id -> commits between the previous successful deployment of the same
    /// environment and this one. Missing for a deployment with no predecessor.
    pub changes: HashMap<u64, Vec<Commit>>,
    /// Merge commit sha -> when its pull request was merged.
    pub merges: HashMap<String, i64>,
    pub incidents: Vec<Incident>,
}

/// Deployments kept per environment from before a window (see [`window_with_bases`]).
const KEPT_BEFORE_WINDOW: usize = 5;

/// The deployments created after `since`, plus the last few before it in each GitHub
/// environment: the window's first success is compared with the last success before it, and a
/// rollback is recognised by a sha shipped earlier. Sorted by creation.
pub fn window_with_bases(mut deployments: Vec<Deployment>, since: i64) -> Vec<Deployment> {
    deployments.sort_by_key(|d| (d.created_at, d.id));
    let mut before: HashMap<&str, usize> = HashMap::new();
    let mut keep = vec![false; deployments.len()];
    for (i, d) in deployments.iter().enumerate().rev() {
        if d.created_at > since {
            keep[i] = true;
        } else {
            let n = before.entry(&d.github_environment).or_default();
            keep[i] = *n < KEPT_BEFORE_WINDOW;
            *n += 1;
        }
    }
    deployments
        .into_iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(d))
        .collect()
}

impl History {
    /// Forgets what no window ending now or later can use: deployments older than `since` beyond
    /// the few kept as bases, their commits, and older incidents. Keeps a long-running receiver's
    /// memory bounded.
    pub fn trim(&mut self, since: i64) {
        self.deployments = window_with_bases(std::mem::take(&mut self.deployments), since);
        let kept: std::collections::HashSet<u64> = self.deployments.iter().map(|d| d.id).collect();
        self.changes.retain(|id, _| kept.contains(id));
        self.incidents.retain(|i| i.created_at > since);
    }
}

/// Finds the deployment an incident names: `deployments/<id>` (an API or web URL) or
/// `deployment <id>` / `deployment #<id>` / `deployment: <id>` in its title or body.
pub fn linked_deployment(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    for marker in ["deployments/", "deployment"] {
        for (i, _) in lower.match_indices(marker) {
            let rest = lower[i + marker.len()..].trim_start_matches([' ', ':', '#']);
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(id) = digits.parse() {
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_split_at_the_first_dash() {
        assert_eq!(split_environment("production-api"), ("production", "api"));
        assert_eq!(split_environment("dev-task-runner"), ("dev", "task-runner"));
        assert_eq!(split_environment("production"), ("production", "all"));
    }

    #[test]
    fn incidents_link_by_url_or_words() {
        assert_eq!(
            linked_deployment("See https://api.github.com/repos/o/r/deployments/42"),
            Some(42)
        );
        assert_eq!(linked_deployment("Caused by Deployment #105"), Some(105));
        assert_eq!(linked_deployment("deployment: 7 broke it"), Some(7));
        assert_eq!(linked_deployment("the deployment went badly"), None);
    }

    fn deployment(id: u64, env: &str, created_at: i64) -> Deployment {
        Deployment {
            id,
            sha: format!("s{id}"),
            github_environment: env.into(),
            created_at,
            succeeded_at: Some(created_at + 1),
            failed_at: None,
        }
    }

    #[test]
    fn trimming_keeps_the_window_and_a_few_bases_per_environment() {
        let mut h = History::default();
        for i in 0..20 {
            h.deployments.push(deployment(i, "dev-api", i as i64 * 10));
            h.changes.insert(i, Vec::new());
        }
        h.deployments.push(deployment(100, "production-api", 5));
        h.incidents.push(Incident {
            number: 1,
            created_at: 50,
            deployment_id: Some(3),
        });
        h.trim(150);
        let ids: Vec<u64> = h.deployments.iter().map(|d| d.id).collect();
        // 16..19 are after 150; 11..15 are the five bases; production keeps its only one.
        assert_eq!(ids, [100, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
        assert_eq!(h.changes.len(), 9);
        assert!(h.incidents.is_empty());
    }

    #[test]
    fn inactive_after_success_keeps_the_success() {
        let mut d = Deployment {
            id: 1,
            sha: "a".into(),
            github_environment: "dev-api".into(),
            created_at: 0,
            succeeded_at: None,
            failed_at: None,
        };
        d.apply_status("in_progress", 1);
        d.apply_status("success", 2);
        d.apply_status("inactive", 3);
        assert_eq!((d.succeeded_at, d.failed_at), (Some(2), None));
    }
}
