variable "name" {
  description = "Prefix of every resource name, e.g. tweetgen-prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: lowercase letters, digits and hyphens, 2 to 21 characters (it prefixes names AWS limits to 32)."
  }
}

variable "vpc_cidr" {
  description = "The VPC's IPv4 range; subnets are /24s carved from it."
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr: an IPv4 CIDR of /18 or larger (room for three /24s per availability zone)."
  }
}

variable "availability_zones" {
  description = "Zones to spread the subnets over, named explicitly so that the layout never shifts when AWS adds a zone (the ALB and RDS Multi-AZ need at least 2)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones: 2 to 4 distinct zones."
  }
}

variable "nat_gateway_mode" {
  description = <<-EOT
    Internet egress for the private app subnets. "none": no NAT (the default; the
    instances reach S3 through the gateway endpoint and AWS APIs through interface
    endpoints, and need nothing else), "single": one NAT gateway (about 33 USD a
    month plus data), "one_per_az": one per zone, so that losing a zone keeps egress.
  EOT
  type        = string
  default     = "none"
  nullable    = false

  validation {
    condition     = contains(["none", "single", "one_per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode: one of none, single, one_per_az."
  }
}

variable "interface_endpoints" {
  description = <<-EOT
    AWS services reached through interface endpoints in the app subnets (about 7.3
    USD a month each per zone). secretsmanager is what the server needs without a
    NAT gateway; add ssm, ssmmessages and ec2messages for Session Manager, logs for
    CloudWatch Logs.
  EOT
  type        = set(string)
  default     = ["secretsmanager"]
  nullable    = false

  validation {
    condition     = alltrue([for service in var.interface_endpoints : contains(["secretsmanager", "ssm", "ssmmessages", "ec2messages", "logs", "kms", "sts"], service)])
    error_message = "interface_endpoints: only secretsmanager, ssm, ssmmessages, ec2messages, logs, kms and sts are expected here."
  }
}

variable "flow_log_traffic_type" {
  description = "Which VPC flow log records to keep in the log bucket: ALL, ACCEPT or REJECT (REJECT costs least)."
  type        = string
  default     = "ALL"
  nullable    = false

  validation {
    condition     = contains(["ALL", "ACCEPT", "REJECT"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type: ALL, ACCEPT or REJECT."
  }
}

variable "log_retention_days" {
  description = "Days the log bucket keeps VPC flow logs and ALB access logs."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.log_retention_days >= 1
    error_message = "log_retention_days: at least 1."
  }
}

variable "log_bucket_force_destroy" {
  description = "Let terraform destroy delete the log bucket with its logs (staging); false keeps them (prod)."
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
