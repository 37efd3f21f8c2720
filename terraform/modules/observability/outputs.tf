################################################################################
# Managed Prometheus
################################################################################

output "prometheus_workspace_arn" {
  description = "ARN of the Managed Prometheus workspace."
  value       = aws_prometheus_workspace.this.arn
}

output "prometheus_remote_write_url" {
  description = "Remote-write URL for the ADOT sidecars."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

################################################################################
# Alert topic
################################################################################

output "alert_topic_arn" {
  description = "SNS topic alerts go to (and Slack reads from)."
  value       = aws_sns_topic.alerts.arn
}

################################################################################
# Managed Grafana
################################################################################

output "grafana_workspace_id" {
  description = "ID of the Managed Grafana workspace."
  value       = aws_grafana_workspace.this.id
}

output "grafana_endpoint" {
  description = "URL of the Grafana workspace."
  value       = "https://${aws_grafana_workspace.this.endpoint}"
}
