output "zone_id" {
  description = "The hosted zone's id."
  value       = data.aws_route53_zone.this.zone_id
}

output "zone_name_servers" {
  description = "The zone's authoritative name servers (what the cutover asks after the flip)."
  value       = data.aws_route53_zone.this.name_servers
}

output "record_name" {
  description = "The service's name, without the trailing dot."
  value       = local.record_name
}

output "record_type" {
  description = "A (alias to the ALB, at the apex) or CNAME (below it)."
  value       = local.record_type
}

output "ttl_seconds" {
  description = "The record's TTL (for an alias, what the cutover waits for)."
  value       = var.ttl_seconds
}

output "record_managed" {
  description = "Whether Terraform currently writes the record (false until the cutover has flipped it)."
  value       = var.manage_record
}
