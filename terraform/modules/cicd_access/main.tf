################################################################################
# GitHub OIDC
################################################################################

data "aws_caller_identity" "current" {}

locals {
  oidc_host         = "token.actions.githubusercontent.com"
  oidc_provider_arn = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.oidc_host}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

# Only jobs of this repository running in this environment's GitHub environments: no branch, fork
# or other repository can assume the roles, and no long-lived keys exist. Deploy jobs run in one
# environment per service (`dev-api`, ...), so GitHub records a deployment per service.
locals {
  trusted_environments = {
    deploy    = [for s in var.services : "${var.github_environment}-${s}"]
    terraform = ["${var.github_environment}-infra", "${var.github_environment}-infra-plan"]
  }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.trusted_environments
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [for e in each.value : "repo:${var.github_repository}:environment:${e}"]
    }
  }
}

################################################################################
# Deploy role
################################################################################

resource "aws_iam_role" "deploy" {
  name                 = "${var.name}-deploy"
  assume_role_policy   = data.aws_iam_policy_document.trust["deploy"].json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "deploy" {
  #checkov:skip=CKV_AWS_356:"*" only for ecr:GetAuthorizationToken, ecs:RegisterTaskDefinition, ecs:DescribeTaskDefinition and grafana:ListWorkspaces, which take no resource
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken takes no resource.
  }
  statement {
    sid = "EcrPush"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages",
    ]
    resources = var.ecr_repository_arns
  }
  statement {
    sid       = "EcsTaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"]
    resources = ["*"] # These two take no resource.
  }
  statement {
    sid       = "EcsServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = ["arn:aws:ecs:*:${data.aws_caller_identity.current.account_id}:service/${var.name}/*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = var.pass_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid = "CodeDeploy"
    actions = [
      "codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:GetDeploymentConfig",
      "codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision", "codedeploy:GetDeploymentGroup",
    ]
    resources = ["arn:aws:codedeploy:*:${data.aws_caller_identity.current.account_id}:*"]
  }
  statement {
    sid       = "FrontendSync"
    actions   = ["s3:ListBucket", "s3:PutObject", "s3:DeleteObject", "s3:GetObject"]
    resources = [var.frontend_bucket_arn, "${var.frontend_bucket_arn}/*"]
  }
  statement {
    sid       = "Invalidate"
    actions   = ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"]
    resources = [var.distribution_arn]
  }
  statement {
    sid       = "DashboardsFindWorkspace"
    actions   = ["grafana:ListWorkspaces", "grafana:ListTagsForResource"]
    resources = ["*"] # List calls take no resource.
  }
  statement {
    sid = "DashboardsToken"
    actions = [
      "grafana:DescribeWorkspace", "grafana:ListTagsForResource", "grafana:ListWorkspaceServiceAccounts", "grafana:CreateWorkspaceServiceAccount",
      "grafana:CreateWorkspaceServiceAccountToken", "grafana:DeleteWorkspaceServiceAccountToken",
    ]
    resources = [var.grafana_workspace_arn]
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

################################################################################
# Terraform role
################################################################################

resource "aws_iam_role" "terraform" {
  name                 = "${var.name}-terraform"
  assume_role_policy   = data.aws_iam_policy_document.trust["terraform"].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "terraform" {
  role       = aws_iam_role.terraform.name
  policy_arn = var.terraform_policy_arn
}
