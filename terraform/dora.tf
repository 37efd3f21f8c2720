################################################################################
# DORA metrics collector
################################################################################

# `telemetry dora serve` reads the repository's deployments from the GitHub REST API every
# `dora_collect_interval_seconds` and serves the DORA metrics on /metrics; its ADOT sidecar writes
# them to Managed Prometheus, where the DORA dashboard reads them (docs/dora.md). The GitHub token
# and the webhook secret are Secrets Manager secrets whose values an operator puts in once;
# nothing here knows them. Webhooks would need a public route to /webhooks/github, which this
# platform does not open: in AWS the metrics come from periodic collection.

resource "aws_secretsmanager_secret" "github_token" {
  #checkov:skip=CKV2_AWS_57:A GitHub token is issued and rotated in GitHub, not by a Lambda rotator
  #checkov:skip=CKV_AWS_149:The AWS-managed key suffices: only the collector's execution role may read it
  name                    = "${local.name}/dora/github-token"
  description             = "Fine-grained GitHub token (deployments, contents, pull requests, issues: read) for telemetry dora serve."
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret" "github_webhook_secret" {
  #checkov:skip=CKV2_AWS_57:Set together with the webhook's secret in GitHub; rotated there
  #checkov:skip=CKV_AWS_149:The AWS-managed key suffices: only the collector's execution role may read it
  name                    = "${local.name}/dora/github-webhook-secret"
  description             = "Secret of the repository's deployment webhooks (X-Hub-Signature-256)."
  recovery_window_in_days = 7
}

module "dora" {
  source                = "./modules/ecs_service"
  name                  = "${local.name}-dora"
  cluster_arn           = module.cluster.cluster_arn
  desired_count         = 1
  deployment_controller = "ECS"
  image                 = var.dora_image
  cpu                   = 256
  memory                = 512
  metrics_port          = local.dora_port
  environment = {
    GITHUB_REPOSITORY     = var.github_repository
    LISTEN                = "0.0.0.0:${local.dora_port}"
    DORA_COLLECT_INTERVAL = tostring(var.dora_collect_interval_seconds)
    RUST_LOG              = "info"
  }
  secrets = {
    GITHUB_TOKEN          = aws_secretsmanager_secret.github_token.arn
    GITHUB_WEBHOOK_SECRET = aws_secretsmanager_secret.github_webhook_secret.arn
  }
  stop_timeout                = 10
  app_calls_aws               = false # GitHub only; the sidecar has its own telemetry policy
  adot_config                 = local.adot_config
  prometheus_remote_write_url = module.observability.prometheus_remote_write_url
  prometheus_workspace_arn    = module.observability.prometheus_workspace_arn
  log_retention_days          = var.log_retention_days
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
}
