terraform {
  # 1.10: S3 state locking without a DynamoDB table (use_lockfile in backend.hcl);
  # 1.11: write-only arguments (modules/database).
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25.0" # the schema terraform/tests/schema_check.py checks against
    }
  }

  # Filled in at init: terraform init -backend-config=backend.hcl
  backend "s3" {}
}
