# Plan-mode checks of the whole platform with a mocked AWS provider: the properties DESIGN.md and
# the runbooks rely on.

mock_provider "aws" {
  # IAM checks that policy documents are JSON objects even in plan; mocked ones must be too.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}
mock_provider "aws" {
  alias = "us_east_1"
  # IAM checks that policy documents are JSON objects even in plan; mocked ones must be too.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  environment       = "dev"
  azs               = ["eu-west-1a", "eu-west-1b"]
  github_repository = "acme/task-platform"
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  api_image         = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-platform/api:abc"
  runner_image      = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-platform/task-runner:abc"
  dora_image        = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-platform/dora:abc"
}

run "runners_deploy_rolling_with_circuit_breaker_and_rollback_without_public_ips" {
  command = plan
  module {
    source = "./modules/ecs_service"
  }
  variables {
    name                        = "task-runner"
    environment                 = { RUST_LOG = "info" }
    cluster_arn                 = "arn:aws:ecs:eu-west-1:123456789012:cluster/c"
    image                       = "runner:abc"
    metrics_port                = 9090
    stop_timeout                = 30
    use_spot                    = true
    task_role_policy_json       = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    adot_config                 = "receivers: {}"
    prometheus_remote_write_url = "https://aps.example/api/v1/remote_write"
    prometheus_workspace_arn    = "arn:aws:aps:eu-west-1:123456789012:workspace/ws"
    vpc_id                      = "vpc-1"
    subnet_ids                  = ["subnet-1", "subnet-2"]
  }

  assert {
    condition     = aws_ecs_service.this.deployment_controller[0].type == "ECS"
    error_message = "Runners must deploy with the ECS rolling controller."
  }
  assert {
    condition     = aws_ecs_service.this.deployment_circuit_breaker[0].enable && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "The runner deployment circuit breaker must be on, with rollback."
  }
  assert {
    condition     = !aws_ecs_service.this.network_configuration[0].assign_public_ip
    error_message = "ECS tasks must run in private subnets without public IPs."
  }
  assert {
    condition     = one(aws_ecs_service.this.capacity_provider_strategy).capacity_provider == "FARGATE_SPOT"
    error_message = "use_spot must put runners on Fargate Spot."
  }
  assert {
    condition     = [for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : c.name] == ["task-runner", "adot-collector"]
    error_message = "The task must have the app and the ADOT collector sidecar."
  }
  assert {
    condition     = [for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : c.essential] == [true, false]
    error_message = "The collector must not be essential."
  }
  assert {
    condition     = alltrue([for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : c.readonlyRootFilesystem && c.user == "10001:10001"])
    error_message = "Containers must run as non-root on a read-only root filesystem."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 30
    error_message = "stopTimeout must be passed to the app container."
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "Service log groups must have a retention."
  }
  assert {
    condition     = aws_iam_role.task.name != aws_iam_role.execution.name
    error_message = "Task and execution roles must be separate."
  }
}

run "a_service_gets_secrets_from_secrets_manager_and_may_have_no_app_policy" {
  command = plan
  module {
    source = "./modules/ecs_service"
  }
  variables {
    name                        = "dora"
    environment                 = { LISTEN = "0.0.0.0:9465" }
    secrets                     = { GITHUB_TOKEN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t", GITHUB_WEBHOOK_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:w" }
    app_calls_aws               = false
    cluster_arn                 = "arn:aws:ecs:eu-west-1:123456789012:cluster/c"
    image                       = "dora:abc"
    metrics_port                = 9465
    adot_config                 = "receivers: {}"
    prometheus_remote_write_url = "https://aps.example/api/v1/remote_write"
    prometheus_workspace_arn    = "arn:aws:aps:eu-west-1:123456789012:workspace/ws"
    vpc_id                      = "vpc-1"
    subnet_ids                  = ["subnet-1", "subnet-2"]
  }

  assert {
    condition     = tomap({ for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.name => s.valueFrom }) == var.secrets
    error_message = "Secrets must reach the app container as ECS secrets (valueFrom), not plain environment variables."
  }
  assert {
    condition     = !contains([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name], "GITHUB_TOKEN")
    error_message = "A secret must not also be a plain environment variable."
  }
  assert {
    condition     = length(aws_iam_role_policy.secrets) == 1 && length(aws_iam_role_policy.app) == 0
    error_message = "Only the execution role may read the secrets; an app that calls no AWS API gets no app policy."
  }
}

run "the_dora_collector_runs_with_its_sidecar_and_github_secrets" {
  command = plan

  assert {
    condition     = length(module.dora.app_policy_names) == 0
    error_message = "The collector calls no AWS API: its task role has only the sidecar's telemetry policy."
  }
  assert {
    condition     = aws_secretsmanager_secret.github_token.name == "task-platform-dev/dora/github-token"
    error_message = "The token secret is named per environment."
  }
}

run "the_api_deploys_blue_green_through_codedeploy_with_alarm_rollback" {
  command = plan
  module {
    source = "./modules/api_deployment"
  }
  variables {
    name                      = "api"
    cluster_name              = "c"
    service_name              = "api"
    target_group_names        = { blue = "api-blue", green = "api-green" }
    target_group_arn_suffixes = { blue = "targetgroup/api-blue/1", green = "targetgroup/api-green/2" }
    load_balancer_arn_suffix  = "app/alb/3"
    prod_listener_arn         = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/3/4"
    test_listener_arn         = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/3/5"
  }

  assert {
    condition     = aws_codedeploy_deployment_group.this.deployment_style[0].deployment_type == "BLUE_GREEN"
    error_message = "The API deployment must be blue/green."
  }
  assert {
    condition     = contains(aws_codedeploy_deployment_group.this.auto_rollback_configuration[0].events, "DEPLOYMENT_STOP_ON_ALARM") && contains(aws_codedeploy_deployment_group.this.auto_rollback_configuration[0].events, "DEPLOYMENT_FAILURE")
    error_message = "API deployments must roll back on failure and on alarms."
  }
  assert {
    condition     = length(aws_codedeploy_deployment_group.this.alarm_configuration[0].alarms) == 4
    error_message = "5xx and latency alarms on both target groups must stop a deployment."
  }
  assert {
    condition     = alltrue([for p in aws_appautoscaling_policy.requests : p.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget"])
    error_message = "The API must scale on requests per target."
  }
}

run "the_dead_letter_queue_takes_messages_after_max_receive_count" {
  command = plan
  module {
    source = "./modules/queue"
  }
  variables {
    name = "tasks"
  }
  # The policies embed the queues' ARNs, which exist only after apply; fix them for the plan.
  override_resource {
    target          = aws_sqs_queue.dead_letter
    override_during = plan
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:tasks-dlq"
    }
  }
  override_resource {
    target          = aws_sqs_queue.this
    override_during = plan
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:tasks"
    }
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 3
    error_message = "maxReceiveCount must match the runner's default (3)."
  }
  assert {
    condition     = aws_sqs_queue.dead_letter.message_retention_seconds == 1209600
    error_message = "Dead letters must be kept 14 days."
  }
  assert {
    condition     = aws_sqs_queue.this.sqs_managed_sse_enabled && aws_sqs_queue.dead_letter.sqs_managed_sse_enabled
    error_message = "Both queues must be encrypted."
  }
  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 30
    error_message = "The visibility timeout must match the runners' default VISIBILITY_TIMEOUT."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dead_letter.redrive_allow_policy).redrivePermission == "byQueue"
    error_message = "Only the task queue may use the dead-letter queue."
  }
}

