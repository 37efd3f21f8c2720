terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
      # CloudFront's WAF web ACL and certificate live in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
