//! `telemetry dora report` and `telemetry dora serve`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use prometheus_client::registry::Registry;
use telemetry_cli::dora::{
    compute::{self, DAY, Summary, WINDOWS_DAYS},
    github::{self, GitHub},
    levels::Level,
    serve::{self, Service},
};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Collect the repository's deployments from the GitHub REST API and print the four DORA
    /// metrics per service and environment.
    Report(ReportArgs),
    /// Receive deployment webhooks, collect from the REST API periodically, and serve the
    /// metrics on /metrics.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct GitHubArgs {
    /// OWNER/REPO whose deployments to read.
    #[arg(long, env = "GITHUB_REPOSITORY", value_parser = parse_repo)]
    repo: String,

    /// REST API base; set for GitHub Enterprise Server (https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = github::DEFAULT_API_URL)]
    api_url: String,

    /// Token (a fine-grained token with deployments, contents, pull requests and issues read).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Only this environment (`production` covers production-api, production-task-runner, ...).
    #[arg(long)]
    environment: Option<String>,

    /// Label of incident issues; an incident names its deployment in its title or body.
    #[arg(long, env = "DORA_INCIDENT_LABEL", default_value = "incident")]
    incident_label: String,

    /// Longest wait for a rate limit to reset before giving up, in seconds.
    #[arg(long, default_value_t = 900)]
    max_rate_limit_wait: u64,
}

impl GitHubArgs {
    fn client(&self) -> GitHub {
        let mut client = GitHub::new(&self.api_url, self.token.clone());
        client.max_rate_limit_wait = Duration::from_secs(self.max_rate_limit_wait);
        client
    }
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    github: GitHubArgs,

    /// Window ending now: 7d, 30d, 90d or any number of days.
    #[arg(long, default_value = "30d", value_parser = parse_window)]
    window: i64,

    /// Compute as of this time (RFC 3339) instead of now, e.g. to reproduce a past report.
    #[arg(long, value_parser = parse_rfc3339)]
    now: Option<i64>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    github: GitHubArgs,

    /// Address for /webhooks/github, /metrics and /healthz.
    #[arg(long, env = "LISTEN", default_value = "0.0.0.0:9465")]
    listen: SocketAddr,

    /// The webhook's secret (X-Hub-Signature-256); unsigned or wrongly signed deliveries get 401.
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,

    /// Seconds between REST API collections; 0 relies on webhooks alone.
    #[arg(long, env = "DORA_COLLECT_INTERVAL", default_value_t = 900)]
    collect_interval: u64,
}

fn parse_repo(s: &str) -> Result<String, String> {
    match s.split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => Ok(s.to_owned()),
        _ => Err(format!("expected OWNER/REPO, got {s:?}")),
    }
}

fn parse_window(s: &str) -> Result<i64, String> {
    s.strip_suffix('d')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| (1..=3650).contains(n))
        .ok_or_else(|| format!("expected a number of days like 30d, got {s:?}"))
}

fn parse_rfc3339(s: &str) -> Result<i64, String> {
    github::parse_time(s).ok_or_else(|| format!("expected an RFC 3339 time, got {s:?}"))
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Report(args) => report(args).await,
        Command::Serve(args) => serve(args).await,
    }
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let now = args
        .now
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let g = &args.github;
    eprintln!(
        "Collecting deployments of {} from {} ...",
        g.repo, g.api_url
    );
    let client = g.client();
    let history = client
        .collect(
            &g.repo,
            g.environment.as_deref(),
            &g.incident_label,
            now - args.window * DAY,
            &|p| {
                eprintln!("  {p}");
            },
        )
        .await
        .with_context(|| format!("collecting deployments of {}", g.repo))?;
    let summaries = compute::compute(&history, now, &[args.window]);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else if summaries.is_empty() {
        println!(
            "No finished deployments of {} in the last {} days.",
            g.repo, args.window
        );
    } else {
        print_table(&summaries);
    }
    Ok(())
}

fn print_table(summaries: &[Summary]) {
    println!(
        "{:<14} {:<12} {:>7} {:<18} {:<22} {:<16} {:<18}",
        "SERVICE",
        "ENVIRONMENT",
        "DEPLOYS",
        "FREQUENCY",
        "LEAD TIME p50 / p75",
        "CHANGE FAILURE",
        "RECOVERY p50"
    );
    let level = |l: Option<Level>| l.map_or("-", Level::as_str);
    for s in summaries {
        println!(
            "{:<14} {:<12} {:>7} {:<18} {:<22} {:<16} {:<18}",
            s.service,
            s.environment,
            s.deployments,
            format!(
                "{:.2}/day {}",
                s.deployment_frequency_per_day,
                level(s.levels.deployment_frequency)
            ),
            format!(
                "{} / {} {}",
                duration(s.lead_time_p50_seconds),
                duration(s.lead_time_p75_seconds),
                level(s.levels.lead_time)
            ),
            format!(
                "{} {}",
                s.change_failure_rate
                    .map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
                level(s.levels.change_failure_rate)
            ),
            format!(
                "{} {}",
                duration(s.recovery_p50_seconds),
                level(s.levels.recovery_time)
            ),
        );
    }
}

/// `93000` -> `1d1h50m`.
fn duration(seconds: Option<i64>) -> String {
    let Some(s) = seconds else { return "-".into() };
    let (d, h, m) = (s / DAY, s % DAY / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h{m}m"),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init("telemetry-dora").context("starting telemetry")?;
    if args.webhook_secret.is_empty() {
        bail!("GITHUB_WEBHOOK_SECRET is empty");
    }
    let g = &args.github;
    let mut registry = Registry::default();
    let service = Service::new(
        g.repo.clone(),
        g.environment.clone(),
        g.incident_label.clone(),
        args.webhook_secret.clone().into_bytes(),
        (args.collect_interval > 0).then(|| g.client()),
        &mut registry,
    );
    let app = serve::router(service.clone(), Arc::new(registry));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(
        address = %listener.local_addr()?, repo = %g.repo, windows = ?WINDOWS_DAYS,
        "Serving /webhooks/github and /metrics."
    );
    if args.collect_interval > 0 {
        tokio::spawn(service.collect_every(Duration::from_secs(args.collect_interval)));
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(task_core::cli::shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        assert_eq!(parse_window("30d"), Ok(30));
        assert!(parse_window("30").is_err() && parse_window("0d").is_err());
        assert!(
            parse_repo("o/r").is_ok() && parse_repo("o").is_err() && parse_repo("o/r/x").is_err()
        );
        assert_eq!(duration(Some(93_000)), "1d1h50m");
        assert_eq!(duration(Some(6_900)), "1h55m");
        assert_eq!(duration(None), "-");
    }
}
