################################################################################
# Queue
################################################################################

variable "name" {
  description = "Name of the task queue; its dead-letter queue is `<name>-dlq`."
  type        = string
  nullable    = false
}

variable "visibility_timeout_seconds" {
  description = "Seconds a received message stays hidden; the runner extends it every third while a task runs, so it must match the runner's `VISIBILITY_TIMEOUT`. `30` by default."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.visibility_timeout_seconds >= 10 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 10 and 43200 (12 h)."
  }
}

variable "message_retention_seconds" {
  description = "Seconds an unreceived task message is kept, up to `1209600` (14 days)."
  type        = number
  default     = 345600
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption; `null` uses SQS-managed keys (SSE-SQS)."
  type        = string
  default     = null
}

################################################################################
# Dead-letter queue
################################################################################

variable "max_receive_count" {
  description = "Maximum receives before a message moves to the dead-letter queue, `1` to `1000`."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
