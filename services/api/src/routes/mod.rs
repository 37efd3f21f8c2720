//! The routes, one module per resource. Each handler carries its OpenAPI description, so the
//! served document and the router come from the same list (see `openapi::router`).

pub mod health;
pub mod stats;
pub mod tasks;
