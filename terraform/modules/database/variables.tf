variable "name" {
  description = "Prefix of every resource name, e.g. tweetgen-prod; also the DB instance identifier."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: lowercase letters, digits and hyphens, 2 to 21 characters."
  }
}

variable "vpc_id" {
  description = "The VPC to run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private database subnets, in at least two zones (RDS requires it, Multi-AZ uses them)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: at least two zones."
  }
}

variable "app_security_group_id" {
  description = "The app instances' security group: the only group admitted."
  type        = string
}

variable "migration_source_cidrs" {
  description = <<-EOT
    Networks also admitted on the database port while the data moves from the old
    host (tweetgen-infra migrate): the old host's private range over a VPN or
    peering, as narrow as possible. RDS stays private, so these must be routable
    into the VPC. Empty once the migration is over.
  EOT
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.migration_source_cidrs : can(cidrhost(cidr, 0)) && tonumber(split("/", cidr)[1]) >= 16])
    error_message = "migration_source_cidrs: IPv4 CIDRs of /16 or narrower (the old host's network, not the internet)."
  }
}

variable "engine_version" {
  description = "PostgreSQL version: a major (17, minors upgraded automatically) or an exact minor (17.6)."
  type        = string
  default     = "17"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?$", var.engine_version)) && tonumber(split(".", var.engine_version)[0]) >= 16
    error_message = "engine_version: PostgreSQL 16 or newer, as 17 or 17.6."
  }
}

variable "instance_class" {
  description = "Graviton DB instance class, e.g. db.t4g.small or db.m7g.large."
  type        = string
  default     = "db.t4g.small"
  nullable    = false

  validation {
    condition     = can(regex("^db\\.[a-z]+[0-9]+g[a-z]*\\.[0-9a-z]+$", var.instance_class))
    error_message = "instance_class: a Graviton class (db.t4g, db.m7g, db.r7g, ...)."
  }
}

variable "allocated_storage_gib" {
  description = "Initial gp3 storage in GiB (20 is RDS's minimum for gp3 PostgreSQL)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.allocated_storage_gib >= 20
    error_message = "allocated_storage_gib: at least 20."
  }
}

variable "max_allocated_storage_gib" {
  description = "Ceiling for storage autoscaling: RDS grows the volume by itself up to this many GiB."
  type        = number
  default     = 200
  nullable    = false

  validation {
    condition     = var.max_allocated_storage_gib > var.allocated_storage_gib
    error_message = "max_allocated_storage_gib must exceed allocated_storage_gib, or storage autoscaling is off."
  }
}

variable "multi_az" {
  description = "A standby in a second zone with automatic failover (prod)."
  type        = bool
  default     = true
  nullable    = false
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
  nullable    = false
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days: 1 to 35 (0 would turn backups off)."
  }
}

variable "database_name" {
  description = "The database created for the server."
  type        = string
  default     = "tweetgen"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name: a lowercase PostgreSQL identifier."
  }
}

variable "master_username" {
  description = "The master user; RDS generates its password and keeps it in Secrets Manager."
  type        = string
  default     = "tweetgen"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.master_username)) && !contains(["postgres", "rdsadmin", "admin"], var.master_username)
    error_message = "master_username: a lowercase identifier of up to 16 characters, not a reserved name."
  }
}

variable "app_role" {
  description = "The role the servers sign in as (tweetgen-server migrate creates it with exactly the privileges they use); the master user runs only the migrations."
  type        = string
  default     = "tweetgen_app"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.app_role)) && var.app_role != var.master_username && !startswith(var.app_role, "rds")
    error_message = "app_role: a lowercase PostgreSQL identifier, not the master user and not an rds name."
  }
}

variable "app_role_password_version" {
  description = "Raise by one to give the app role a new password (written to its secret; the servers take it as they restart)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.app_role_password_version >= 1 && floor(var.app_role_password_version) == var.app_role_password_version
    error_message = "app_role_password_version: a whole number from 1."
  }
}

variable "password_rotation_days" {
  description = "How often RDS rotates the master password (the servers restart on their own to pick it up)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.password_rotation_days >= 1 && var.password_rotation_days <= 90
    error_message = "password_rotation_days: 1 to 90."
  }
}

variable "performance_insights_enabled" {
  description = "Performance Insights with its free 7-day retention."
  type        = bool
  default     = true
  nullable    = false
}

variable "monitoring_interval_seconds" {
  description = "Enhanced Monitoring (OS metrics) every N seconds: 0 (off), 1, 5, 10, 15, 30 or 60."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval_seconds)
    error_message = "monitoring_interval_seconds: 0, 1, 5, 10, 15, 30 or 60."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the exported PostgreSQL logs."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "apply_immediately" {
  description = "Apply changes at once rather than in the maintenance window."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags for every resource, on top of the provider's default tags."
  type        = map(string)
  default     = {}
  nullable    = false
}
