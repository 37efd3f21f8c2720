//! `telemetry`: publishes the repository's dashboards to Grafana and computes DORA metrics from
//! GitHub deployments. `telemetry --help` lists the commands.

mod dora_cmd;
mod sync_dashboards;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "telemetry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish dashboards/<folder>/<name>.json to Grafana: folders from directories, datasource
    /// placeholders resolved, unchanged dashboards left alone.
    SyncDashboards(sync_dashboards::Args),
    /// DORA metrics from GitHub deployments: a report, or a webhook receiver with /metrics.
    #[command(subcommand)]
    Dora(dora_cmd::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::SyncDashboards(args) => sync_dashboards::run(args).await,
        Command::Dora(command) => dora_cmd::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