run "runners_scale_on_backlog_per_task_and_from_zero_on_message_age" {
  command = plan
  module {
    source = "./modules/runner_autoscaling"
  }
  variables {
    name         = "runner"
    cluster_name = "c"
    service_name = "task-runner"
    queue_name   = "tasks"
  }

  assert {
    condition     = one([for m in aws_appautoscaling_policy.backlog_per_task.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.expression if m.return_data]) == "visible / IF(running > 0, running, 1)"
    error_message = "Runner scaling must track visible messages per running task."
  }
  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 0
    error_message = "Runners must be able to scale to zero by default."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_message.metric_name == "ApproximateAgeOfOldestMessage"
    error_message = "A step policy on message age must start runners from zero."
  }
}

run "the_tasks_table_is_on_demand_recoverable_and_expiring" {
  command = plan
  module {
    source = "./modules/table"
  }
  variables {
    name = "tasks"
  }

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.this.point_in_time_recovery[0].enabled
    error_message = "The table must be on-demand with point-in-time recovery."
  }
  assert {
    condition     = aws_dynamodb_table.this.ttl[0].attribute_name == "expires_at"
    error_message = "The TTL attribute must be the one the store writes (expires_at)."
  }
  assert {
    condition     = toset([for i in aws_dynamodb_table.this.global_secondary_index : i.name]) == toset(["by_created", "by_status"])
    error_message = "The indexes must be the ones DynamoTaskStore queries."
  }
}

