################################################################################
# Network
################################################################################

variable "name" {
  description = "Name prefix of every resource, e.g. `task-platform-dev`."
  type        = string
  nullable    = false
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC, e.g. `10.20.0.0/16`."
  type        = string
  default     = "10.20.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrnetmask(var.cidr))
    error_message = "cidr must be an IPv4 CIDR block such as `10.20.0.0/16`."
  }
}

variable "azs" {
  description = "Availability zones to spread subnets over; at least 2, e.g. `[\"eu-west-1a\", \"eu-west-1b\"]`."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.azs) >= 2
    error_message = "azs must name at least 2 availability zones."
  }
}

################################################################################
# NAT
################################################################################

variable "nat_gateway_mode" {
  description = "`single` (one NAT gateway, ~$33/month plus data, an AZ outage cuts egress) or `per_az` (one per AZ, highly available, that cost per AZ)."
  type        = string
  default     = "single"
  nullable    = false

  validation {
    condition     = contains(["single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be `single` or `per_az`."
  }
}

################################################################################
# VPC endpoints
################################################################################

variable "enable_vpc_endpoints" {
  description = "Create VPC endpoints for SQS, ECR, CloudWatch Logs, X-Ray and Prometheus (interface, ~$7/month each per AZ) and DynamoDB and S3 (gateway, free), so that traffic skips the NAT gateway."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Flow logs
################################################################################

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs, one of CloudWatch's retention values, e.g. `30`."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30, 60, 90, ... 3653."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the flow log group; `null` uses CloudWatch's own encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
