################################################################################
# Environment
################################################################################

variable "environment" {
  description = "Environment name, the same as the Terraform workspace and the GitHub environment: `dev`, `stage` or `production`."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["dev", "stage", "production"], var.environment)
    error_message = "environment must be `dev`, `stage` or `production`."
  }
}

variable "region" {
  description = "AWS region, e.g. `eu-west-1`."
  type        = string
  default     = "eu-west-1"
  nullable    = false
}

variable "azs" {
  description = "Availability zones (at least 2), e.g. `[\"eu-west-1a\", \"eu-west-1b\"]`."
  type        = list(string)
  nullable    = false
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.20.0.0/16"
  nullable    = false
}

variable "nat_gateway_mode" {
  description = "`single` or `per_az` NAT gateways (see modules/network)."
  type        = string
  default     = "single"
  nullable    = false
}

variable "enable_vpc_endpoints" {
  description = "Create VPC endpoints so AWS API traffic skips the NAT gateway."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Services
################################################################################

variable "api_image" {
  description = "Image of the API at creation; deploys move it on."
  type        = string
  nullable    = false
}

variable "runner_image" {
  description = "Image of the task runner at creation; deploys move it on."
  type        = string
  nullable    = false
}

variable "dora_image" {
  description = "Image of the DORA metrics collector (`docker build --target dora`, `telemetry dora serve`)."
  type        = string
  nullable    = false
}

variable "dora_collect_interval_seconds" {
  description = "Seconds between collections of the repository's deployments from the GitHub REST API."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.dora_collect_interval_seconds >= 60
    error_message = "Collect at most once a minute: each collection reads every deployment's statuses."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the API load balancer."
  type        = string
  nullable    = false
}

variable "api_min_count" {
  description = "Fewest API tasks."
  type        = number
  default     = 2
  nullable    = false
}

variable "api_max_count" {
  description = "Most API tasks."
  type        = number
  default     = 6
  nullable    = false
}

variable "runner_min_count" {
  description = "Fewest runner tasks (`0` scales to zero when idle)."
  type        = number
  default     = 0
  nullable    = false
}

variable "runner_max_count" {
  description = "Most runner tasks."
  type        = number
  default     = 10
  nullable    = false
}

variable "runner_workers" {
  description = "Worker slots per runner task (its `WORKERS`)."
  type        = number
  default     = 2
  nullable    = false
}

variable "runner_use_spot" {
  description = "Run runners on Fargate Spot."
  type        = bool
  default     = true
  nullable    = false
}

variable "runner_grace_period_seconds" {
  description = "Seconds a runner gets to finish running tasks after SIGTERM; ECS's stopTimeout is this plus 5."
  type        = number
  default     = 25
  nullable    = false

  validation {
    condition     = var.runner_grace_period_seconds >= 1 && var.runner_grace_period_seconds <= 115
    error_message = "runner_grace_period_seconds must be between 1 and 115 (ECS allows a stopTimeout of 120)."
  }
}

################################################################################
# Queue
################################################################################

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the queue and the runners."
  type        = number
  default     = 30
  nullable    = false
}

variable "max_receive_count" {
  description = "Receives before a task is dead-lettered."
  type        = number
  default     = 3
  nullable    = false
}

################################################################################
# Observability and CI/CD
################################################################################

variable "log_retention_days" {
  description = "Days to keep service and flow logs."
  type        = number
  default     = 30
  nullable    = false
}

variable "slack_team_id" {
  description = "Slack workspace ID for alerts via AWS Chatbot; `null` for none."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "Slack channel ID for alerts."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "Repository whose workflows deploy, `owner/name`."
  type        = string
  nullable    = false
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (once per account)."
  type        = bool
  default     = true
  nullable    = false
}
