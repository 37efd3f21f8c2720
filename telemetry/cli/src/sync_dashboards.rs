//! `telemetry sync-dashboards`: flags, the token's lifetime, progress and the report.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Context, bail};
use telemetry_cli::dashboards::{
    grafana::Grafana,
    source,
    sync::{self, Action, Options, Outcome, Report},
    workspace::Session,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment whose Managed Grafana workspace to publish to (found by the
    /// `task-platform:environment` tag Terraform sets). Uses the standard AWS credentials.
    #[arg(
        long,
        required_unless_present = "grafana_url",
        conflicts_with = "grafana_url"
    )]
    workspace: Option<String>,

    /// Publish to this Grafana instead (any Grafana 9+), with the token in GRAFANA_TOKEN.
    #[arg(long, env = "GRAFANA_URL")]
    grafana_url: Option<String>,

    /// Service-account token for --grafana-url.
    #[arg(
        long,
        env = "GRAFANA_TOKEN",
        hide_env_values = true,
        requires = "grafana_url"
    )]
    grafana_token: Option<String>,

    /// The dashboards folder: one subfolder per Grafana folder.
    #[arg(long, default_value = "dashboards")]
    dir: PathBuf,

    /// Show what would change, as a diff, and write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Also delete dashboards this command published earlier that are no longer in the folder.
    #[arg(long)]
    prune: bool,

    /// Which datasource a placeholder means when the type alone does not tell: NAME=uid-or-name,
    /// e.g. DS_PROMETHEUS=amp-dev. Repeatable.
    #[arg(long = "datasource", value_parser = parse_pair)]
    datasources: Vec<(String, String)>,

    /// Lifetime of the minted token, in seconds (at most 3600). It is deleted when the sync ends.
    #[arg(long, default_value_t = 900)]
    token_ttl: i32,

    /// Version message stored with each saved dashboard.
    #[arg(long, env = "GITHUB_SHA", default_value = "telemetry sync-dashboards")]
    message: String,

    /// Print the report as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let files = source::load(&args.dir)
        .with_context(|| format!("reading dashboards from {}", args.dir.display()))?;
    if files.is_empty() {
        bail!(
            "no dashboards under {} (expected <folder>/<name>.json)",
            args.dir.display()
        );
    }
    let options = Options {
        dry_run: args.dry_run,
        prune: args.prune,
        datasources: args.datasources.iter().cloned().collect::<BTreeMap<_, _>>(),
        message: args.message.clone(),
    };

    let report = match (&args.workspace, &args.grafana_url) {
        (Some(environment), _) => {
            let aws = task_core::aws::load_config().await;
            let client = aws_sdk_grafana::Client::new(&aws);
            eprintln!("Finding the Managed Grafana workspace of {environment} ...");
            let session = Session::open(client, environment, args.token_ttl)
                .await
                .context("getting a Grafana token")?;
            eprintln!(
                "Workspace {} at {} (token valid {} s, deleted at the end)",
                session.workspace_id, session.url, args.token_ttl
            );
            let grafana = Grafana::new(&session.url, session.token.clone());
            // The token is deleted on every way out: success, failure or Ctrl-C.
            let result = interruptible(publish(&grafana, &files, &options)).await;
            let closed = session.close().await;
            let report = result?;
            closed.context("deleting the Grafana token")?;
            report
        }
        (None, Some(url)) => {
            let token = args
                .grafana_token
                .clone()
                .context("--grafana-url needs a token in GRAFANA_TOKEN")?;
            interruptible(publish(&Grafana::new(url, token), &files, &options)).await?
        }
        (None, None) => bail!("give --workspace ENV or --grafana-url URL"),
    };
    print(&report, args.json)
}

async fn interruptible<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        r = work => r,
        () = task_core::cli::shutdown_signal() => bail!("interrupted"),
    }
}

async fn publish(
    grafana: &Grafana,
    files: &[source::DashboardFile],
    options: &Options,
) -> anyhow::Result<Report> {
    eprintln!(
        "{} {} dashboards to {}{}",
        if options.dry_run {
            "Comparing"
        } else {
            "Syncing"
        },
        files.len(),
        grafana.url(),
        if options.prune { " (pruning)" } else { "" }
    );
    let total = files.len();
    let mut done = 0;
    let mut progress = |o: &Outcome| {
        done += 1;
        let verb = match (o.action, options.dry_run) {
            (Action::Created, true) => "would create",
            (Action::Updated, true) => "would update",
            (Action::Deleted, true) => "would delete",
            (Action::Created, false) => "created",
            (Action::Updated, false) => "updated",
            (Action::Deleted, false) => "deleted",
            (Action::Unchanged, _) => "unchanged",
        };
        let what = o.path.as_deref().unwrap_or(&o.uid);
        eprintln!("[{done}/{total}] {verb:<12} {what} ({})", o.title);
    };
    Ok(sync::sync(grafana, files, options, &mut progress).await?)
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    for o in &report.dashboards {
        if let Some(diff) = &o.diff {
            println!("--- {} ({})\n{diff}", o.uid, o.title);
        }
    }
    for folder in &report.folders_created {
        let verb = if report.dry_run {
            "would create"
        } else {
            "created"
        };
        eprintln!("folder {folder}: {verb}");
    }
    eprintln!(
        "{}: {} created, {} updated, {} unchanged, {} deleted; {} reads, {} writes",
        if report.dry_run {
            "Dry run (nothing written)"
        } else {
            "Done"
        },
        report.count(Action::Created),
        report.count(Action::Updated),
        report.count(Action::Unchanged),
        report.count(Action::Deleted),
        report.reads,
        report.writes
    );
    Ok(())
}
