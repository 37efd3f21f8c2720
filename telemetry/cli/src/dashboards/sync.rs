//! Publishing: make Grafana hold exactly the repository's dashboards, writing only what differs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{
    grafana::{Datasource, Grafana, GrafanaError},
    source::{self, DashboardFile, SourceError},
};

/// The tag that marks a dashboard as published from the repository; `--prune` deletes only
/// dashboards that carry it.
pub const MANAGED_TAG: &str = "managed-by:telemetry-sync-dashboards";

/// The datasource type each standard placeholder stands for.
const PLACEHOLDER_TYPES: [(&str, &str); 3] = [
    ("DS_PROMETHEUS", "prometheus"),
    ("DS_CLOUDWATCH", "cloudwatch"),
    ("DS_XRAY", "grafana-x-ray-datasource"),
];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub prune: bool,
    /// `DS_NAME` -> datasource uid or name, for workspaces with several of one type.
    pub datasources: BTreeMap<String, String>,
    /// Kept in each saved version's message (e.g. the commit).
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Deleted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub uid: String,
    pub title: String,
    /// The repository file; None for a pruned dashboard.
    pub path: Option<String>,
    pub folder_uid: Option<String>,
    pub action: Action,
    /// The saved version (None in a dry run or when unchanged or deleted).
    pub version: Option<i64>,
    /// Unified diff, Grafana -> repository (dry run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub grafana_url: String,
    pub dry_run: bool,
    pub folders_created: Vec<String>,
    pub dashboards: Vec<Outcome>,
    pub reads: u64,
    pub writes: u64,
}

