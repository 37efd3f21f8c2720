################################################################################
# Cluster
################################################################################

variable "name" {
  description = "Name of the ECS cluster, e.g. `task-platform-dev`."
  type        = string
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
