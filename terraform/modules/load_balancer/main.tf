################################################################################
# Access logs
################################################################################

data "aws_elb_service_account" "this" {}

module "access_logs" {
  source      = "../private_bucket"
  name_prefix = "${var.name}-alb-logs-"
  object_access = [{
    actions        = ["s3:PutObject"]
    principal_type = "AWS"
    principals     = [data.aws_elb_service_account.this.arn]
  }]
  expiration_days = var.access_log_retention_days
  noncurrent_days = 1
  tags            = var.tags
}

################################################################################
# Load balancer
################################################################################

resource "aws_security_group" "this" {
  name        = "${var.name}-alb"
  description = "HTTP and HTTPS to the API load balancer"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "listeners" {
  for_each          = { for pair in setproduct([80, 443, var.test_listener_port], var.ingress_cidrs) : "${pair[0]}-${pair[1]}" => pair }
  security_group_id = aws_security_group.this.id
  description       = "Listener port ${each.value[0]}"
  from_port         = each.value[0]
  to_port           = each.value[0]
  ip_protocol       = "tcp"
  cidr_ipv4         = each.value[1]
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id = aws_security_group.this.id
  description       = "To the API tasks in the VPC"
  from_port         = var.target_port
  to_port           = var.target_port
  ip_protocol       = "tcp"
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_lb" "this" {
  name                       = "${var.name}-api"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.this.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = module.access_logs.id
    enabled = true
  }

  tags = var.tags
  # The ALB checks at creation that it may write its logs.
  depends_on = [module.access_logs]
}

################################################################################
# Targets
################################################################################

# Blue and green: CodeDeploy shifts the listeners between them on each API deployment.
resource "aws_lb_target_group" "this" {
  for_each             = toset(["blue", "green"])
  name                 = "${var.name}-api-${each.key}"
  port                 = var.target_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 20

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 5
  }

  tags = var.tags
}

################################################################################
# Listeners
################################################################################

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["blue"].arn
  }

  # CodeDeploy owns which target group serves production traffic.
  lifecycle {
    ignore_changes = [default_action]
  }
}

resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["green"].arn
  }

  lifecycle {
    ignore_changes = [default_action]
  }
}
