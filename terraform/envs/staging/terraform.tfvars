# Example values: replace the account-specific ones before the first apply.
region             = "ap-northeast-1"
availability_zones = ["ap-northeast-1a", "ap-northeast-1c"]
certificate_arn    = "arn:aws:acm:ap-northeast-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
release_bucket     = "tweetgen-releases-123456789012"
release_version    = "0.1.0"
x_client_id        = "EXAMPLE-x-oauth2-client-id"

zone_name         = "tweetgen.example"
record_name       = "staging.tweetgen.example"
manage_dns_record = true # nothing else serves staging's name

migration_source_cidrs = []
