################################################################################
# Task platform: one environment
################################################################################

locals {
  name = "task-platform-${var.environment}"
  # ALB and target group names are limited to 32 characters.
  short_name = "tp-${var.environment}"
  tags = {
    Project     = "task-platform"
    Environment = var.environment
    ManagedBy   = "terraform"
  }
  api_port    = 8080
  runner_port = 9090
  dora_port   = 9465
}

module "network" {
  source                  = "./modules/network"
  name                    = local.name
  cidr                    = var.vpc_cidr
  azs                     = var.azs
  nat_gateway_mode        = var.nat_gateway_mode
  enable_vpc_endpoints    = var.enable_vpc_endpoints
  flow_log_retention_days = var.log_retention_days
}

module "queue" {
  source                     = "./modules/queue"
  name                       = "${local.name}-tasks"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  max_receive_count          = var.max_receive_count
}

module "table" {
  source              = "./modules/table"
  name                = "${local.name}-tasks"
  deletion_protection = var.environment == "production"
}

module "registry" {
  source       = "./modules/registry"
  repositories = ["task-platform/api", "task-platform/task-runner", "task-platform/dora"]
}

module "load_balancer" {
  source              = "./modules/load_balancer"
  name                = local.short_name
  vpc_id              = module.network.vpc_id
  vpc_cidr            = module.network.vpc_cidr
  public_subnet_ids   = module.network.public_subnet_ids
  certificate_arn     = var.certificate_arn
  target_port         = local.api_port
  deletion_protection = var.environment == "production"
}

module "cluster" {
  source = "./modules/ecs_cluster"
  name   = local.name
}

module "observability" {
  source                = "./modules/observability"
  name                  = local.name
  environment           = var.environment
  rules_yaml            = file("${path.module}/../alerts/rules.yml")
  alertmanager_template = file("${path.module}/../alerts/aws/alertmanager.yml.tftpl")
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
}

################################################################################
# Services
################################################################################

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "SendTasks"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [module.queue.queue_arn]
  }
  statement {
    sid       = "RedriveAndDeadLetterDepth"
    actions   = ["sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [module.queue.dead_letter_queue_arn]
  }
  statement {
    sid       = "Tasks"
    actions   = ["dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [module.table.table_arn, "${module.table.table_arn}/index/*"]
  }
}

data "aws_iam_policy_document" "runner" {
  statement {
    sid       = "ConsumeTasks"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [module.queue.queue_arn]
  }
  statement {
    sid       = "DeadLetterDepth"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [module.queue.dead_letter_queue_arn]
  }
  statement {
    sid       = "RecordOutcomes"
    actions   = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    resources = [module.table.table_arn]
  }
}

locals {
  backend_environment = {
    QUEUE_URL   = module.queue.queue_url
    TASKS_TABLE = module.table.table_name
    RUST_LOG    = "info"
  }
  adot_config = file("${path.module}/../telemetry/adot/collector.yaml")
}

module "api" {
  source                      = "./modules/ecs_service"
  name                        = "${local.name}-api"
  cluster_arn                 = module.cluster.cluster_arn
  desired_count               = var.api_min_count
  deployment_controller       = "CODE_DEPLOY"
  image                       = var.api_image
  container_port              = local.api_port
  metrics_port                = local.api_port
  environment                 = merge(local.backend_environment, { PORT = tostring(local.api_port) })
  stop_timeout                = 30
  task_role_policy_json       = data.aws_iam_policy_document.api.json
  adot_config                 = local.adot_config
  prometheus_remote_write_url = module.observability.prometheus_remote_write_url
  prometheus_workspace_arn    = module.observability.prometheus_workspace_arn
  log_retention_days          = var.log_retention_days
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  ingress_security_group_id   = module.load_balancer.security_group_id
  target_group_arn            = module.load_balancer.target_group_arns["blue"]
}

module "runner" {
  source                = "./modules/ecs_service"
  name                  = "${local.name}-task-runner"
  cluster_arn           = module.cluster.cluster_arn
  desired_count         = var.runner_min_count
  deployment_controller = "ECS"
  use_spot              = var.runner_use_spot
  image                 = var.runner_image
  metrics_port          = local.runner_port
  environment = merge(local.backend_environment, {
    METRICS_PORT       = tostring(local.runner_port)
    WORKERS            = tostring(var.runner_workers)
    GRACE_PERIOD       = tostring(var.runner_grace_period_seconds)
    VISIBILITY_TIMEOUT = tostring(var.visibility_timeout_seconds)
  })
  # ECS sends SIGTERM, waits stopTimeout, then SIGKILL: leave the runner its grace period plus
  # time to flush deletes and spans.
  stop_timeout                = var.runner_grace_period_seconds + 5
  task_role_policy_json       = data.aws_iam_policy_document.runner.json
  adot_config                 = local.adot_config
  prometheus_remote_write_url = module.observability.prometheus_remote_write_url
  prometheus_workspace_arn    = module.observability.prometheus_workspace_arn
  log_retention_days          = var.log_retention_days
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
}

module "api_deployment" {
  source                    = "./modules/api_deployment"
  name                      = "${local.name}-api"
  cluster_name              = module.cluster.cluster_name
  service_name              = module.api.service_name
  target_group_names        = module.load_balancer.target_group_names
  target_group_arn_suffixes = module.load_balancer.target_group_arn_suffixes
  load_balancer_arn_suffix  = module.load_balancer.arn_suffix
  prod_listener_arn         = module.load_balancer.https_listener_arn
  test_listener_arn         = module.load_balancer.test_listener_arn
  min_capacity              = var.api_min_count
  max_capacity              = var.api_max_count
}

module "runner_autoscaling" {
  source       = "./modules/runner_autoscaling"
  name         = "${local.name}-runner"
  cluster_name = module.cluster.cluster_name
  service_name = module.runner.service_name
  queue_name   = module.queue.queue_name
  min_capacity = var.runner_min_count
  max_capacity = var.runner_max_count
}

################################################################################
# Page
################################################################################

module "frontend" {
  source            = "./modules/frontend"
  name              = local.name
  api_origin_domain = module.load_balancer.dns_name
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }
}

################################################################################
# CI/CD access
################################################################################

module "cicd_access" {
  source                = "./modules/cicd_access"
  name                  = local.name
  create_oidc_provider  = var.create_oidc_provider
  github_repository     = var.github_repository
  github_environment    = var.environment
  ecr_repository_arns   = values(module.registry.repository_arns)
  pass_role_arns        = [module.api.task_role_arn, module.api.execution_role_arn, module.runner.task_role_arn, module.runner.execution_role_arn, module.dora.task_role_arn, module.dora.execution_role_arn]
  frontend_bucket_arn   = module.frontend.bucket_arn
  distribution_arn      = module.frontend.distribution_arn
  grafana_workspace_arn = "arn:aws:grafana:${var.region}:${data.aws_caller_identity.current.account_id}:/workspaces/${module.observability.grafana_workspace_id}"
}

data "aws_caller_identity" "current" {}
