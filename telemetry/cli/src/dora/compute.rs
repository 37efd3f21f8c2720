//! The four DORA metrics per service, environment and window, from a [`History`].
//!
//! Definitions (docs/dora.md has the long form):
//! - deployment frequency: successful deployments in the window / days in the window;
//! - lead time for changes: for each commit, author date -> the first successful deployment of
//!   that service and environment containing it (nearest-rank median and p75);
//! - change failure rate: finished deployments that failed, were rolled back or caused an
//!   incident / all finished deployments;
//! - failed deployment recovery time: failure -> the next successful deployment of the same
//!   service and environment (nearest-rank median).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{
    levels::{self, Level},
    model::{Deployment, History, split_environment},
};

pub const DAY: i64 = 86_400;
/// The windows `dora serve` exports.
pub const WINDOWS_DAYS: [i64; 3] = [7, 30, 90];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Levels {
    pub deployment_frequency: Option<Level>,
    pub lead_time: Option<Level>,
    pub change_failure_rate: Option<Level>,
    pub recovery_time: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub environment: String,
    pub service: String,
    pub window_days: i64,
    /// Finished (succeeded or failed) deployments created in the window.
    pub deployments: usize,
    pub successful: usize,
    pub failed_changes: usize,
    pub deployment_frequency_per_day: f64,
    pub lead_time_p50_seconds: Option<i64>,
    pub lead_time_p75_seconds: Option<i64>,
    /// Pull request merge -> deployment, for commits that are merge commits of a PR.
    pub merge_to_deploy_p50_seconds: Option<i64>,
    pub change_failure_rate: Option<f64>,
    pub recovery_p50_seconds: Option<i64>,
    /// Failures in the window not followed by a successful deployment yet.
    pub unrecovered: usize,
    pub levels: Levels,
}

/// One service and environment's deployments, digested once for every window.
struct Digest<'a> {
    environment: &'a str,
    service: &'a str,
    /// created_at of finished deployments.
    finished: Vec<i64>,
    /// succeeded_at, ascending.
    successes: Vec<i64>,
    /// (deployment created_at, failure start).
    failures: Vec<(i64, i64)>,
    /// (deployment succeeded_at, lead time).
    leads: Vec<(i64, i64)>,
    merges: Vec<(i64, i64)>,
}

/// Summaries for every service and environment in `history`, for each window ending at `now`.
pub fn compute(history: &History, now: i64, windows: &[i64]) -> Vec<Summary> {
    let incident_deployments: HashSet<u64> = history
        .incidents
        .iter()
        .filter_map(|i| i.deployment_id)
        .collect();
    let mut groups: HashMap<&str, Vec<&Deployment>> = HashMap::new();
    for d in history.deployments.iter().filter(|d| d.finished()) {
        groups.entry(&d.github_environment).or_default().push(d);
    }
    let mut digests: Vec<Digest> = groups
        .into_iter()
        .map(|(env, mut deployments)| {
            deployments.sort_by_key(|d| (d.created_at, d.id));
            digest(env, &deployments, history, &incident_deployments)
        })
        .collect();
    digests.sort_by(|a, b| (a.environment, a.service).cmp(&(b.environment, b.service)));
    digests
        .iter()
        .flat_map(|d| windows.iter().map(move |&w| summarise(d, now, w)))
        .collect()
}

