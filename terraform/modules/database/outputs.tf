output "endpoint" {
  description = "The instance's address (host name, without the port)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "The instance's port."
  value       = aws_db_instance.this.port
}

output "instance_id" {
  description = "The DB instance identifier (aws rds describe-db-instances --db-instance-identifier)."
  value       = aws_db_instance.this.identifier
}

output "instance_arn" {
  description = "The DB instance's ARN."
  value       = aws_db_instance.this.arn
}

output "database_name" {
  description = "The database created for the server."
  value       = aws_db_instance.this.db_name
}

output "master_username" {
  description = "The master user's name."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master user's username and password (rotated by RDS): for migrations and the operator's tools, not the servers."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "parameter_group_name" {
  description = "The parameter group (rds.force_ssl=1)."
  value       = aws_db_parameter_group.this.name
}

output "security_group_id" {
  description = "The database's security group."
  value       = aws_security_group.database.id
}

output "app_role_secret_arn" {
  description = "Secrets Manager secret holding the servers' role's username and password."
  value       = aws_secretsmanager_secret.app_role.arn
  # Its version exists before any server reads it.
  depends_on = [aws_secretsmanager_secret_version.app_role]
}
