provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "tweetgen"
      Environment = "staging"
      ManagedBy   = "terraform"
    }
  }
}

# Staging: prod's shape at the smallest sizes, in one zone's worth of instances,
# and easy to tear down but for the database (deletion protection stays on).
module "tweetgen" {
  source = "../../modules/environment"

  name = "tweetgen-staging"

  availability_zones       = var.availability_zones
  nat_gateway_mode         = "none"
  flow_log_traffic_type    = "REJECT"
  log_retention_days       = 30
  log_bucket_force_destroy = true

  instance_types          = ["t4g.small"]
  min_size                = 1
  max_size                = 2
  certificate_arn         = var.certificate_arn
  alb_ingress_cidrs       = var.alb_ingress_cidrs
  alb_deletion_protection = false
  release_bucket          = var.release_bucket
  release_version         = var.release_version
  x_client_id             = var.x_client_id
  database_initial_state  = var.database_initial_state
  old_database_secret_arn = var.old_database_secret_arn

  db_instance_class               = "db.t4g.micro"
  db_allocated_storage_gib        = 20
  db_max_allocated_storage_gib    = 100
  db_multi_az                     = false
  db_deletion_protection          = true
  db_backup_retention_days        = 7
  db_performance_insights_enabled = true
  db_apply_immediately            = true
  migration_source_cidrs          = var.migration_source_cidrs

  zone_name         = var.zone_name
  record_name       = var.record_name
  manage_dns_record = var.manage_dns_record
}
