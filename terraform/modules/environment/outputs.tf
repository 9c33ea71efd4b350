# What `tweetgen-infra cutover` and `rds check` read from `terraform output -json`
# (the environments publish these under the same names).

output "zone_id" {
  description = "Route53 hosted zone id of the service's name."
  value       = module.dns.zone_id
}

output "zone_name_servers" {
  description = "The zone's authoritative name servers."
  value       = module.dns.zone_name_servers
}

output "record_name" {
  description = "The service's name, without the trailing dot."
  value       = module.dns.record_name
}

output "record_type" {
  description = "A (alias to the ALB, at the apex) or CNAME."
  value       = module.dns.record_type
}

output "record_ttl_seconds" {
  description = "TTL to use for the record (at most 60)."
  value       = module.dns.ttl_seconds
}

output "record_managed" {
  description = "Whether Terraform writes the record yet (false until after the cutover)."
  value       = module.dns.record_managed
}

output "alb_dns_name" {
  description = "The ALB's DNS name: the record's new target."
  value       = module.app.alb_dns_name
}

output "alb_zone_id" {
  description = "The ALB's hosted zone id (alias target)."
  value       = module.app.alb_zone_id
}

output "asg_name" {
  description = "The app autoscaling group."
  value       = module.app.autoscaling_group_name
}

output "target_group_arn" {
  description = "The ALB target group (its health is the fleet's readiness)."
  value       = module.app.target_group_arn
}

output "rds_endpoint" {
  description = "The RDS instance's address (no port)."
  value       = module.database.endpoint
}

output "rds_port" {
  description = "The RDS instance's port."
  value       = module.database.port
}

output "rds_instance_id" {
  description = "The RDS instance identifier."
  value       = module.database.instance_id
}

output "rds_database_name" {
  description = "The database the server uses."
  value       = module.database.database_name
}

output "rds_master_secret_arn" {
  description = "Secrets Manager secret with the master user's credentials (the owner: migrations and tweetgen-infra)."
  value       = module.database.master_user_secret_arn
}

output "rds_app_role_secret_arn" {
  description = "Secrets Manager secret with the servers' own role's credentials."
  value       = module.database.app_role_secret_arn
}

output "rds_parameter_group" {
  description = "The DB parameter group (rds.force_ssl=1)."
  value       = module.database.parameter_group_name
}

output "nat_gateway_public_ips" {
  description = "Addresses the app's outbound traffic leaves from (empty without NAT)."
  value       = module.network.nat_gateway_public_ips
}

output "database_name" {
  description = "What the servers call this database (TWEETGEN_TARGET_NAME for tweetgen-infra cutover)."
  value       = var.database_name
}

output "old_database_name" {
  description = "What the servers call the old host's database (TWEETGEN_SOURCE_NAME for tweetgen-infra cutover)."
  value       = module.app.old_database_name
}
