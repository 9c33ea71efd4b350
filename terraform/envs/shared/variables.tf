variable "region" {
  description = "AWS region of the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region: an AWS region name such as ap-northeast-1."
  }
}

variable "availability_zones" {
  description = "Zones of the region to spread over, at least two."
  type        = list(string)

  validation {
    condition     = alltrue([for zone in var.availability_zones : startswith(zone, var.region)])
    error_message = "availability_zones: zones of var.region."
  }
}

variable "certificate_arn" {
  description = "ACM certificate (in the same region) covering record_name, for the ALB's HTTPS listener."
  type        = string
}

variable "release_bucket" {
  description = "S3 bucket with the release tarballs under releases/ (shared by the environments)."
  type        = string
}

variable "release_version" {
  description = "Release to run (scripts/package-arm64.sh prints it); changing it rolls the instances."
  type        = string
}

variable "zone_name" {
  description = "Public Route53 hosted zone of the service's name."
  type        = string
}

variable "record_name" {
  description = "The service's name: the zone's apex or a name inside it."
  type        = string
}

variable "x_client_id" {
  description = "OAuth 2.0 client id of the X app (developer portal, user authentication settings; callback https://RECORD_NAME/auth/callback). A public client: PKCE, no secret."
  type        = string
}

variable "manage_dns_record" {
  description = "Whether Terraform writes the service record. false while the old host serves the name; true after the cutover."
  type        = bool
}

variable "database_initial_state" {
  description = "\"replica\" when this environment's database will receive a move from the old host (its servers then only read until the cutover opens it), \"serving\" for a fresh one. Read once, when the database has no control record yet."
  type        = string
  default     = "serving"
}

variable "old_database_secret_arn" {
  description = "Secrets Manager secret holding the old host's database URL (postgres://…), so that a rollback after the cutover's commit point can take the servers back; null once the move is over."
  type        = string
  default     = null
}

variable "migration_source_cidrs" {
  description = "The old host's network while the move lasts: admitted to RDS (the data moves), and the servers may reach its database (a rollback); empty afterwards."
  type        = list(string)
  default     = []
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the site."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}
