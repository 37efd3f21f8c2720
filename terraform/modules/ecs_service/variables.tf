################################################################################
# Service
################################################################################

variable "name" {
  description = "Service name, e.g. `api` or `task-runner`; also the container name."
  type        = string
  nullable    = false
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster."
  type        = string
  nullable    = false
}

variable "desired_count" {
  description = "Tasks at creation; autoscaling owns the count afterwards."
  type        = number
  default     = 1
  nullable    = false
}

variable "deployment_controller" {
  description = "`ECS` (rolling, with circuit breaker and rollback) or `CODE_DEPLOY` (blue/green)."
  type        = string
  default     = "ECS"
  nullable    = false

  validation {
    condition     = contains(["ECS", "CODE_DEPLOY"], var.deployment_controller)
    error_message = "deployment_controller must be `ECS` or `CODE_DEPLOY`."
  }
}

variable "use_spot" {
  description = "Run on Fargate Spot (about 70% cheaper; tasks may be interrupted with 2 minutes' notice, which the runner's SIGTERM drain handles)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Task definition
################################################################################

variable "image" {
  description = "Container image of the app, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-platform/api:<sha>`."
  type        = string
  nullable    = false
}

variable "cpu" {
  description = "Task CPU units, a Fargate size such as `256`, `512`, `1024`."
  type        = number
  default     = 512
  nullable    = false
}

variable "memory" {
  description = "Task memory in MiB, valid for the CPU size, e.g. `1024`."
  type        = number
  default     = 1024
  nullable    = false
}

variable "container_port" {
  description = "Port the app serves HTTP on (the load balancer's target port); `null` for none."
  type        = number
  default     = null
}

variable "metrics_port" {
  description = "Port of the app's /metrics, which the ADOT sidecar scrapes."
  type        = number
  nullable    = false
}

variable "environment" {
  description = "Environment variables of the app container (the DESIGN contract: `QUEUE_URL`, `TASKS_TABLE`, ...)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "stop_timeout" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL, at most `120`; must exceed the app's grace period."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds."
  }
}

variable "app_calls_aws" {
  description = "Whether the app itself calls AWS APIs. `false` gives the task role only the sidecar's telemetry policy (and `task_role_policy_json` is ignored)."
  type        = bool
  default     = true
  nullable    = false
}

variable "task_role_policy_json" {
  description = "IAM policy of the app itself (least privilege: its queue, its table); required when `app_calls_aws`."
  type        = string
  default     = null
}

variable "secrets" {
  description = "Environment variables of the app container filled from Secrets Manager when a task starts: name -> secret ARN. Only the execution role may read them."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Telemetry sidecar
################################################################################

variable "adot_image" {
  description = "Image of the AWS Distro for OpenTelemetry collector sidecar."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1"
  nullable    = false
}

variable "adot_config" {
  description = "Collector configuration (telemetry/adot/collector.yaml)."
  type        = string
  nullable    = false
}

variable "prometheus_remote_write_url" {
  description = "Remote-write URL of the Managed Prometheus workspace."
  type        = string
  nullable    = false
}

variable "prometheus_workspace_arn" {
  description = "ARN of the Managed Prometheus workspace the sidecar writes to."
  type        = string
  nullable    = false
}

variable "log_retention_days" {
  description = "Days to keep the service's logs, a CloudWatch retention value such as `30`."
  type        = number
  default     = 30
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log group; `null` uses CloudWatch's own encryption."
  type        = string
  default     = null
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets of the tasks; tasks get no public IP."
  type        = list(string)
  nullable    = false
}

variable "ingress_security_group_id" {
  description = "Security group allowed to reach `container_port` (the load balancer's); required when `container_port` is set."
  type        = string
  default     = null
}

variable "target_group_arn" {
  description = "Target group registered at creation (the blue one for the API); `null` for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
