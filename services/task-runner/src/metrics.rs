//! Every metric the runner exposes, registered once. Names follow the OpenTelemetry semantic
//! conventions as Prometheus names where one exists; `prometheus-client` adds `_total` and the
//! unit suffix. Label values come from closed sets (enums' `as_str`), so cardinality is bounded.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use task_core::{
    Intensity, Kind,
    queue::{Queue, QueueStats},
};

/// Task durations span 20 ms (scaled tests) to minutes.
const PROCESS_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 30.0, 60.0,
];

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Failed; the message goes back to the queue for a retry.
    Failed,
    /// Failed on the last receive the queue allows.
    DeadLettered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

/// A queue call the runner makes.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    Receive,
    Delete,
    ExtendVisibility,
    Release,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Receive => "receive",
            Operation::Delete => "delete",
            Operation::ExtendVisibility => "change_visibility",
            Operation::Release => "release",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    task_kind: &'static str,
    task_intensity: &'static str,
    task_outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessLabels {
    messaging_system: &'static str,
    messaging_destination_name: String,
    messaging_operation_name: &'static str,
    task_kind: &'static str,
    /// Empty on success, as the conventions leave `error.type` unset.
    error_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    messaging_system: &'static str,
    messaging_destination_name: String,
    messaging_operation_name: &'static str,
    error_type: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct RunnerMetrics {
    runs: Family<RunLabels, Counter>,
    process_duration: HistogramFamily<ProcessLabels>,
    operations: Family<OperationLabels, Counter>,
    consumed: Family<OperationLabels, Counter>,
    in_flight: Gauge,
    slots: Gauge,
    queue: telemetry::metrics::QueueGauges,
    system: &'static str,
    destination: String,
}

impl RunnerMetrics {
    pub fn register(registry: &mut Registry, queue: &dyn Queue, workers: usize) -> Self {
        let (system, destination) = (queue.messaging_system(), queue.name());
        let m = Self {
            runs: Family::default(),
            process_duration: Family::new_with_constructor(|| Histogram::new(PROCESS_BUCKETS)),
            operations: Family::default(),
            consumed: Family::default(),
            in_flight: Gauge::default(),
            slots: Gauge::default(),
            queue: telemetry::metrics::QueueGauges::register(registry, destination),
            system,
            destination: destination.to_owned(),
        };
        m.slots.set(workers as i64);
        registry.register(
            "task_runs",
            "Task attempts by kind, intensity and outcome",
            m.runs.clone(),
        );
        registry.register_with_unit(
            "messaging_process_duration",
            "Duration of processing one task message",
            Unit::Seconds,
            m.process_duration.clone(),
        );
        registry.register(
            "messaging_client_consumed_messages",
            "Task messages received from the queue",
            m.consumed.clone(),
        );
        registry.register(
            "runner_queue_operations",
            "Queue calls of the runner by operation, with error_type on failures",
            m.operations.clone(),
        );
        registry.register(
            "runner_tasks_in_flight",
            "Tasks running now",
            m.in_flight.clone(),
        );
        registry.register(
            "runner_worker_slots",
            "Tasks this runner may run at once",
            m.slots.clone(),
        );
        m
    }

    pub fn run(&self, kind: Kind, intensity: Intensity, outcome: Outcome) {
        let labels = RunLabels {
            task_kind: kind.as_str(),
            task_intensity: intensity.as_str(),
            task_outcome: outcome.as_str(),
        };
        self.runs.get_or_create(&labels).inc();
    }

    pub fn processed(&self, kind: Kind, error_type: &'static str, seconds: f64) {
        let labels = ProcessLabels {
            messaging_system: self.system,
            messaging_destination_name: self.destination.clone(),
            messaging_operation_name: "process",
            task_kind: kind.as_str(),
            error_type,
        };
        self.process_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    pub fn operation(&self, op: Operation, error_type: &'static str) {
        self.operations
            .get_or_create(&self.op_labels(op.as_str(), error_type))
            .inc();
    }

    pub fn consumed(&self, n: usize) {
        self.consumed
            .get_or_create(&self.op_labels("receive", ""))
            .inc_by(n as u64);
    }

    fn op_labels(&self, name: &'static str, error_type: &'static str) -> OperationLabels {
        OperationLabels {
            messaging_system: self.system,
            messaging_destination_name: self.destination.clone(),
            messaging_operation_name: name,
            error_type,
        }
    }

    /// Counts a running task until the guard drops.
    pub fn task_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn queue_sampled(&self, stats: &QueueStats) {
        self.queue.set(stats);
    }
}

pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
