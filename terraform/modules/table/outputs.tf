################################################################################
# Table
################################################################################

output "table_name" {
  description = "Name of the tasks table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the tasks table (its indexes are `<arn>/index/*`)."
  value       = aws_dynamodb_table.this.arn
}
