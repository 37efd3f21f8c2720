################################################################################
# Managed Prometheus
################################################################################

variable "name" {
  description = "Name prefix, e.g. `task-platform-dev`."
  type        = string
  nullable    = false
}

variable "environment" {
  description = "Environment name (`dev`, `stage`, `production`); tags the Grafana workspace so `telemetry sync-dashboards --workspace <environment>` finds it."
  type        = string
  nullable    = false
}

variable "rules_yaml" {
  description = "Prometheus recording and alerting rules (alerts/rules.yml) loaded as a rule group namespace."
  type        = string
  nullable    = false
}

variable "alertmanager_template" {
  description = "Alertmanager definition template (alerts/aws/alertmanager.yml.tftpl), given `topic_arn` and `region`."
  type        = string
  nullable    = false
}

################################################################################
# Slack
################################################################################

variable "slack_team_id" {
  description = "Slack workspace ID (`T...`) authorised in AWS Chatbot; `null` skips the Slack channel."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "Slack channel ID (`C...`) that receives alerts."
  type        = string
  default     = null
}

################################################################################
# Managed Grafana
################################################################################

variable "grafana_authentication_providers" {
  description = "How people sign in to Grafana: `[\"AWS_SSO\"]` (IAM Identity Center) or `[\"SAML\"]`."
  type        = list(string)
  default     = ["AWS_SSO"]
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
