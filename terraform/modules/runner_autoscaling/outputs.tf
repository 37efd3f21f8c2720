################################################################################
# Autoscaling
################################################################################

output "backlog_policy_arn" {
  description = "ARN of the backlog-per-task target tracking policy."
  value       = aws_appautoscaling_policy.backlog_per_task.arn
}

output "oldest_message_alarm_name" {
  description = "Alarm that scales runners from zero when tasks wait."
  value       = aws_cloudwatch_metric_alarm.oldest_message.alarm_name
}
