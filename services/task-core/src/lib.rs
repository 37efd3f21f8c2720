//! The task model and the two backends every service shares: the [`queue::Queue`] that carries
//! task messages and the [`store::TaskStore`] that records what happened to each task.
//!
//! Each trait has an embedded implementation (SQLite in WAL mode, durable on disk, safe for several
//! processes sharing one data folder) and an AWS one (SQS and DynamoDB). [`backend::Backends`]
//! opens the pair a service was configured for.

pub mod aws;
pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod intake;
pub mod model;
pub mod queue;
pub mod store;

mod clock;
mod sqlite;

pub use model::{Intensity, Kind, Status, Task, TaskMessage, TaskSpec, ValidationError};
pub use sqlite::Durability;
