################################################################################
# Bucket
################################################################################

output "bucket_name" {
  description = "Bucket the deploy workflow syncs `services/frontend/public` to."
  value       = module.bucket.id
}

output "bucket_arn" {
  description = "ARN of the page bucket."
  value       = module.bucket.arn
}

################################################################################
# Distribution
################################################################################

output "distribution_id" {
  description = "CloudFront distribution the deploy workflow invalidates."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the distribution."
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "Domain of the page (`https://<domain>/`)."
  value       = aws_cloudfront_distribution.this.domain_name
}

################################################################################
# WAF
################################################################################

output "web_acl_arn" {
  description = "ARN of the WAF web ACL."
  value       = aws_wafv2_web_acl.this.arn
}
