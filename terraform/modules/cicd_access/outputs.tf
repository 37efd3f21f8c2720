################################################################################
# Deploy role
################################################################################

output "deploy_role_arn" {
  description = "Role the deploy workflow assumes (GitHub variable `AWS_DEPLOY_ROLE_ARN`)."
  value       = aws_iam_role.deploy.arn
}

output "deploy_role_trust" {
  description = "The `sub` claims the deploy role trusts."
  value       = [for e in local.trusted_environments.deploy : "repo:${var.github_repository}:environment:${e}"]
}

################################################################################
# Terraform role
################################################################################

output "terraform_role_arn" {
  description = "Role the Terraform workflow assumes (GitHub variable `AWS_TERRAFORM_ROLE_ARN`)."
  value       = aws_iam_role.terraform.arn
}
