################################################################################
# Queue
################################################################################

output "queue_url" {
  description = "URL of the task queue (the services' `QUEUE_URL`)."
  value       = aws_sqs_queue.this.id
}

output "queue_arn" {
  description = "ARN of the task queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the task queue."
  value       = aws_sqs_queue.this.name
}

################################################################################
# Dead-letter queue
################################################################################

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.name
}
