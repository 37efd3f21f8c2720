//! The runner loop and one unit of work.
//!
//! `run` receives only for free worker slots (at most ten per call, long polling), starts each
//! message at once, and on shutdown stops receiving, lets running tasks finish within the grace
//! period, hands back what is left (visibility 0) and flushes pending deletes.
//!
//! Each attempt: mark the task `running` (a task that already succeeded is a duplicate: delete
//! and skip), keep the message invisible with a heartbeat, run the work on its own threads, then
//! record `succeeded` and delete, or record the failure and make the message visible again after
//! a backoff. On the last receive the queue allows, a failure records `dead_lettered`: the next
//! receive of the message moves it to the dead-letter queue.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::trace::TraceContextExt;
use task_core::{
    Status, TaskMessage,
    queue::{MAX_BATCH, Queue, QueueError, ReceivedMessage},
    store::{Applied, TaskStore, Transition},
};
use tokio::{sync::Semaphore, task::JoinSet};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    deleter::Deleter,
    events::*,
    heartbeat,
    metrics::{Operation, RunnerMetrics},
    settings::RunnerSettings,
    work::{self, Plan, TaskError},
};

/// Back-off after a failed receive, doubling up to the cap, so an outage is neither hammered nor
/// waited out for long after it ends.
const RECEIVE_BACKOFF_START: Duration = Duration::from_millis(200);
const RECEIVE_BACKOFF_CAP: Duration = Duration::from_secs(10);

/// What one `process_one` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// A message was handled (whatever its outcome).
    Message,
    QueueEmpty,
}

/// Why the runner stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub struct Runner {
    queue: Arc<dyn Queue>,
    store: Arc<dyn TaskStore>,
    settings: RunnerSettings,
    metrics: Arc<RunnerMetrics>,
    runner_id: String,
}

impl Runner {
    pub fn new(
        queue: Arc<dyn Queue>,
        store: Arc<dyn TaskStore>,
        settings: RunnerSettings,
        metrics: Arc<RunnerMetrics>,
    ) -> Self {
        let runner_id = settings.runner_id();
        Self {
            queue,
            store,
            settings,
            metrics,
            runner_id,
        }
    }

    /// Runs until `shutdown` resolves, then drains as described in the module docs.
    ///
    /// # Errors
    /// None today: queue outages are retried with backoff, never returned.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RunnerError> {
        let this = Arc::new(self);
        let workers = this.settings.workers();
        let slots = Arc::new(Semaphore::new(workers));
        let (deleter, deleter_task) = Deleter::start(this.queue.clone(), this.metrics.clone());
        let mut running = JoinSet::new();
        let mut backoff = RECEIVE_BACKOFF_START;
        tokio::pin!(shutdown);
        tracing::info!(runner.id = %this.runner_id, workers, "Runner started.");

