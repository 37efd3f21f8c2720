################################################################################
# Network
################################################################################

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (load balancer), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (ECS tasks), one per AZ."
  value       = aws_subnet.private[*].id
}

################################################################################
# NAT
################################################################################

output "nat_gateway_count" {
  description = "Number of NAT gateways created (`1` or one per AZ)."
  value       = length(aws_nat_gateway.this)
}

################################################################################
# Flow logs
################################################################################

output "flow_log_group_name" {
  description = "CloudWatch log group of the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}
