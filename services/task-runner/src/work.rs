//! What a task does: burn CPU on 1, 2 or 4 threads, or allocate, touch and hold memory, for a
//! random duration, on dedicated threads so the async runtime keeps polling and heartbeating.
//! Then it fails with the task's `fail_percent` chance.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rand::Rng;
use task_core::{Intensity, Kind, TaskSpec};

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The `fail_percent` draw said so.
    #[error("injected failure ({0}% chance)")]
    Injected(u8),
    #[error("attempt exceeded the task timeout of {0:?}")]
    TimedOut(Duration),
    #[error("the task's thread failed: {0}")]
    Crashed(String),
}

impl TaskError {
    /// The `error.type` of the span and the log line.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskError::Injected(_) => "injected",
            TaskError::TimedOut(_) => "timeout",
            TaskError::Crashed(_) => "crashed",
        }
    }
}

/// How long and how hard one attempt works, drawn once per attempt.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub duration: Duration,
    pub threads: usize,
    pub megabytes: usize,
    pub fails: bool,
}

impl Plan {
    pub fn draw(spec: &TaskSpec, time_scale: f64) -> Self {
        let mut rng = rand::rng();
        let (seconds, threads, megabytes) = match spec.kind {
            Kind::Cpu => {
                let threads = match spec.intensity {
                    Intensity::Light => 1,
                    Intensity::Average => 2,
                    Intensity::Intense => 4,
                };
                (rng.random_range(2.0..=5.0), threads, 0)
            }
            Kind::Ram => {
                let mb = match spec.intensity {
                    Intensity::Light => rng.random_range(1..=5),
                    Intensity::Average => rng.random_range(10..=20),
                    Intensity::Intense => rng.random_range(100..=250),
                };
                (rng.random_range(2.0..=8.0), 0, mb)
            }
        };
        Plan {
            duration: Duration::from_secs_f64(seconds * time_scale.max(0.0)),
            threads,
            megabytes,
            fails: rng.random_range(0..100u8) < spec.fail_percent,
        }
    }
}

/// Set to stop a running attempt early (timeout, shutdown past the grace period).
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs one attempt to the end (or until cancelled) on its own threads.
///
/// # Errors
/// [`TaskError::Injected`] when the draw says fail, [`TaskError::TimedOut`] after `timeout`.
pub async fn run(
    kind: Kind,
    plan: Plan,
    fail_percent: u8,
    timeout: Duration,
) -> Result<(), TaskError> {
    let cancel = Cancel::default();
    let worker = {
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || match kind {
            Kind::Cpu => burn_cpu(plan.duration, plan.threads, &cancel),
            Kind::Ram => hold_memory(plan.duration, plan.megabytes, &cancel),
        })
    };
    let _stop_on_drop = StopOnDrop(cancel.clone());
    match tokio::time::timeout(timeout, worker).await {
        Err(_) => {
            cancel.cancel();
            Err(TaskError::TimedOut(timeout))
        }
        Ok(Err(join)) => Err(TaskError::Crashed(join.to_string())),
        Ok(Ok(())) if plan.fails => Err(TaskError::Injected(fail_percent)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Stops the work threads if the attempt's future is dropped (shutdown past the grace period).
struct StopOnDrop(Cancel);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn burn_cpu(duration: Duration, threads: usize, cancel: &Cancel) {
    let deadline = Instant::now() + duration;
    std::thread::scope(|scope| {
        for seed in 0..threads.max(1) {
            scope.spawn(move || {
                let mut x = seed as u64 + 1;
                while Instant::now() < deadline && !cancel.is_cancelled() {
                    // A few thousand rounds of xorshift between clock reads: real work the
                    // optimiser cannot remove.
                    for _ in 0..4096 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                    }
                    std::hint::black_box(x);
                }
            });
        }
    });
}

fn hold_memory(duration: Duration, megabytes: usize, cancel: &Cancel) {
    let deadline = Instant::now() + duration;
    let mut block = vec![0u8; megabytes * 1024 * 1024];
    // Touch every page so the memory is really resident, not just reserved.
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&block);
    while Instant::now() < deadline && !cancel.is_cancelled() {
        std::thread::sleep(
            Duration::from_millis(5).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    drop(block);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_task_model() {
        let spec = |kind, intensity, fail| TaskSpec::new(kind, intensity, fail).unwrap();
        for _ in 0..50 {
            let cpu = Plan::draw(&spec(Kind::Cpu, Intensity::Intense, 0), 1.0);
            assert_eq!(cpu.threads, 4);
            assert!((2.0..=5.0).contains(&cpu.duration.as_secs_f64()));
            assert!(!cpu.fails);
            let ram = Plan::draw(&spec(Kind::Ram, Intensity::Average, 100), 0.01);
            assert!((10..=20).contains(&ram.megabytes));
            assert!(
                (0.02..=0.08).contains(&ram.duration.as_secs_f64()),
                "{:?}",
                ram.duration
            );
            assert!(ram.fails);
        }
    }

    #[tokio::test]
    async fn an_attempt_past_its_timeout_is_stopped() {
        let plan = Plan {
            duration: Duration::from_secs(30),
            threads: 1,
            megabytes: 0,
            fails: false,
        };
        let started = Instant::now();
        let result = run(Kind::Cpu, plan, 0, Duration::from_millis(100)).await;
        assert!(matches!(result, Err(TaskError::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
