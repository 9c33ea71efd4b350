# The contract `tweetgen-infra` reads with `terraform output -json`: the outputs
# of modules/environment under the same names (terraform/tests keeps them equal).

output "zone_id" {
  description = "Route53 hosted zone id of the service's name."
  value       = module.tweetgen.zone_id
}

output "zone_name_servers" {
  description = "The zone's authoritative name servers."
  value       = module.tweetgen.zone_name_servers
}

output "record_name" {
  description = "The service's name, without the trailing dot."
  value       = module.tweetgen.record_name
}

output "record_type" {
  description = "A (alias to the ALB, at the apex) or CNAME."
  value       = module.tweetgen.record_type
}

output "record_ttl_seconds" {
  description = "TTL to use for the record (at most 60)."
  value       = module.tweetgen.record_ttl_seconds
}

output "record_managed" {
  description = "Whether Terraform writes the record yet (false until after the cutover)."
  value       = module.tweetgen.record_managed
}

output "alb_dns_name" {
  description = "The ALB's DNS name: the record's new target."
  value       = module.tweetgen.alb_dns_name
}

output "alb_zone_id" {
  description = "The ALB's hosted zone id (alias target)."
  value       = module.tweetgen.alb_zone_id
}

output "asg_name" {
  description = "The app autoscaling group."
  value       = module.tweetgen.asg_name
}

output "target_group_arn" {
  description = "The ALB target group (its health is the fleet's readiness)."
  value       = module.tweetgen.target_group_arn
}

output "rds_endpoint" {
  description = "The RDS instance's address (no port)."
  value       = module.tweetgen.rds_endpoint
}

output "rds_port" {
  description = "The RDS instance's port."
  value       = module.tweetgen.rds_port
}

output "rds_instance_id" {
  description = "The RDS instance identifier."
  value       = module.tweetgen.rds_instance_id
}

output "rds_database_name" {
  description = "The database the server uses."
  value       = module.tweetgen.rds_database_name
}

output "rds_master_secret_arn" {
  description = "Secrets Manager secret with the master user's credentials."
  value       = module.tweetgen.rds_master_secret_arn
}

output "rds_app_role_secret_arn" {
  description = "Secrets Manager secret with the servers' own role's credentials."
  value       = module.tweetgen.rds_app_role_secret_arn
}

output "rds_parameter_group" {
  description = "The DB parameter group (rds.force_ssl=1)."
  value       = module.tweetgen.rds_parameter_group
}

output "nat_gateway_public_ips" {
  description = "Addresses the app's outbound traffic leaves from (empty without NAT)."
  value       = module.tweetgen.nat_gateway_public_ips
}

output "database_name" {
  description = "What the servers call this database (TWEETGEN_TARGET_NAME for tweetgen-infra cutover)."
  value       = module.tweetgen.database_name
}

output "old_database_name" {
  description = "What the servers call the old host's database (TWEETGEN_SOURCE_NAME for tweetgen-infra cutover)."
  value       = module.tweetgen.old_database_name
}
