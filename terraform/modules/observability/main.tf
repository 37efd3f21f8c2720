data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

################################################################################
# Managed Prometheus
################################################################################

resource "aws_prometheus_workspace" "this" {
  alias = var.name
  tags  = var.tags
}

resource "aws_prometheus_rule_group_namespace" "this" {
  name         = "task-platform"
  workspace_id = aws_prometheus_workspace.this.id
  data         = var.rules_yaml
}

resource "aws_prometheus_alert_manager_definition" "this" {
  workspace_id = aws_prometheus_workspace.this.id
  definition   = templatestring(var.alertmanager_template, { topic_arn = aws_sns_topic.alerts.arn, region = data.aws_region.current.name })
}

################################################################################
# Alert topic
################################################################################

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "ManagedPrometheusPublishes"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_prometheus_workspace.this.arn]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

################################################################################
# Slack
################################################################################

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "chatbot" {
  count              = var.slack_team_id == null ? 0 : 1
  name               = "${var.name}-chatbot"
  assume_role_policy = data.aws_iam_policy_document.chatbot_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "chatbot" {
  count      = var.slack_team_id == null ? 0 : 1
  role       = aws_iam_role.chatbot[0].name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
}

resource "aws_chatbot_slack_channel_configuration" "this" {
  count                 = var.slack_team_id == null ? 0 : 1
  configuration_name    = "${var.name}-alerts"
  iam_role_arn          = aws_iam_role.chatbot[0].arn
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
  sns_topic_arns        = [aws_sns_topic.alerts.arn]
  guardrail_policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  logging_level         = "ERROR"
  tags                  = var.tags
}

################################################################################
# Managed Grafana
################################################################################

data "aws_iam_policy_document" "grafana_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["grafana.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "grafana" {
  name               = "${var.name}-grafana"
  assume_role_policy = data.aws_iam_policy_document.grafana_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "grafana" {
  statement {
    sid       = "QueryPrometheus"
    actions   = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata", "aps:DescribeWorkspace"]
    resources = [aws_prometheus_workspace.this.arn]
  }
  statement {
    sid       = "ListPrometheus"
    actions   = ["aps:ListWorkspaces"]
    resources = ["*"] # List calls take no resource.
  }
}

resource "aws_iam_role_policy" "grafana" {
  name   = "data-sources"
  role   = aws_iam_role.grafana.id
  policy = data.aws_iam_policy_document.grafana.json
}

# AWS-managed read policies for the CloudWatch and X-Ray data sources.
resource "aws_iam_role_policy_attachment" "grafana" {
  for_each   = toset(["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess", "arn:aws:iam::aws:policy/AWSXrayReadOnlyAccess"])
  role       = aws_iam_role.grafana.name
  policy_arn = each.key
}

resource "aws_grafana_workspace" "this" {
  name                     = var.name
  description              = "Dashboards of ${var.name} (published by telemetry sync-dashboards)"
  account_access_type      = "CURRENT_ACCOUNT"
  authentication_providers = var.grafana_authentication_providers
  permission_type          = "SERVICE_MANAGED"
  role_arn                 = aws_iam_role.grafana.arn
  data_sources             = ["PROMETHEUS", "CLOUDWATCH", "XRAY"]
  grafana_version          = "10.4"
  # The tag `telemetry sync-dashboards --workspace <env>` looks the workspace up by.
  tags = merge(var.tags, { "task-platform:environment" = var.environment })
}