fn digest<'a>(
    github_environment: &'a str,
    deployments: &[&Deployment],
    history: &History,
    incident_deployments: &HashSet<u64>,
) -> Digest<'a> {
    let (environment, service) = split_environment(github_environment);
    let mut succeeded: Vec<&Deployment> = deployments
        .iter()
        .copied()
        .filter(|d| d.succeeded_at.is_some())
        .collect();
    succeeded.sort_by_key(|d| (d.succeeded_at, d.id));

    // A success of a sha an earlier success shipped, with other shas in between, rolls those
    // back: they count as failed changes from the moment they went live.
    let mut rolled_back: HashSet<u64> = HashSet::new();
    let mut last_index_of: HashMap<&str, usize> = HashMap::new();
    for (k, d) in succeeded.iter().enumerate() {
        if let Some(&j) = last_index_of.get(d.sha.as_str())
            && j + 1 < k
        {
            rolled_back.extend(
                succeeded[j + 1..k]
                    .iter()
                    .filter(|b| b.sha != d.sha)
                    .map(|b| b.id),
            );
        }
        last_index_of.insert(&d.sha, k);
    }

    let mut failures = Vec::new();
    for d in deployments {
        let start = match (d.failed_at, d.succeeded_at) {
            (Some(failed), _) => Some(failed),
            (None, Some(live))
                if rolled_back.contains(&d.id) || incident_deployments.contains(&d.id) =>
            {
                Some(live)
            }
            _ => None,
        };
        if let Some(start) = start {
            failures.push((d.created_at, start));
        }
    }

    // Lead times: each commit once, at the first success that contains it. The first success
    // has no predecessor to compare with, so its commits (possibly years of history) are not
    // counted.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut leads = Vec::new();
    let mut merges = Vec::new();
    for d in succeeded.iter().skip(1) {
        let Some(at) = d.succeeded_at else { continue };
        for c in history.changes.get(&d.id).into_iter().flatten() {
            if !seen.insert(&c.sha) {
                continue;
            }
            leads.push((at, (at - c.authored_at).max(0)));
            if let Some(merged) = history.merges.get(&c.sha) {
                merges.push((at, (at - merged).max(0)));
            }
        }
    }

    Digest {
        environment,
        service,
        finished: deployments.iter().map(|d| d.created_at).collect(),
        successes: succeeded.iter().filter_map(|d| d.succeeded_at).collect(),
        failures,
        leads,
        merges,
    }
}

fn summarise(d: &Digest, now: i64, window_days: i64) -> Summary {
    let from = now - window_days * DAY;
    let inside = |t: i64| t > from && t <= now;
    let deployments = d.finished.iter().filter(|&&t| inside(t)).count();
    let successful = d.successes.iter().filter(|&&t| inside(t)).count();
    let failures: Vec<i64> = d
        .failures
        .iter()
        .filter(|(created, _)| inside(*created))
        .map(|&(_, start)| start)
        .collect();
    let mut recoveries = Vec::new();
    let mut unrecovered = 0;
    for start in &failures {
        // The first success strictly after the failure started.
        let next = d.successes.partition_point(|&s| s <= *start);
        match d.successes.get(next) {
            Some(&fixed) => recoveries.push(fixed - start),
            None => unrecovered += 1,
        }
    }
    let window = |samples: &[(i64, i64)]| -> Vec<i64> {
        samples
            .iter()
            .filter(|(at, _)| inside(*at))
            .map(|&(_, v)| v)
            .collect()
    };
    let mut leads = window(&d.leads);
    let mut merges = window(&d.merges);
    let lead_p50 = percentile(&mut leads, 0.5);
    let recovery_p50 = percentile(&mut recoveries, 0.5);
    let frequency = successful as f64 / window_days as f64;
    let cfr = (deployments > 0).then(|| failures.len() as f64 / deployments as f64);
    Summary {
        environment: d.environment.to_owned(),
        service: d.service.to_owned(),
        window_days,
        deployments,
        successful,
        failed_changes: failures.len(),
        deployment_frequency_per_day: frequency,
        lead_time_p50_seconds: lead_p50,
        lead_time_p75_seconds: percentile(&mut leads, 0.75),
        merge_to_deploy_p50_seconds: percentile(&mut merges, 0.5),
        change_failure_rate: cfr,
        recovery_p50_seconds: recovery_p50,
        unrecovered,
        levels: Levels {
            deployment_frequency: Some(levels::deployment_frequency(frequency)),
            lead_time: lead_p50.map(|s| levels::lead_time(s as f64)),
            change_failure_rate: cfr.map(levels::change_failure_rate),
            recovery_time: recovery_p50.map(|s| levels::recovery_time(s as f64)),
        },
    }
}

/// Nearest-rank percentile: the smallest sample with at least `q` of the samples at or below
/// it (always a real observation).
fn percentile(samples: &mut [i64], q: f64) -> Option<i64> {
    if samples.is_empty() {
        return None;
    }
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    let (_, nth, _) = samples.select_nth_unstable(rank - 1);
    Some(*nth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v = vec![5, 1, 3, 2, 4, 6];
        assert_eq!(percentile(&mut v, 0.5), Some(3));
        assert_eq!(percentile(&mut v, 0.75), Some(5));
        assert_eq!(percentile(&mut [], 0.5), None);
        assert_eq!(percentile(&mut [7], 0.75), Some(7));
    }
}