impl Report {
    pub fn count(&self, action: Action) -> usize {
        self.dashboards
            .iter()
            .filter(|o| o.action == action)
            .count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Grafana(#[from] GrafanaError),
    #[error("dashboard {uid}: {source}")]
    Dashboard { uid: String, source: GrafanaError },
}

/// Syncs `files` to `grafana`. `progress` sees each outcome as it happens.
pub async fn sync(
    grafana: &Grafana,
    files: &[DashboardFile],
    options: &Options,
    progress: &mut dyn FnMut(&Outcome),
) -> Result<Report, SyncError> {
    // Everything that can be wrong with the inputs is found before the first write.
    let datasources = grafana.datasources().await?;
    let resolved = files
        .iter()
        .map(|f| resolve(f, &datasources, &options.datasources).map(|json| (f, json)))
        .collect::<Result<Vec<_>, _>>()?;

    let existing: BTreeSet<String> = grafana
        .folders()
        .await?
        .into_iter()
        .map(|f| f.uid)
        .collect();
    let mut folders_created = Vec::new();
    let wanted: BTreeMap<&str, &str> = files
        .iter()
        .map(|f| (f.folder.uid.as_str(), f.folder.title.as_str()))
        .collect();
    for (uid, title) in wanted {
        if !existing.contains(uid) {
            if !options.dry_run {
                grafana.create_folder(uid, title).await?;
            }
            folders_created.push(uid.to_owned());
        }
    }

    let mut dashboards = Vec::new();
    for (file, desired) in resolved {
        let outcome = publish(grafana, file, desired, options)
            .await
            .map_err(|source| SyncError::Dashboard {
                uid: file.uid.clone(),
                source,
            })?;
        progress(&outcome);
        dashboards.push(outcome);
    }

    if options.prune {
        let in_repo: BTreeSet<&str> = files.iter().map(|f| f.uid.as_str()).collect();
        for hit in grafana.search_tagged(MANAGED_TAG).await? {
            if in_repo.contains(hit.uid.as_str()) {
                continue;
            }
            if !options.dry_run {
                grafana.delete_dashboard(&hit.uid).await?;
            }
            let outcome = Outcome {
                uid: hit.uid,
                title: hit.title,
                path: None,
                folder_uid: hit.folder_uid,
                action: Action::Deleted,
                version: None,
                diff: None,
            };
            progress(&outcome);
            dashboards.push(outcome);
        }
    }

    Ok(Report {
        grafana_url: grafana.url().to_owned(),
        dry_run: options.dry_run,
        folders_created,
        dashboards,
        reads: grafana.counts().reads(),
        writes: grafana.counts().writes(),
    })
}

async fn publish(
    grafana: &Grafana,
    file: &DashboardFile,
    desired: Value,
    options: &Options,
) -> Result<Outcome, GrafanaError> {
    let stored = grafana.dashboard(&file.uid).await?;
    let folder = file.folder.uid.as_str();
    let (action, version) = match &stored {
        Some(s)
            if s.folder_uid.as_deref() == Some(folder)
                && comparable(&s.dashboard) == comparable(&desired) =>
        {
            (Action::Unchanged, None)
        }
        Some(s) => (Action::Updated, Some(s.version)),
        None => (Action::Created, None),
    };
    let mut outcome = Outcome {
        uid: file.uid.clone(),
        title: file.title.clone(),
        path: Some(file.path.clone()),
        folder_uid: Some(folder.to_owned()),
        action,
        version: None,
        diff: None,
    };
    if action == Action::Unchanged {
        return Ok(outcome);
    }
    if options.dry_run {
        outcome.diff = Some(diff(stored.as_ref(), &desired, folder, &file.path));
    } else {
        outcome.version = Some(
            grafana
                .save(&desired, version, folder, &options.message)
                .await?,
        );
    }
    Ok(outcome)
}

/// The repository's dashboard as it should be stored: placeholders resolved, the managed tag on.
fn resolve(
    file: &DashboardFile,
    datasources: &[Datasource],
    overrides: &BTreeMap<String, String>,
) -> Result<Value, SourceError> {
    let mut values = BTreeMap::new();
    for placeholder in source::placeholders(&file.json) {
        let uid = resolve_placeholder(&placeholder, datasources, overrides).map_err(|hint| {
            SourceError::UnresolvedPlaceholder {
                path: file.path.clone(),
                placeholder: placeholder.clone(),
                hint,
            }
        })?;
        values.insert(placeholder, uid);
    }
    let mut json = source::substitute(&file.json, &values);
    if let Some(map) = json.as_object_mut() {
        map.remove("id");
        map.remove("version");
        let tags = map
            .entry("tags")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(tags) = tags.as_array_mut()
            && !tags.iter().any(|t| t == MANAGED_TAG)
        {
            tags.push(MANAGED_TAG.into());
        }
    }
    Ok(json)
}

/// The uid a placeholder stands for: an explicit `--datasource NAME=uid-or-name`, else the one
/// datasource of its type (the default one when there are several).
fn resolve_placeholder(
    placeholder: &str,
    datasources: &[Datasource],
    overrides: &BTreeMap<String, String>,
) -> Result<String, String> {
    if let Some(wanted) = overrides.get(placeholder) {
        return datasources
            .iter()
            .find(|d| &d.uid == wanted || &d.name == wanted)
            .map(|d| d.uid.clone())
            .ok_or_else(|| format!("--datasource {placeholder}={wanted}: Grafana has no datasource with that uid or name"));
    }
    let Some((_, kind)) = PLACEHOLDER_TYPES.iter().find(|(p, _)| *p == placeholder) else {
        return Err(format!(
            "not a standard placeholder ({}); pass --datasource {placeholder}=<uid or name>",
            PLACEHOLDER_TYPES.map(|(p, _)| p).join(", ")
        ));
    };
    let of_kind: Vec<&Datasource> = datasources.iter().filter(|d| d.kind == *kind).collect();
    match of_kind.as_slice() {
        [one] => Ok(one.uid.clone()),
        [] => Err(format!("Grafana has no datasource of type {kind}")),
        several => several
            .iter()
            .find(|d| d.is_default)
            .map(|d| d.uid.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = several.iter().map(|d| d.name.as_str()).collect();
                format!(
                    "several datasources of type {kind} ({}); pass --datasource {placeholder}=<uid or name>",
                    names.join(", ")
                )
            }),
    }
}

/// A dashboard without the fields Grafana assigns (`id`, `version`).
fn comparable(dashboard: &Value) -> Value {
    let mut d = dashboard.clone();
    if let Some(map) = d.as_object_mut() {
        map.remove("id");
        map.remove("version");
    }
    d
}

fn diff(
    stored: Option<&super::grafana::Stored>,
    desired: &Value,
    folder: &str,
    path: &str,
) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let old = stored
        .map(|s| pretty(&comparable(&s.dashboard)))
        .unwrap_or_default();
    let new = pretty(desired);
    let mut out = String::new();
    if let Some(s) = stored
        && s.folder_uid.as_deref() != Some(folder)
    {
        out.push_str(&format!(
            "folder: {} -> {folder}\n",
            s.folder_uid.as_deref().unwrap_or("General")
        ));
    }
    out.push_str(
        &similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header("grafana", path)
            .to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(uid: &str, kind: &str, default: bool) -> Datasource {
        Datasource {
            uid: uid.into(),
            name: format!("{uid}-name"),
            kind: kind.into(),
            is_default: default,
        }
    }

    #[test]
    fn placeholders_resolve_by_type_default_or_override() {
        let none = BTreeMap::new();
        let one = [
            ds("amp", "prometheus", false),
            ds("cw", "cloudwatch", false),
        ];
        assert_eq!(
            resolve_placeholder("DS_PROMETHEUS", &one, &none),
            Ok("amp".into())
        );
        let err = resolve_placeholder("DS_XRAY", &one, &none).expect_err("no x-ray");
        assert!(err.contains("grafana-x-ray-datasource"), "{err}");

        let two = [ds("a", "prometheus", false), ds("b", "prometheus", true)];
        assert_eq!(
            resolve_placeholder("DS_PROMETHEUS", &two, &none),
            Ok("b".into())
        );
        let two = [ds("a", "prometheus", false), ds("b", "prometheus", false)];
        let err = resolve_placeholder("DS_PROMETHEUS", &two, &none).expect_err("ambiguous");
        assert!(err.contains("--datasource DS_PROMETHEUS="), "{err}");
        let pick = BTreeMap::from([("DS_PROMETHEUS".to_owned(), "a-name".to_owned())]);
        assert_eq!(
            resolve_placeholder("DS_PROMETHEUS", &two, &pick),
            Ok("a".into())
        );
        let err = resolve_placeholder("DS_LOKI", &two, &none).expect_err("unknown");
        assert!(err.contains("not a standard placeholder"), "{err}");
    }
}
