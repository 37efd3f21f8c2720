//! Completed-task history for the throughput figure and chart of `GET /api/stats`.
//!
//! Each stats request (and a background sampler, so history exists when nobody watches) records
//! the completed count; throughput is the change over the last minute.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use task_core::{model::Millis, store::StatusCounts};

/// How long samples are kept: the chart's width.
const KEEP: Duration = Duration::from_secs(15 * 60);
/// Samples closer together than this replace each other.
const MIN_SPACING_MS: i64 = 2_000;
/// The throughput window.
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct Sample {
    pub at: Millis,
    pub succeeded: u64,
    pub dead_lettered: u64,
}

#[derive(Default)]
pub struct History {
    // A std Mutex: never held across an .await.
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn record(&self, counts: &StatusCounts) {
        let now = Millis::now();
        let sample = Sample {
            at: now,
            succeeded: counts.succeeded,
            dead_lettered: counts.dead_lettered,
        };
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Counts only grow, except when the list is cleared: start again then.
        if samples.back().is_some_and(|last| {
            last.succeeded > sample.succeeded || last.dead_lettered > sample.dead_lettered
        }) {
            samples.clear();
        }
        if samples
            .back()
            .is_some_and(|last| now.0 - last.at.0 < MIN_SPACING_MS)
            && samples.len() > 1
        {
            samples.pop_back();
        }
        samples.push_back(sample);
        let horizon = now.0 - KEEP.as_millis() as i64;
        while samples.front().is_some_and(|s| s.at.0 < horizon) {
            samples.pop_front();
        }
    }

    /// Completed tasks per second over the last [`WINDOW`] (or as much history as there is).
    pub fn throughput(&self) -> f64 {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (Some(last), Some(_)) = (samples.back(), samples.front()) else {
            return 0.0;
        };
        let start = last.at.0 - WINDOW.as_millis() as i64;
        let Some(first) = samples.iter().find(|s| s.at.0 >= start) else {
            return 0.0;
        };
        let seconds = (last.at.0 - first.at.0) as f64 / 1000.0;
        if seconds <= 0.0 {
            return 0.0;
        }
        let done = |s: &Sample| (s.succeeded + s.dead_lettered) as f64;
        (done(last) - done(first)) / seconds
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }
}
