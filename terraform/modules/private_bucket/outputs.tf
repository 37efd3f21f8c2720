################################################################################
# Bucket
################################################################################

output "id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "regional_domain_name" {
  description = "Regional domain of the bucket (a CloudFront origin)."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "policy_id" {
  description = "ID of the bucket policy, for `depends_on` of writers that need it in place."
  value       = aws_s3_bucket_policy.this.id
}
