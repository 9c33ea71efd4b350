# One tweetgen environment: the four modules wired together, so that staging and
# prod differ only in the values they pass. Inputs left null take the defaults
# (and validation) of the module that uses them.

locals {
  server_settings = {
    # Share links, card images and the OAuth callback are built from it.
    TWEETGEN__SERVER__PUBLIC_URL      = "https://${var.record_name}"
    TWEETGEN__AUTH__CLIENT_ID         = var.x_client_id
    TWEETGEN__MARKOV__CACHE_MAX_BYTES = tostring(var.model_cache_max_bytes)
    # The control plane: what the servers call this database, and what they record
    # on it when it has no control record yet ("replica" for a database that will
    # receive a move: reads only until the cutover opens it).
    TWEETGEN__DATABASE__NAME         = var.database_name
    TWEETGEN__CONTROL__INITIAL_STATE = var.database_initial_state
  }
}

module "network" {
  source = "../network"

  name                     = var.name
  vpc_cidr                 = var.vpc_cidr
  availability_zones       = var.availability_zones
  nat_gateway_mode         = var.nat_gateway_mode
  interface_endpoints      = var.interface_endpoints
  flow_log_traffic_type    = var.flow_log_traffic_type
  log_retention_days       = var.log_retention_days
  log_bucket_force_destroy = var.log_bucket_force_destroy
}

module "app" {
  source = "../app"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  vpc_cidr_block            = module.network.vpc_cidr_block
  public_subnet_ids         = module.network.public_subnet_ids
  app_subnet_ids            = module.network.app_subnet_ids
  s3_prefix_list_id         = module.network.s3_prefix_list_id
  log_bucket_id             = module.network.log_bucket_id
  instance_types            = var.instance_types
  min_size                  = var.min_size
  max_size                  = var.max_size
  target_cpu_utilization    = var.target_cpu_utilization
  certificate_arn           = var.certificate_arn
  alb_ingress_cidrs         = var.alb_ingress_cidrs
  alb_deletion_protection   = var.alb_deletion_protection
  release_bucket            = var.release_bucket
  release_version           = var.release_version
  database_host             = module.database.endpoint
  database_port             = module.database.port
  database_name             = module.database.database_name
  database_owner_secret_arn = module.database.master_user_secret_arn
  database_app_secret_arn   = module.database.app_role_secret_arn
  old_database_name         = var.old_database_name
  old_database_secret_arn   = var.old_database_secret_arn
  old_database_cidrs        = var.migration_source_cidrs
  server_settings           = merge(local.server_settings, var.server_settings == null ? {} : var.server_settings)
  enable_session_manager    = var.enable_session_manager
}

module "database" {
  source = "../database"

  name                         = var.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.database_subnet_ids
  app_security_group_id        = module.app.security_group_id
  migration_source_cidrs       = var.migration_source_cidrs
  engine_version               = var.db_engine_version
  instance_class               = var.db_instance_class
  allocated_storage_gib        = var.db_allocated_storage_gib
  max_allocated_storage_gib    = var.db_max_allocated_storage_gib
  multi_az                     = var.db_multi_az
  deletion_protection          = var.db_deletion_protection
  backup_retention_days        = var.db_backup_retention_days
  performance_insights_enabled = var.db_performance_insights_enabled
  apply_immediately            = var.db_apply_immediately
}

module "dns" {
  source = "../dns"

  zone_name     = var.zone_name
  record_name   = var.record_name
  ttl_seconds   = var.dns_ttl_seconds
  manage_record = var.manage_dns_record
  alb_dns_name  = module.app.alb_dns_name
  alb_zone_id   = module.app.alb_zone_id
}
