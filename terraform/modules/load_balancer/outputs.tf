################################################################################
# Load balancer
################################################################################

output "dns_name" {
  description = "DNS name of the load balancer (CloudFront's /api/* origin)."
  value       = aws_lb.this.dns_name
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer, for CloudWatch metrics."
  value       = aws_lb.this.arn_suffix
}

output "security_group_id" {
  description = "Security group of the load balancer; the API tasks allow traffic from it."
  value       = aws_security_group.this.id
}

################################################################################
# Targets
################################################################################

output "target_group_arns" {
  description = "ARNs of the `blue` and `green` target groups."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn }
}

output "target_group_names" {
  description = "Names of the `blue` and `green` target groups (CodeDeploy refers to them by name)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.name }
}

output "target_group_arn_suffixes" {
  description = "ARN suffixes of the `blue` and `green` target groups, for CloudWatch metrics."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn_suffix }
}

################################################################################
# Listeners
################################################################################

output "https_listener_arn" {
  description = "ARN of the production HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "test_listener_arn" {
  description = "ARN of the test listener CodeDeploy uses before shifting traffic."
  value       = aws_lb_listener.test.arn
}
