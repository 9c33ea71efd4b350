variable "name" {
  description = "Prefix of every resource name, e.g. tweetgen-prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: lowercase letters, digits and hyphens, 2 to 21 characters (the ALB and target group names are limited to 32)."
  }
}

variable "vpc_id" {
  description = "The VPC to run in."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's range: the instances reach the database and the interface endpoints inside it."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the ALB, in at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids: an ALB needs subnets in at least two zones."
  }
}

variable "app_subnet_ids" {
  description = "Private subnets for the instances, in at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.app_subnet_ids) >= 2
    error_message = "app_subnet_ids: spread the instances over at least two zones."
  }
}

variable "s3_prefix_list_id" {
  description = "The S3 gateway endpoint's prefix list: the instances download their release from S3."
  type        = string
}

variable "log_bucket_id" {
  description = "Bucket for the ALB's access logs (written under alb/)."
  type        = string
}

variable "instance_types" {
  description = "Graviton (arm64) instance types for the group, preferred first; the release is an aarch64 binary."
  type        = list(string)
  default     = ["t4g.small"]
  nullable    = false

  validation {
    # Graviton families carry a "g" right after the generation: t4g, m7g, c7gn, r8gd...
    condition     = length(var.instance_types) > 0 && alltrue([for type in var.instance_types : can(regex("^[a-z]+[0-9]+g[a-z]*\\.[0-9a-z]+$", type))])
    error_message = "instance_types: Graviton (arm64) types only, such as t4g.small or m7g.large; the server is built for aarch64."
  }
}

variable "min_size" {
  description = "Fewest instances; 2 keeps one per zone for the ALB."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size: at least 1."
  }
}

variable "max_size" {
  description = "Most instances target tracking may scale out to."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.max_size >= var.min_size
    error_message = "max_size: at least min_size."
  }
}

variable "target_cpu_utilization" {
  description = "Average CPU percentage the group scales to hold (generation is CPU-bound)."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.target_cpu_utilization >= 10 && var.target_cpu_utilization <= 90
    error_message = "target_cpu_utilization: between 10 and 90."
  }
}

variable "app_port" {
  description = "Port the server listens on inside the instance (TWEETGEN__SERVER__PORT)."
  type        = number
  default     = 3000
  nullable    = false

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port: an unprivileged port, 1024 to 65535."
  }
}

variable "root_volume_size_gib" {
  description = "Root volume (gp3, encrypted); at least the AMI's 8 GiB."
  type        = number
  default     = 8
  nullable    = false

  validation {
    condition     = var.root_volume_size_gib >= 8
    error_message = "root_volume_size_gib: the Amazon Linux 2023 AMI needs 8 GiB or more."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener, in the ALB's region, covering the service's name."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "The HTTPS listener's TLS policy."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the ALB on ports 80 and 443 (everyone for a public site; narrow it for a private staging)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.alb_ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "alb_ingress_cidrs: IPv4 CIDRs."
  }
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the ALB (true in prod)."
  type        = bool
  default     = true
  nullable    = false
}

variable "release_bucket" {
  description = "S3 bucket holding the release tarballs (scripts/package-arm64.sh) under releases/."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.release_bucket))
    error_message = "release_bucket: an S3 bucket name."
  }
}

variable "release_version" {
  description = "Release to run: the instances install s3://RELEASE_BUCKET/releases/tweetgen-VERSION-linux-arm64.tar.gz. Changing it rolls the group (instance refresh)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.release_version))
    error_message = "release_version: letters, digits, dots, hyphens and underscores (it is part of an S3 key)."
  }
}

variable "database_host" {
  description = "The database's address."
  type        = string
}

variable "database_port" {
  description = "The database's port."
  type        = number
}

variable "database_name" {
  description = "The database the server uses."
  type        = string
}

variable "database_owner_secret_arn" {
  description = "Secrets Manager secret with the owner's username and password (RDS-managed): read only by the migrate step before each server start, never by the server."
  type        = string
}

variable "database_app_secret_arn" {
  description = "Secrets Manager secret with the servers' own role's username and password (modules/database)."
  type        = string
}

variable "server_settings" {
  description = "Further settings for the server's environment, e.g. { TWEETGEN__MARKOV__CACHE_MAX_BYTES = \"536870912\" }."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.server_settings) : can(regex("^(TWEETGEN__[A-Z0-9_]+|RUST_LOG)$", key))])
    error_message = "server_settings: keys are TWEETGEN__SECTION__KEY settings or RUST_LOG."
  }
}

variable "old_database_name" {
  description = "What the servers call the old host's database (database.others.NAME): the name the cutover's control records use."
  type        = string
  default     = "vps"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,30}$", var.old_database_name))
    error_message = "old_database_name: lower-case letters, digits and underscores."
  }
}

variable "old_database_secret_arn" {
  description = "Secrets Manager secret whose string is the old host's database URL (the servers' way back in a rollback after the cutover's commit point). null: the fleet knows no other database."
  type        = string
  default     = null
}

variable "old_database_cidrs" {
  description = "The old host's network: the servers may connect to its database port while the move lasts (a rollback sends them there)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "old_database_port" {
  description = "The old host's PostgreSQL port."
  type        = number
  default     = 5432
  nullable    = false
}

variable "enable_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore for shell access through Session Manager (needs NAT or the ssm, ssmmessages and ec2messages endpoints). Off: no remote shell at all."
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
