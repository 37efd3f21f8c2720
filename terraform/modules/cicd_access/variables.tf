################################################################################
# GitHub OIDC
################################################################################

variable "name" {
  description = "Name prefix of the roles, e.g. `task-platform-dev`."
  type        = string
  nullable    = false
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; `false` when another stack already did (one per account)."
  type        = bool
  default     = true
  nullable    = false
}

variable "github_repository" {
  description = "Repository allowed to assume the roles, as `owner/name`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be `owner/name`."
  }
}

variable "services" {
  description = "Services deployed by their own job; each job runs in the GitHub environment `<github_environment>-<service>`."
  type        = list(string)
  default     = ["api", "task-runner", "frontend", "dora", "dashboards"]
  nullable    = false
}

variable "github_environment" {
  description = "Environment name (`dev`, ...): deploy jobs run in `<environment>-<service>`, Terraform in `<environment>-infra` (apply) and `<environment>-infra-plan`."
  type        = string
  nullable    = false
}

################################################################################
# Deploy role
################################################################################

variable "ecr_repository_arns" {
  description = "Repositories the deploy role may push to."
  type        = list(string)
  nullable    = false
}

variable "pass_role_arns" {
  description = "Task and execution roles the deploy role may hand to new task definitions."
  type        = list(string)
  nullable    = false
}

variable "frontend_bucket_arn" {
  description = "Bucket of the page."
  type        = string
  nullable    = false
}

variable "distribution_arn" {
  description = "CloudFront distribution to invalidate."
  type        = string
  nullable    = false
}

variable "grafana_workspace_arn" {
  description = "Grafana workspace the dashboards are published to."
  type        = string
  nullable    = false
}

################################################################################
# Terraform role
################################################################################

variable "terraform_policy_arn" {
  description = "Policy of the role that plans and applies this stack (it creates IAM roles, so it is broad); pinned to the `<environment>-infra` GitHub environment, which should require a reviewer."
  type        = string
  default     = "arn:aws:iam::aws:policy/AdministratorAccess"
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
