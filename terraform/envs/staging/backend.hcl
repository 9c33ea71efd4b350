# Example: terraform init -backend-config=backend.hcl
# The bucket is created once, by hand, before the first init (terraform/README.md).
bucket       = "tweetgen-terraform-state-123456789012"
key          = "tweetgen/staging/terraform.tfstate"
region       = "ap-northeast-1"
encrypt      = true
use_lockfile = true # S3-native state locking (Terraform 1.10+): no DynamoDB table
