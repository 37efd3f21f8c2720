################################################################################
# What the deploy workflows read (`terraform output -json`)
################################################################################

output "ecr_repositories" {
  description = "Repository URL per image."
  value       = module.registry.repository_urls
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.cluster.cluster_name
}

output "api_service_name" {
  description = "ECS service of the API (deployed by CodeDeploy)."
  value       = module.api.service_name
}

output "runner_service_name" {
  description = "ECS service of the runners (rolling deploys)."
  value       = module.runner.service_name
}

output "codedeploy_app_name" {
  description = "CodeDeploy application of the API."
  value       = module.api_deployment.codedeploy_app_name
}

output "codedeploy_deployment_group_name" {
  description = "CodeDeploy deployment group of the API."
  value       = module.api_deployment.codedeploy_deployment_group_name
}

output "frontend_bucket" {
  description = "Bucket of the page."
  value       = module.frontend.bucket_name
}

output "frontend_distribution_id" {
  description = "CloudFront distribution of the page."
  value       = module.frontend.distribution_id
}

output "page_url" {
  description = "URL of the page."
  value       = "https://${module.frontend.domain_name}/"
}

output "queue_url" {
  description = "Task queue."
  value       = module.queue.queue_url
}

output "tasks_table" {
  description = "Tasks table."
  value       = module.table.table_name
}

output "grafana_endpoint" {
  description = "Grafana workspace URL."
  value       = module.observability.grafana_endpoint
}

output "deploy_role_arn" {
  description = "Role of the deploy workflow."
  value       = module.cicd_access.deploy_role_arn
}

output "terraform_role_arn" {
  description = "Role of the Terraform workflow."
  value       = module.cicd_access.terraform_role_arn
}
