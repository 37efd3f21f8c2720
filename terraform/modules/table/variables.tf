################################################################################
# Table
################################################################################

variable "name" {
  description = "Name of the DynamoDB table of tasks (the services' `TASKS_TABLE`)."
  type        = string
  nullable    = false
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for encryption at rest; `null` uses the AWS-owned key."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse to delete the table (`true` for production)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
