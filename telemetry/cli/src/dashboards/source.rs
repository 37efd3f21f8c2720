//! The dashboards of the repository: `dashboards/<folder>/<name>.json`, one Grafana folder per
//! directory, and the datasource placeholders (`${DS_PROMETHEUS}`, ...) they use.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use serde_json::Value;

/// A Grafana folder made from a directory: uid = directory name, title = its words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Folder {
    pub uid: String,
    pub title: String,
}

/// One dashboard file.
#[derive(Debug, Clone)]
pub struct DashboardFile {
    /// Relative to the dashboards root, e.g. `task-platform/app-status.json`.
    pub path: String,
    pub folder: Folder,
    pub uid: String,
    pub title: String,
    pub json: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("uid {uid:?} is used by both {first} and {second}; dashboard uids must be unique")]
    DuplicateUid {
        uid: String,
        first: String,
        second: String,
    },
    #[error("{path} uses ${{{placeholder}}}, and no datasource resolves it: {hint}")]
    UnresolvedPlaceholder {
        path: String,
        placeholder: String,
        hint: String,
    },
}

/// Reads every `<root>/<folder>/<name>.json`, sorted by path. Files directly under `root` are
/// not dashboards (Grafana's General folder cannot be managed by uid).
pub fn load(root: &Path) -> Result<Vec<DashboardFile>, SourceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).map_err(io(root))? {
        let dir = dir.map_err(io(root))?.path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        check_uid(&name).map_err(|problem| SourceError::Invalid {
            path: name.clone(),
            problem: format!("folder name is used as the folder uid: {problem}"),
        })?;
        let folder = Folder {
            title: folder_title(&name),
            uid: name,
        };
        for file in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = file.map_err(io(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                files.push(read(root, &path, folder.clone())?);
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for f in &files {
        if let Some(first) = seen.insert(&f.uid, &f.path) {
            return Err(SourceError::DuplicateUid {
                uid: f.uid.clone(),
                first: first.to_owned(),
                second: f.path.clone(),
            });
        }
    }
    Ok(files)
}

fn read(root: &Path, path: &Path, folder: Folder) -> Result<DashboardFile, SourceError> {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SourceError::Io {
        path: path.to_owned(),
        source,
    })?;
    let json: Value = serde_json::from_str(&text).map_err(|source| SourceError::Json {
        path: rel.clone(),
        source,
    })?;
    let invalid = |problem: String| SourceError::Invalid {
        path: rel.clone(),
        problem,
    };
    let uid = json["uid"]
        .as_str()
        .ok_or_else(|| invalid("no \"uid\": every dashboard needs a stable uid".into()))?
        .to_owned();
    check_uid(&uid).map_err(|p| invalid(format!("uid {uid:?}: {p}")))?;
    let title = json["title"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("no \"title\"".into()))?
        .to_owned();
    Ok(DashboardFile {
        path: rel,
        folder,
        uid,
        title,
        json,
    })
}

/// Grafana's uid rule: at most 40 characters of letters, digits, `-` and `_`.
fn check_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() || uid.len() > 40 {
        return Err("must be 1 to 40 characters".into());
    }
    if !uid
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("may hold only letters, digits, '-' and '_'".into());
    }
    Ok(())
}

/// `task-platform` -> `Task platform`.
fn folder_title(dir: &str) -> String {
    let words = dir.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Datasource placeholders (`DS_PROMETHEUS`, ...) used anywhere in a dashboard's strings.
pub fn placeholders(json: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    visit_strings(json, &mut |s| {
        let mut rest = s;
        while let Some(start) = rest.find("${DS_") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.insert(after[..end].to_owned());
                    rest = &after[end..];
                }
                None => break,
            }
        }
    });
    out
}

/// Replaces every `${NAME}` of `values` in the dashboard's strings.
pub fn substitute(json: &Value, values: &BTreeMap<String, String>) -> Value {
    match json {
        Value::String(s) if s.contains("${DS_") => {
            let mut s = s.clone();
            for (name, value) in values {
                s = s.replace(&format!("${{{name}}}"), value);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn visit_strings(json: &Value, f: &mut impl FnMut(&str)) {
    match json {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_substitutes_placeholders() {
        let d = json!({"panels": [{"datasource": {"uid": "${DS_PROMETHEUS}"}},
                                  {"datasource": "${DS_XRAY}", "title": "${environment}"}]});
        assert_eq!(
            placeholders(&d).into_iter().collect::<Vec<_>>(),
            ["DS_PROMETHEUS", "DS_XRAY"]
        );
        let values = BTreeMap::from([
            ("DS_PROMETHEUS".to_owned(), "amp".to_owned()),
            ("DS_XRAY".to_owned(), "xray".to_owned()),
        ]);
        let out = substitute(&d, &values);
        assert_eq!(out["panels"][0]["datasource"]["uid"], "amp");
        assert_eq!(out["panels"][1]["datasource"], "xray");
        assert_eq!(out["panels"][1]["title"], "${environment}");
    }

    #[test]
    fn loads_folders_and_rejects_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("team-a");
        std::fs::create_dir(&folder).expect("mkdir");
        std::fs::write(folder.join("one.json"), r#"{"uid":"one","title":"One"}"#).expect("write");
        let files = load(dir.path()).expect("load");
        assert_eq!(files[0].folder.title, "Team a");
        assert_eq!(files[0].path, "team-a/one.json");

        std::fs::write(folder.join("two.json"), r#"{"uid":"one","title":"Two"}"#).expect("write");
        let err = load(dir.path()).expect_err("duplicate uid");
        assert!(
            err.to_string().contains("uid \"one\" is used by both"),
            "{err}"
        );

        std::fs::write(
            folder.join("two.json"),
            r#"{"uid":"has space","title":"Two"}"#,
        )
        .expect("write");
        let err = load(dir.path()).expect_err("bad uid");
        assert!(err.to_string().contains("team-a/two.json"), "{err}");
    }

    #[test]
    fn repository_dashboards_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
        let files = load(&root).expect("the repository's dashboards load");
        assert!(files.iter().any(|f| f.uid == "task-platform-app-status"));
    }
}
