//! `GET /api/stats`: counts by status, queue gauges and throughput.

use axum::{Json, extract::State};
use serde::Serialize;
use task_core::{queue::QueueStats, store::StatusCounts};

use crate::{
    error::ApiError,
    startup::AppState,
    stats::{Sample, WINDOW},
};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Throughput {
    pub window_seconds: u64,
    /// Tasks that reached `succeeded` or `dead_lettered`, per second.
    pub completed_per_second: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub tasks: StatusCounts,
    pub total: u64,
    pub queue: QueueStats,
    pub throughput: Throughput,
    /// Completed counts over the last minutes, oldest first, for a chart.
    pub history: Vec<Sample>,
}

/// Counts by status, queue depth, in flight, dead letters and throughput.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "stats",
    responses(
        (status = 200, body = Stats),
        (status = 503, description = "A backend is down", body = crate::error::ErrorBody),
    )
)]
pub async fn get_stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let (tasks, queue) = tokio::try_join!(
        async { state.backends.store.counts().await.map_err(ApiError::from) },
        async { state.backends.queue.stats().await.map_err(ApiError::from) },
    )?;
    state.history.record(&tasks);
    Ok(Json(Stats {
        total: tasks.total(),
        tasks,
        queue,
        throughput: Throughput {
            window_seconds: WINDOW.as_secs(),
            completed_per_second: state.history.throughput(),
        },
        history: state.history.samples(),
    }))
}
