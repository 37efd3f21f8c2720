//! DORA metrics from GitHub deployments: [`model`] holds what was collected, [`github`] collects
//! it through the REST API, [`webhook`] takes `deployment` and `deployment_status` events,
//! [`compute`] turns it into the four metrics and [`levels`] rates them.

pub mod compute;
pub mod github;
pub mod levels;
pub mod model;
pub mod serve;
pub mod webhook;
