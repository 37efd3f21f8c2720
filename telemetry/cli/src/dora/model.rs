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
