################################################################################
# Blue/green deployment
################################################################################

output "codedeploy_app_name" {
  description = "CodeDeploy application the deploy workflow creates deployments in."
  value       = aws_codedeploy_app.this.name
}

output "codedeploy_deployment_group_name" {
  description = "CodeDeploy deployment group of the API."
  value       = aws_codedeploy_deployment_group.this.deployment_group_name
}

################################################################################
# Rollback alarms
################################################################################

output "rollback_alarm_names" {
  description = "Alarms that stop and roll back an API deployment."
  value       = aws_codedeploy_deployment_group.this.alarm_configuration[0].alarms
}
