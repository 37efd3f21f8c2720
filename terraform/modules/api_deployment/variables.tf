################################################################################
# Blue/green deployment
################################################################################

variable "name" {
  description = "Name prefix of the CodeDeploy application, alarms and scaling policies, e.g. `task-platform-dev-api`."
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "ECS cluster of the API service."
  type        = string
  nullable    = false
}

variable "service_name" {
  description = "ECS service of the API (with the `CODE_DEPLOY` deployment controller)."
  type        = string
  nullable    = false
}

variable "target_group_names" {
  description = "Names of the `blue` and `green` target groups."
  type        = map(string)
  nullable    = false
}

variable "target_group_arn_suffixes" {
  description = "ARN suffixes of the `blue` and `green` target groups, for alarms and request-count scaling."
  type        = map(string)
  nullable    = false
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the load balancer."
  type        = string
  nullable    = false
}

variable "prod_listener_arn" {
  description = "Listener that serves production traffic."
  type        = string
  nullable    = false
}

variable "test_listener_arn" {
  description = "Listener that reaches the replacement tasks before traffic shifts."
  type        = string
  nullable    = false
}

variable "deployment_config_name" {
  description = "How traffic shifts, e.g. `CodeDeployDefault.ECSCanary10Percent5Minutes` or `CodeDeployDefault.ECSAllAtOnce`."
  type        = string
  default     = "CodeDeployDefault.ECSCanary10Percent5Minutes"
  nullable    = false
}

################################################################################
# Rollback alarms
################################################################################

variable "error_rate_threshold" {
  description = "5xx answers per minute from the API's targets that roll a deployment back, e.g. `10`."
  type        = number
  default     = 10
  nullable    = false
}

variable "latency_threshold_seconds" {
  description = "p99 target response time, in seconds, that rolls a deployment back, e.g. `1`."
  type        = number
  default     = 1
  nullable    = false
}

################################################################################
# Autoscaling
################################################################################

variable "min_capacity" {
  description = "Fewest API tasks; `2` keeps one per AZ."
  type        = number
  default     = 2
  nullable    = false
}

variable "max_capacity" {
  description = "Most API tasks."
  type        = number
  default     = 6
  nullable    = false
}

variable "requests_per_target" {
  description = "Target requests per minute per API task, e.g. `3000`."
  type        = number
  default     = 3000
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
