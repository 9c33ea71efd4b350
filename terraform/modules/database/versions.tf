terraform {
  # 1.9: validations may refer to other variables; 1.11: ephemeral values and write-only
  # arguments (the app role's password stays out of plans and state).
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25.0" # the schema terraform/tests/schema_check.py checks against
    }
  }
}