run "the_load_balancer_redirects_http_and_drops_invalid_headers" {
  command = plan
  module {
    source = "./modules/load_balancer"
  }
  variables {
    name              = "tp-dev"
    vpc_id            = "vpc-1"
    vpc_cidr          = "10.20.0.0/16"
    public_subnet_ids = ["subnet-1", "subnet-2"]
    certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
  }

  assert {
    condition     = aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS"
    error_message = "HTTP must redirect to HTTPS."
  }
  assert {
    condition     = aws_lb.this.drop_invalid_header_fields
    error_message = "The ALB must drop invalid headers."
  }
  assert {
    condition     = aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The HTTPS listener must use a modern TLS policy."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.this : tg.health_check[0].path == "/healthz"]) && length(aws_lb_target_group.this) == 2
    error_message = "Blue and green target groups must check /healthz."
  }
}

run "the_network_closes_the_default_security_group_and_keeps_flow_logs" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name             = "tp"
    azs              = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    nat_gateway_mode = "per_az"
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must allow nothing."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_subnet.private) == 3
    error_message = "per_az must create one NAT gateway per AZ."
  }
  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.retention_in_days == 30 && aws_flow_log.this.traffic_type == "ALL"
    error_message = "Flow logs must capture all traffic with a retention."
  }
}

run "deploy_roles_trust_only_this_repository_and_environment" {
  command = plan
  module {
    source = "./modules/cicd_access"
  }
  variables {
    name                  = "tp-dev"
    github_repository     = "acme/task-platform"
    github_environment    = "dev"
    ecr_repository_arns   = ["arn:aws:ecr:eu-west-1:123456789012:repository/task-platform/api"]
    pass_role_arns        = ["arn:aws:iam::123456789012:role/task"]
    frontend_bucket_arn   = "arn:aws:s3:::page"
    distribution_arn      = "arn:aws:cloudfront::123456789012:distribution/X"
    grafana_workspace_arn = "arn:aws:grafana:eu-west-1:123456789012:/workspaces/g"
  }

  assert {
    condition     = toset(flatten([for c in data.aws_iam_policy_document.trust["deploy"].statement[0].condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:acme/task-platform:environment:dev-api", "repo:acme/task-platform:environment:dev-task-runner", "repo:acme/task-platform:environment:dev-frontend", "repo:acme/task-platform:environment:dev-dora", "repo:acme/task-platform:environment:dev-dashboards"])
    error_message = "The deploy role must trust only this repository's dev service environments."
  }
  assert {
    condition     = toset(flatten([for c in data.aws_iam_policy_document.trust["terraform"].statement[0].condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:acme/task-platform:environment:dev-infra", "repo:acme/task-platform:environment:dev-infra-plan"])
    error_message = "The Terraform role must trust only the dev-infra environment."
  }
  assert {
    condition     = aws_iam_role.deploy.max_session_duration == 3600
    error_message = "Deploy sessions must be short."
  }
}

run "the_whole_platform_plans_and_wires_the_grafana_tag_and_rules" {
  command = plan

  assert {
    condition     = module.cicd_access.deploy_role_trust == ["repo:acme/task-platform:environment:dev-api", "repo:acme/task-platform:environment:dev-task-runner", "repo:acme/task-platform:environment:dev-frontend", "repo:acme/task-platform:environment:dev-dora", "repo:acme/task-platform:environment:dev-dashboards"]
    error_message = "The root must pin the deploy role to its environment."
  }
  assert {
    condition     = module.network.nat_gateway_count == 1
    error_message = "dev uses a single NAT gateway."
  }
}
