# Example values: replace the account-specific ones before the first apply.
region             = "ap-northeast-1"
availability_zones = ["ap-northeast-1a", "ap-northeast-1c"]
certificate_arn    = "arn:aws:acm:ap-northeast-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
release_bucket     = "tweetgen-releases-123456789012"
release_version    = "0.1.0"
x_client_id        = "EXAMPLE-x-oauth2-client-id"

zone_name   = "tweetgen.example"
record_name = "tweetgen.example" # the apex: an alias A record
# false until `tweetgen-infra cutover` has moved the name to the ALB; then true.
manage_dns_record = false

# Prod receives the old host's data: its servers only read until the cutover
# opens the database (this is recorded in the database once; nothing to change after).
database_initial_state = "replica"

# The old host's network while `tweetgen-infra migrate` runs (reachable over the
# VPN into the VPC); empty once the migration is over.
migration_source_cidrs = ["192.0.2.10/32"]
