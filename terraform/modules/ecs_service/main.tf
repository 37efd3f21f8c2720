################################################################################
# Task definition
################################################################################

data "aws_region" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Execution role: what ECS itself needs to start the task (pull the image, write logs).
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "secrets" {
  count = length(var.secrets) > 0 ? 1 : 0
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secrets)
  }
}

resource "aws_iam_role_policy" "secrets" {
  count  = length(var.secrets) > 0 ? 1 : 0
  name   = "secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

# Task role: what the app and its sidecar may do, and nothing else.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "app" {
  # A plan cannot look at a computed policy to decide, so the caller says.
  count  = var.app_calls_aws ? 1 : 0
  name   = "app"
  role   = aws_iam_role.task.id
  policy = var.task_role_policy_json
}

data "aws_iam_policy_document" "telemetry" {
  statement {
    sid       = "XRayWrite"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"] # X-Ray write actions support no resource-level permissions.
  }
  statement {
    sid       = "PrometheusRemoteWrite"
    actions   = ["aps:RemoteWrite"]
    resources = [var.prometheus_workspace_arn]
  }
}

resource "aws_iam_role_policy" "telemetry" {
  name   = "telemetry"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.telemetry.json
}

locals {
  log_options = {
    awslogs-group         = aws_cloudwatch_log_group.this.name
    awslogs-region        = data.aws_region.current.name
    awslogs-stream-prefix = var.name
  }
  app_environment = merge(var.environment, {
    OTEL_SERVICE_NAME           = var.name
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
    HOST                        = "0.0.0.0"
    METRICS_HOST                = "0.0.0.0"
  })
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name                   = var.name
      image                  = var.image
      essential              = true
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      stopTimeout            = var.stop_timeout
      portMappings = concat(
        var.container_port == null ? [] : [{ containerPort = var.container_port, protocol = "tcp" }],
        var.metrics_port == var.container_port ? [] : [{ containerPort = var.metrics_port, protocol = "tcp" }],
      )
      environment = [for k in sort(keys(local.app_environment)) : { name = k, value = local.app_environment[k] }]
      secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
      healthCheck = {
        command     = ["CMD", "/app/healthcheck", "http://127.0.0.1:${coalesce(var.container_port, var.metrics_port)}/healthz"]
        interval    = 10
        timeout     = 3
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = { logDriver = "awslogs", options = local.log_options }
    },
    {
      # Not essential: a collector failure must not stop task processing.
      name                   = "adot-collector"
      image                  = var.adot_image
      essential              = false
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      environment = [
        { name = "AOT_CONFIG_CONTENT", value = var.adot_config },
        { name = "SERVICE_NAME", value = var.name },
        { name = "METRICS_PORT", value = tostring(var.metrics_port) },
        { name = "AMP_REMOTE_WRITE", value = var.prometheus_remote_write_url },
      ]
      logConfiguration = { logDriver = "awslogs", options = merge(local.log_options, { awslogs-stream-prefix = "adot" }) }
    },
  ])

  tags = var.tags
}

################################################################################
# Service
################################################################################

resource "aws_security_group" "this" {
  name        = "${var.name}-tasks"
  description = "Tasks of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  count                        = var.container_port != null ? 1 : 0
  security_group_id            = aws_security_group.this.id
  description                  = "App port from the load balancer"
  from_port                    = var.container_port
  to_port                      = var.container_port
  ip_protocol                  = "tcp"
  referenced_security_group_id = var.ingress_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs (SQS, DynamoDB, ECR, X-Ray, Prometheus)"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_ecs_service" "this" {
  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  enable_execute_command = false
  propagate_tags         = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.use_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  deployment_controller {
    type = var.deployment_controller
  }

  dynamic "deployment_circuit_breaker" {
    for_each = var.deployment_controller == "ECS" ? [1] : []
    content {
      enable   = true
      rollback = true
    }
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.target_group_arn == null ? [] : [var.target_group_arn]
    content {
      target_group_arn = load_balancer.value
      container_name   = var.name
      container_port   = var.container_port
    }
  }

  # Autoscaling owns the count; CodeDeploy owns the task definition and target group of a
  # blue/green service.
  lifecycle {
    ignore_changes = [desired_count, task_definition, load_balancer]
  }

  tags = var.tags
}
