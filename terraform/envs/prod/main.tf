provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "tweetgen"
      Environment = "prod"
      ManagedBy   = "terraform"
    }
  }
}

# Prod: two instances (one per zone) at least, a Multi-AZ database sized for
# 500,000 users, and deletion protection on the ALB and the database.
module "tweetgen" {
  source = "../../modules/environment"

  name = "tweetgen-prod"

  availability_zones    = var.availability_zones
  nat_gateway_mode      = "none"
  flow_log_traffic_type = "ALL"
  log_retention_days    = 90

  # t4g.medium only when t4g.small cannot be had in a zone.
  instance_types          = ["t4g.small", "t4g.medium"]
  min_size                = 2
  max_size                = 6
  certificate_arn         = var.certificate_arn
  alb_ingress_cidrs       = var.alb_ingress_cidrs
  alb_deletion_protection = true
  release_bucket          = var.release_bucket
  release_version         = var.release_version
  x_client_id             = var.x_client_id
  database_initial_state  = var.database_initial_state
  old_database_secret_arn = var.old_database_secret_arn

  db_instance_class = "db.t4g.medium"
  # 500,000 users' models (56 GiB) and a quarter's generations with 10% free;
  # autoscaling follows the generations up to two years' worth (terraform/README.md,
  # "Monthly cost"). It grows at most once every 6 hours, too slowly for the initial
  # copy: raise this first if the old database's tables hold more than 90 GiB.
  db_allocated_storage_gib        = 100
  db_max_allocated_storage_gib    = 400
  db_multi_az                     = true
  db_deletion_protection          = true
  db_backup_retention_days        = 14
  db_performance_insights_enabled = true
  migration_source_cidrs          = var.migration_source_cidrs

  zone_name         = var.zone_name
  record_name       = var.record_name
  manage_dns_record = var.manage_dns_record
}
