################################################################################
# Bucket
################################################################################

variable "name" {
  description = "Name prefix of the bucket and distribution, e.g. `task-platform-dev`."
  type        = string
  nullable    = false
}

################################################################################
# Distribution
################################################################################

variable "api_origin_domain" {
  description = "Domain of the API load balancer; CloudFront routes `/api/*` there over HTTPS."
  type        = string
  nullable    = false
}

variable "aliases" {
  description = "Custom domain names of the page; `[]` serves it on the cloudfront.net domain."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "certificate_arn" {
  description = "ACM certificate in us-east-1 for `aliases`; `null` with no aliases."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class: `PriceClass_100` (cheapest), `PriceClass_200` or `PriceClass_All`."
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be `PriceClass_100`, `PriceClass_200` or `PriceClass_All`."
  }
}

################################################################################
# WAF
################################################################################

variable "rate_limit_per_5_minutes" {
  description = "Requests one IP may make in 5 minutes before WAF blocks it, at least `100`."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.rate_limit_per_5_minutes >= 100
    error_message = "rate_limit_per_5_minutes must be at least 100 (the WAF minimum)."
  }
}

variable "waf_log_retention_days" {
  description = "Days to keep WAF logs, a CloudWatch retention value such as `30`."
  type        = number
  default     = 30
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key (in us-east-1) encrypting the WAF log group; `null` uses CloudWatch's own encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
