################################################################################
# Bucket
################################################################################

variable "name_prefix" {
  description = "Prefix of the bucket name (S3 adds a unique suffix), e.g. `task-platform-dev-frontend-`."
  type        = string
  nullable    = false
}

variable "object_access" {
  description = "Who may do what to the bucket's objects: `actions` (e.g. `[\"s3:GetObject\"]`), a principal (`principal_type` `Service` or `AWS`, `principals`) and an optional `source_arn` the request must come from. A deny of non-TLS access is always added."
  type = list(object({
    actions        = list(string)
    principal_type = string
    principals     = list(string)
    source_arn     = optional(string)
  }))
  nullable = false
}

################################################################################
# Lifecycle
################################################################################

variable "expiration_days" {
  description = "Days after which current objects expire; `null` keeps them."
  type        = number
  default     = null
}

variable "noncurrent_days" {
  description = "Days old versions are kept."
  type        = number
  default     = 30
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