        loop {
            // Wait for one free slot, then take every other free one (up to a batch).
            let first = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = slots.clone().acquire_owned() => permit.expect("semaphore is never closed"),
                Some(_) = running.join_next(), if !running.is_empty() => continue,
            };
            let mut permits = vec![first];
            while permits.len() < MAX_BATCH {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let received = tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = this.queue.receive(permits.len(), this.settings.receive_wait(), this.settings.visibility()) => r,
            };
            let messages = match received {
                Ok(m) => {
                    backoff = RECEIVE_BACKOFF_START;
                    m
                }
                Err(error) => {
                    QueueOperationError {
                        operation: Operation::Receive,
                        error: &error,
                    }
                    .emit(&this.metrics);
                    drop(permits);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(RECEIVE_BACKOFF_CAP);
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            TasksReceived {
                count: messages.len(),
            }
            .emit(&this.metrics);
            // Extra permits (fewer messages than slots) are dropped here, freeing their slots.
            for (message, permit) in messages.into_iter().zip(permits) {
                let this = this.clone();
                let deleter = deleter.clone();
                running.spawn(async move {
                    let _permit = permit;
                    this.process(message, &deleter).await;
                });
            }
        }

        tracing::info!(
            running = running.len(),
            "Shutting down: no more receives; finishing running tasks."
        );
        let grace = this.settings.grace();
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            // Dropping the attempts stops their work threads; their messages become visible
            // again when their (no longer extended) visibility timeout runs out.
            tracing::warn!(
                abandoned = running.len(),
                "Grace period over; abandoning running tasks."
            );
            running.shutdown().await;
        }
        drop(deleter);
        deleter_task.flushed().await;
        tracing::info!("Runner stopped.");
        Ok(())
    }

    /// Receives one message (waiting up to a second) and handles it to the end.
    ///
    /// # Errors
    /// [`RunnerError::Queue`] when the receive fails.
    pub async fn process_one(&self) -> Result<Processed, RunnerError> {
        let mut got = self
            .queue
            .receive(1, Duration::from_secs(1), self.settings.visibility())
            .await?;
        let Some(message) = got.pop() else {
            return Ok(Processed::QueueEmpty);
        };
        TasksReceived { count: 1 }.emit(&self.metrics);
        let (deleter, task) = Deleter::start(self.queue.clone(), self.metrics.clone());
        self.process(message, &deleter).await;
        drop(deleter);
        task.flushed().await;
        Ok(Processed::Message)
    }

    async fn process(&self, message: ReceivedMessage, deleter: &Deleter) {
        let task = match TaskMessage::from_body(&message.body) {
            Ok(t) => t,
            Err(error) => {
                MessageMalformedError {
                    message_id: &message.message_id,
                    error: &error,
                }
                .emit();
                self.release(&message, Duration::ZERO, "malformed").await;
                return;
            }
        };
        let span = tracing::info_span!(
            "process",
            otel.name = format!("process {}", self.queue.name()),
            otel.kind = "consumer",
            otel.status_code = Empty,
            messaging.system = self.queue.messaging_system(),
            messaging.operation.type = "process",
            messaging.operation.name = "process",
            messaging.destination.name = self.queue.name(),
            messaging.message.id = %message.message_id,
            messaging.message.delivery_count = message.receive_count,
            task.id = %task.id,
            task.kind = %task.spec.kind,
            task.intensity = %task.spec.intensity,
            task.outcome = Empty,
            "error.type" = Empty,
        );
        if let Some(producer) = telemetry::propagation::extract_message(&message.trace) {
            // Child of the producer (one trace per task) and linked to it, as the messaging
            // conventions recommend for consumers.
            let _ = span.set_parent(
                opentelemetry::Context::new().with_remote_span_context(producer.clone()),
            );
            span.add_link(producer);
        }
        self.attempt(task, message, deleter).instrument(span).await;
    }

    async fn attempt(&self, task: TaskMessage, message: ReceivedMessage, deleter: &Deleter) {
        let attempt = message.receive_count;
        let trace_id = telemetry::propagation::task_trace_id(&tracing::Span::current().context());
        let started = Transition::Started {
            runner_id: self.runner_id.clone(),
            trace_id,
        };
        match self.store.transition(task.id, &started).await {
            Ok(Applied::Yes) => {}
            Ok(Applied::Ignored { current }) => {
                TaskDuplicateSkipped {
                    task: &task,
                    status: current.as_str(),
                }
                .emit();
                if current == Status::Succeeded || current == Status::DeadLettered {
                    deleter.delete(message.receipt);
                }
                return;
            }
            Ok(Applied::NotFound) => {
                // The task list was cleared: its messages are dropped, not run.
                TaskDuplicateSkipped {
                    task: &task,
                    status: "cleared",
                }
                .emit();
                deleter.delete(message.receipt);
                return;
            }
            Err(error) => {
                StoreUpdateError {
                    task: &task,
                    error: &error,
                }
                .emit();
                self.release(&message, self.settings.backoff(1), "store unavailable")
                    .await;
                return;
            }
        }
        TaskStarted {
            task: &task,
            attempt,
        }
        .emit();
        let _in_flight = self.metrics.task_started();
        let _heartbeat = heartbeat::start(
            self.queue.clone(),
            message.receipt.clone(),
            self.settings.visibility(),
            self.metrics.clone(),
        );
        let plan = Plan::draw(&task.spec, self.settings.time_scale);
        let clock = Instant::now();
        let result = work::run(
            task.spec.kind,
            plan,
            task.spec.fail_percent,
            self.settings.task_timeout(),
        )
        .await;
        let duration = clock.elapsed();
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let span = tracing::Span::current();
        match result {
            Ok(()) => {
                span.record("task.outcome", "succeeded");
                self.record(&task, &Transition::Succeeded { duration_ms })
                    .await;
                TaskSucceeded {
                    task: &task,
                    duration,
                }
                .emit(&self.metrics);
                deleter.delete(message.receipt);
            }
            Err(error) => self.failed(&task, &message, &error, duration).await,
        }
    }

    async fn failed(
        &self,
        task: &TaskMessage,
        message: &ReceivedMessage,
        error: &TaskError,
        duration: Duration,
    ) {
        let attempt = message.receive_count;
        let last = attempt >= self.queue.max_receive_count();
        let span = tracing::Span::current();
        span.record("error.type", error.kind());
        span.record("otel.status_code", "ERROR");
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.record(
            task,
            &Transition::Failed {
                error: error.to_string(),
                duration_ms,
                dead_lettered: last,
            },
        )
        .await;
        if last {
            span.record("task.outcome", "dead_lettered");
            TaskDeadLettered {
                task,
                attempt,
                error,
                duration,
            }
            .emit(&self.metrics);
            // Visible at once: the next receive moves it to the dead-letter queue.
            self.release(message, Duration::ZERO, "dead-lettered").await;
        } else {
            span.record("task.outcome", "failed");
            let backoff = self.settings.backoff(attempt);
            TaskFailed {
                task,
                attempt,
                error,
                duration,
                backoff,
            }
            .emit(&self.metrics);
            self.release(message, backoff, "retry backoff").await;
        }
    }

    async fn record(&self, task: &TaskMessage, transition: &Transition) {
        if let Err(error) = self.store.transition(task.id, transition).await {
            StoreUpdateError {
                task,
                error: &error,
            }
            .emit();
        }
    }

    /// Makes a message visible again after `delay`.
    async fn release(&self, message: &ReceivedMessage, delay: Duration, reason: &'static str) {
        match self.queue.change_visibility(&message.receipt, delay).await {
            Ok(()) => TaskReleased {
                message_id: &message.message_id,
                reason,
            }
            .emit(&self.metrics),
            Err(error) => QueueOperationError {
                operation: Operation::Release,
                error: &error,
            }
            .emit(&self.metrics),
        }
    }
}
