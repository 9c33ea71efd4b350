# Inputs with a null default are passed on as null, which the using module
# replaces with its own default; see that module's variables.tf for the details
# and the validation.

variable "name" {
  description = "Prefix of every resource name, e.g. tweetgen-prod."
  type        = string
}

# --- network ------------------------------------------------------------------

variable "vpc_cidr" {
  description = "The VPC's IPv4 range (modules/network)."
  type        = string
  default     = null
}

variable "availability_zones" {
  description = "Zones to spread over, at least two (modules/network)."
  type        = list(string)
}

variable "nat_gateway_mode" {
  description = "none, single or one_per_az (modules/network)."
  type        = string
  default     = null
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints (modules/network)."
  type        = set(string)
  default     = null
}

variable "flow_log_traffic_type" {
  description = "ALL, ACCEPT or REJECT flow log records (modules/network)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Days the log bucket keeps flow and ALB logs (modules/network)."
  type        = number
  default     = null
}

variable "log_bucket_force_destroy" {
  description = "Let terraform destroy delete the log bucket with its logs (modules/network)."
  type        = bool
  default     = null
}

# --- app ----------------------------------------------------------------------

variable "instance_types" {
  description = "Graviton instance types, preferred first (modules/app)."
  type        = list(string)
  default     = null
}

variable "min_size" {
  description = "Fewest instances (modules/app)."
  type        = number
  default     = null
}

variable "max_size" {
  description = "Most instances (modules/app)."
  type        = number
  default     = null
}

variable "target_cpu_utilization" {
  description = "Average CPU percentage target tracking holds (modules/app)."
  type        = number
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener (modules/app)."
  type        = string
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the ALB (modules/app)."
  type        = list(string)
  default     = null
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the ALB (modules/app)."
  type        = bool
  default     = null
}

variable "release_bucket" {
  description = "S3 bucket with the release tarballs under releases/ (modules/app)."
  type        = string
}

variable "release_version" {
  description = "Release the instances install (modules/app)."
  type        = string
}

variable "server_settings" {
  description = "Further TWEETGEN__* settings for the server (modules/app); they win over the ones this module sets."
  type        = map(string)
  default     = null
}

variable "x_client_id" {
  description = "OAuth 2.0 client id of the X app (callback https://RECORD_NAME/auth/callback). A public client: PKCE, no secret."
  type        = string

  validation {
    condition     = length(var.x_client_id) > 0
    error_message = "x_client_id: without it nobody can sign in."
  }
}

variable "model_cache_max_bytes" {
  description = "Memory for decoded models per instance. A decoded model takes about 1.1 MiB (bench/README.md): 1 GiB keeps ~900 voices hot on a t4g.small's 2 GiB, beside the dictionary and the fonts."
  type        = number
  default     = 1073741824
}

variable "enable_session_manager" {
  description = "Shell access through Session Manager (modules/app)."
  type        = bool
  default     = null
}

# --- the move (tweetgen-infra cutover) ------------------------------------------

variable "database_name" {
  description = "What the servers call this environment's database (database.name): the name the cutover's control records use."
  type        = string
  default     = "rds"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,30}$", var.database_name))
    error_message = "database_name: lower-case letters, digits and underscores."
  }
}

variable "database_initial_state" {
  description = "What the servers record on a database that has no control record yet: \"serving\" for a fresh environment, \"replica\" for one that will receive a move (reads only until `tweetgen-infra cutover` opens it). Read once: afterwards the record decides, so nothing is left to flip after the cutover."
  type        = string
  default     = "serving"

  validation {
    condition     = contains(["serving", "replica"], var.database_initial_state)
    error_message = "database_initial_state: serving or replica."
  }
}

variable "old_database_name" {
  description = "What the servers call the old host's database (modules/app)."
  type        = string
  default     = null
}

variable "old_database_secret_arn" {
  description = "Secrets Manager secret holding the old host's database URL, for a rollback after the commit point (modules/app)."
  type        = string
  default     = null
}

# --- database -----------------------------------------------------------------

variable "migration_source_cidrs" {
  description = "Networks admitted to the database during the move (modules/database)."
  type        = list(string)
  default     = null
}

variable "db_engine_version" {
  description = "PostgreSQL version, 16 or newer (modules/database)."
  type        = string
  default     = null
}

variable "db_instance_class" {
  description = "Graviton DB instance class (modules/database)."
  type        = string
  default     = null
}

variable "db_allocated_storage_gib" {
  description = "Initial gp3 storage (modules/database)."
  type        = number
  default     = null
}

variable "db_max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling (modules/database)."
  type        = number
  default     = null
}

variable "db_multi_az" {
  description = "A standby in a second zone (modules/database)."
  type        = bool
  default     = null
}

variable "db_deletion_protection" {
  description = "Refuse to delete the instance (modules/database)."
  type        = bool
  default     = null
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (modules/database)."
  type        = number
  default     = null
}

variable "db_performance_insights_enabled" {
  description = "Performance Insights, 7 days free (modules/database)."
  type        = bool
  default     = null
}

variable "db_apply_immediately" {
  description = "Apply changes at once rather than in the maintenance window (modules/database)."
  type        = bool
  default     = null
}

# --- dns ----------------------------------------------------------------------

variable "zone_name" {
  description = "The public hosted zone (modules/dns)."
  type        = string
}

variable "record_name" {
  description = "The service's name: the apex or a name in the zone (modules/dns)."
  type        = string
}

variable "dns_ttl_seconds" {
  description = "The record's TTL, at most 60 (modules/dns)."
  type        = number
  default     = null
}

variable "manage_dns_record" {
  description = "Whether Terraform writes the service record; false until the cutover (modules/dns)."
  type        = bool
  default     = null
}
