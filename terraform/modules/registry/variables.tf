################################################################################
# Registry
################################################################################

variable "repositories" {
  description = "Repository names to create, e.g. `[\"task-platform/api\", \"task-platform/task-runner\"]`."
  type        = list(string)
  nullable    = false
}

variable "keep_images" {
  description = "Tagged images kept per repository; older ones expire. `30` by default."
  type        = number
  default     = 30
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key for image encryption; `null` uses AES-256."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
