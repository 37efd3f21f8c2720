# One run per validation rule: each invalid value is rejected with its message.

mock_provider "aws" {
  # IAM checks that policy documents are JSON objects even in plan; mocked ones must be too.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}
mock_provider "aws" {
  alias = "us_east_1"
  # IAM checks that policy documents are JSON objects even in plan; mocked ones must be too.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  environment       = "dev"
  azs               = ["eu-west-1a", "eu-west-1b"]
  github_repository = "acme/task-platform"
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  api_image         = "api:abc"
  runner_image      = "runner:abc"
  dora_image        = "dora:abc"
}

run "rejects_an_unknown_environment" {
  command = plan
  variables {
    environment = "qa"
  }
  expect_failures = [var.environment]
}

run "rejects_a_grace_period_longer_than_ecs_allows" {
  command = plan
  variables {
    runner_grace_period_seconds = 200
  }
  expect_failures = [var.runner_grace_period_seconds]
}

run "rejects_collecting_deployments_more_than_once_a_minute" {
  command = plan
  variables {
    dora_collect_interval_seconds = 10
  }
  expect_failures = [var.dora_collect_interval_seconds]
}

run "rejects_a_single_availability_zone" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name = "x"
    azs  = ["eu-west-1a"]
  }
  expect_failures = [var.azs]
}

run "rejects_an_unknown_nat_mode" {
  command = plan
  module {
    source = "./modules/network"
  }
  variables {
    name             = "x"
    nat_gateway_mode = "none"
  }
  expect_failures = [var.nat_gateway_mode]
}

run "rejects_a_max_receive_count_of_zero" {
  command = plan
  module {
    source = "./modules/queue"
  }
  variables {
    name              = "x"
    max_receive_count = 0
  }
  expect_failures = [var.max_receive_count]
}

run "rejects_a_repository_that_is_not_owner_slash_name" {
  command = plan
  module {
    source = "./modules/cicd_access"
  }
  variables {
    name                  = "x"
    github_repository     = "just-a-name"
    github_environment    = "dev"
    ecr_repository_arns   = []
    pass_role_arns        = []
    frontend_bucket_arn   = "arn:aws:s3:::b"
    distribution_arn      = "arn:aws:cloudfront::123456789012:distribution/X"
    grafana_workspace_arn = "arn:aws:grafana:eu-west-1:123456789012:/workspaces/g"
  }
  expect_failures = [var.github_repository]
}

run "rejects_a_long_load_balancer_name" {
  command = plan
  module {
    source = "./modules/load_balancer"
  }
  variables {
    name              = "a-name-that-is-far-too-long"
    vpc_id            = "vpc-1"
    vpc_cidr          = "10.20.0.0/16"
    public_subnet_ids = ["subnet-1", "subnet-2"]
    certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
  }
  expect_failures = [var.name]
}
