//! The Managed Grafana side: find the environment's workspace by the tag Terraform puts on it,
//! reuse or create the publishing service account, and mint a short-lived token that
//! [`Session::close`] deletes again.

use aws_sdk_grafana::{
    Client,
    error::{DisplayErrorContext, SdkError},
    types::{Role, WorkspaceStatus, WorkspaceSummary},
};

/// The tag key `terraform/modules/observability` sets to the environment name.
pub const ENVIRONMENT_TAG: &str = "task-platform:environment";
/// The service account the tokens belong to (Editor: may write dashboards and folders).
pub const SERVICE_ACCOUNT: &str = "telemetry-sync-dashboards";
/// Managed Grafana allows tokens of up to 30 days; a sync needs minutes.
pub const MAX_TOKEN_TTL_SECONDS: i32 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "no Managed Grafana workspace is tagged {ENVIRONMENT_TAG}={0} (is the environment's Terraform applied?)"
    )]
    NotFound(String),
    #[error(
        "several workspaces are tagged {ENVIRONMENT_TAG}={environment}: {ids}; tags must be unique per environment"
    )]
    Ambiguous { environment: String, ids: String },
    #[error("workspace {id} is {status}, not ACTIVE")]
    NotActive { id: String, status: String },
    #[error("the token TTL must be 1 to {MAX_TOKEN_TTL_SECONDS} seconds, not {0}")]
    Ttl(i32),
    #[error("Managed Grafana {operation} failed: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
}

fn api<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> WorkspaceError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| WorkspaceError::Api {
        operation,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// An open token on a workspace.
pub struct Session {
    client: Client,
    pub workspace_id: String,
    pub url: String,
    pub token: String,
    service_account_id: String,
    token_id: String,
}

impl Session {
    pub async fn open(
        client: Client,
        environment: &str,
        ttl_seconds: i32,
    ) -> Result<Self, WorkspaceError> {
        if !(1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl_seconds) {
            return Err(WorkspaceError::Ttl(ttl_seconds));
        }
        let workspace = find(&client, environment).await?;
        let workspace_id = workspace.id().to_owned();
        let service_account_id = service_account(&client, &workspace_id).await?;
        // The name only has to be unique among the account's tokens.
        let name = format!(
            "sync-{}-{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            rand::random::<u32>()
        );
        let out = client
            .create_workspace_service_account_token()
            .workspace_id(&workspace_id)
            .service_account_id(&service_account_id)
            .name(name)
            .seconds_to_live(ttl_seconds)
            .send()
            .await
            .map_err(api("CreateWorkspaceServiceAccountToken"))?;
        let token = out.service_account_token().ok_or(WorkspaceError::Api {
            operation: "CreateWorkspaceServiceAccountToken",
            message: "the answer holds no token".into(),
        })?;
        let endpoint = workspace.endpoint();
        // The API gives a host name; a full URL is taken as is.
        let url = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        Ok(Self {
            client,
            workspace_id,
            url,
            token: token.key().to_owned(),
            service_account_id,
            token_id: token.id().to_owned(),
        })
    }

    /// Deletes the token. Called on every way out of a sync, failures included.
    pub async fn close(self) -> Result<(), WorkspaceError> {
        self.client
            .delete_workspace_service_account_token()
            .workspace_id(&self.workspace_id)
            .service_account_id(&self.service_account_id)
            .token_id(&self.token_id)
            .send()
            .await
            .map_err(api("DeleteWorkspaceServiceAccountToken"))?;
        Ok(())
    }
}

async fn find(client: &Client, environment: &str) -> Result<WorkspaceSummary, WorkspaceError> {
    let mut matches = Vec::new();
    let mut pages = client.list_workspaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("ListWorkspaces"))?;
        matches.extend(
            page.workspaces()
                .iter()
                .filter(|w| {
                    w.tags()
                        .and_then(|t| t.get(ENVIRONMENT_TAG))
                        .is_some_and(|v| v == environment)
                })
                .cloned(),
        );
    }
    match matches.len() {
        0 => Err(WorkspaceError::NotFound(environment.to_owned())),
        1 => {
            let w = matches.remove(0);
            if *w.status() != WorkspaceStatus::Active {
                return Err(WorkspaceError::NotActive {
                    id: w.id().to_owned(),
                    status: w.status().as_str().to_owned(),
                });
            }
            Ok(w)
        }
        _ => Err(WorkspaceError::Ambiguous {
            environment: environment.to_owned(),
            ids: matches
                .iter()
                .map(|w| w.id())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The publishing service account's id, created on first use.
async fn service_account(client: &Client, workspace_id: &str) -> Result<String, WorkspaceError> {
    let mut pages = client
        .list_workspace_service_accounts()
        .workspace_id(workspace_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("ListWorkspaceServiceAccounts"))?;
        if let Some(sa) = page
            .service_accounts()
            .iter()
            .find(|sa| sa.name() == SERVICE_ACCOUNT)
        {
            return Ok(sa.id().to_owned());
        }
    }
    let created = client
        .create_workspace_service_account()
        .workspace_id(workspace_id)
        .name(SERVICE_ACCOUNT)
        .grafana_role(Role::Editor)
        .send()
        .await
        .map_err(api("CreateWorkspaceServiceAccount"))?;
    Ok(created.id().to_owned())
}
