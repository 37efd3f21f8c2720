################################################################################
# Service
################################################################################

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "security_group_id" {
  description = "Security group of the service's tasks."
  value       = aws_security_group.this.id
}

################################################################################
# Task definition
################################################################################

output "task_definition_arn" {
  description = "ARN of the task definition revision Terraform created (deploys register newer ones)."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "ARN of the task role."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the app and its sidecar."
  value       = aws_cloudwatch_log_group.this.name
}

output "container_definitions" {
  description = "The task definition's containers (JSON): the app first, then the ADOT collector."
  value       = aws_ecs_task_definition.this.container_definitions
}

output "app_policy_names" {
  description = "Inline policies of the app on the task role (empty when `app_calls_aws` is false)."
  value       = aws_iam_role_policy.app[*].name
}
