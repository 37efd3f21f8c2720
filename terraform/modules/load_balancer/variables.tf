################################################################################
# Load balancer
################################################################################

variable "name" {
  description = "Name prefix, at most 20 characters (ALB and target group names are limited to 32), e.g. `tp-dev`."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.name) <= 20
    error_message = "name must be at most 20 characters."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and its targets."
  type        = string
  nullable    = false
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; the load balancer may only reach targets inside it."
  type        = string
  nullable    = false
}

variable "public_subnet_ids" {
  description = "Public subnets, in at least 2 AZs."
  type        = list(string)
  nullable    = false
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener."
  type        = string
  nullable    = false
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer; set `false` where environments are torn down (dev)."
  type        = bool
  default     = true
  nullable    = false
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listeners, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06` (TLS 1.3 and 1.2 only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

variable "ingress_cidrs" {
  description = "CIDR blocks allowed to reach the load balancer; `[\"0.0.0.0/0\"]` for a public API."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false
}

################################################################################
# Targets
################################################################################

variable "target_port" {
  description = "Port the API containers listen on."
  type        = number
  default     = 8080
  nullable    = false
}

variable "test_listener_port" {
  description = "Port of the test listener CodeDeploy routes to the green target group before shifting traffic."
  type        = number
  default     = 8443
  nullable    = false
}

################################################################################
# Access logs
################################################################################

variable "access_log_retention_days" {
  description = "Days to keep ALB access logs in S3."
  type        = number
  default     = 90
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
