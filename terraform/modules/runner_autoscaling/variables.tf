################################################################################
# Autoscaling
################################################################################

variable "name" {
  description = "Name prefix of the policies and alarms, e.g. `task-platform-dev-runner`."
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "ECS cluster of the runner service."
  type        = string
  nullable    = false
}

variable "service_name" {
  description = "ECS service of the runners."
  type        = string
  nullable    = false
}

variable "queue_name" {
  description = "Name of the task queue whose backlog drives scaling."
  type        = string
  nullable    = false
}

variable "min_capacity" {
  description = "Fewest runner tasks; `0` lets an idle environment cost nothing for runners."
  type        = number
  default     = 0
  nullable    = false
}

variable "max_capacity" {
  description = "Most runner tasks."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.max_capacity >= 1
    error_message = "max_capacity must be at least 1."
  }
}

variable "backlog_per_task" {
  description = "Acceptable visible messages per running task: about worker slots x (acceptable latency / task duration). `20` by default."
  type        = number
  default     = 20
  nullable    = false
}

variable "oldest_message_age_seconds" {
  description = "Age of the oldest message, in seconds, that adds a task even when none runs (scale from zero). `60` by default."
  type        = number
  default     = 60
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
