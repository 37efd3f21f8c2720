terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }

  # State in S3 with S3-native locking (no DynamoDB lock table). One workspace per environment:
  # `terraform workspace select dev`. Bucket and region come from `-backend-config`
  # (see bootstrap/create-state-bucket.sh).
  backend "s3" {
    key                  = "task-platform/terraform.tfstate"
    workspace_key_prefix = "env"
    use_lockfile         = true
    encrypt              = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

# CloudFront's WAF web ACL lives in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = local.tags
  }
}
