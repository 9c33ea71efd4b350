variable "zone_name" {
  description = "The public Route53 hosted zone holding the service's name, e.g. example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}\\.?$", var.zone_name))
    error_message = "zone_name: a DNS name such as example.com."
  }
}

variable "record_name" {
  description = "The service's name: the zone's apex (an alias A record) or a name inside it (a CNAME)."
  type        = string

  validation {
    condition = (
      trimsuffix(var.record_name, ".") == trimsuffix(var.zone_name, ".")
      || endswith(trimsuffix(var.record_name, "."), ".${trimsuffix(var.zone_name, ".")}")
    )
    error_message = "record_name: the zone's apex or a name inside zone_name."
  }
}

variable "ttl_seconds" {
  description = "TTL of the CNAME, and the TTL the cutover uses: short, so that a DNS flip or rollback takes effect within a minute. (An apex alias record takes the ALB's 60 s.)"
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.ttl_seconds >= 1 && var.ttl_seconds <= 60
    error_message = "ttl_seconds: 1 to 60; a longer TTL keeps clients on the old target after a cutover or rollback."
  }
}

variable "manage_record" {
  description = <<-EOT
    Whether Terraform writes the service record (pointing at the ALB). false while
    the old host still serves the name: `tweetgen-infra cutover` flips it; set true
    after the cutover (or for a brand-new environment) so that Terraform keeps it.
  EOT
  type        = bool
  default     = true
  nullable    = false
}

variable "alb_dns_name" {
  description = "The ALB's DNS name."
  type        = string
}

variable "alb_zone_id" {
  description = "The ALB's hosted zone id."
  type        = string
}
