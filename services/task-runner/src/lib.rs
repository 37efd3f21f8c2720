//! The task runner: receives task messages for its free worker slots, runs them off the async
//! runtime, keeps their messages invisible while they run, records outcomes idempotently, retries
//! failures with backoff and lets the queue dead-letter what keeps failing.
//!
//! [`runner::Runner::run`] is the loop; [`runner::Runner::process_one`] is one unit of work, which
//! tests call until the queue is empty.

pub mod events;
pub mod metrics;
pub mod runner;
pub mod server;
pub mod settings;
pub mod work;

mod deleter;
mod heartbeat;
