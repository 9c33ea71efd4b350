terraform {
  # 1.9: validations may refer to other variables.
  required_version = ">= 1.9, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25.0" # the schema terraform/tests/schema_check.py checks against
    }
  }
}
