# RDS PostgreSQL on Graviton: gp3 storage that grows by itself, encrypted, TLS
# required, backups, the master password generated and rotated by RDS in Secrets
# Manager, reachable only from the app instances (and, during the move, the old host).

locals {
  major_version = split(".", var.engine_version)[0]
  port          = 5432
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "Private database subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "PostgreSQL from the app instances and the migration sources only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-database" })
}

resource "aws_vpc_security_group_ingress_rule" "from_app" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the app instances"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = var.app_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "from_migration_source" {
  for_each = toset(var.migration_source_cidrs)

  security_group_id = aws_security_group.database.id
  description       = "PostgreSQL from the old host during the migration"
  ip_protocol       = "tcp"
  from_port         = local.port
  to_port           = local.port
  cidr_ipv4         = each.value
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-postgres${local.major_version}-"
  family      = "postgres${local.major_version}"
  description = "tweetgen on PostgreSQL ${local.major_version}: TLS required, logical replication"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # wal_level = logical: the cutover's reverse stream (a rollback after the commit
  # point loses nothing) reads a logical slot on this instance. Static: it takes
  # effect at the next reboot, which the runbook makes before the migration.
  parameter {
    name         = "rds.logical_replication"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # Statements slower than a second reach the exported log.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true # a major upgrade swaps in a new family's group
  }
}

# RDS creates these when exporting; declaring them first sets their retention.
# trivy:ignore:AVD-AWS-0017 CloudWatch Logs encrypts at rest with its own key; a customer key would add a key policy and cost for no access-control gain here.
resource "aws_cloudwatch_log_group" "exports" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest with its own key; a customer key would add a key policy and cost for no access-control gain here.
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

data "aws_iam_policy_document" "assume_monitoring" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval_seconds > 0 ? 1 : 0

  name_prefix        = "${var.name}-rds-monitoring-"
  assume_role_policy = data.aws_iam_policy_document.assume_monitoring.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.monitoring_interval_seconds > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# trivy:ignore:AVD-AWS-0078 Performance Insights data is encrypted with the AWS-managed key; no customer key is kept for this service.
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_354:Performance Insights data is encrypted with the AWS-managed key; no customer key is kept for this service.
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = local.port

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib # storage autoscaling
  storage_encrypted     = true

  db_name                     = var.database_name
  username                    = var.master_username
  manage_master_user_password = true # RDS generates it into Secrets Manager

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.backup_retention_days
  backup_window             = "17:00-17:30" # UTC: 02:00 in Japan, the quietest hour
  maintenance_window        = "sun:18:00-sun:19:00"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = var.apply_immediately
  iam_database_authentication_enabled = true

  enabled_cloudwatch_logs_exports       = keys(aws_cloudwatch_log_group.exports)
  performance_insights_enabled          = var.performance_insights_enabled
  performance_insights_retention_period = var.performance_insights_enabled ? 7 : null
  monitoring_interval                   = var.monitoring_interval_seconds
  monitoring_role_arn                   = var.monitoring_interval_seconds > 0 ? aws_iam_role.monitoring[0].arn : null

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_secretsmanager_secret_rotation" "master_password" {
  secret_id = aws_db_instance.this.master_user_secret[0].secret_arn

  rotation_rules {
    automatically_after_days = var.password_rotation_days
  }
}

# --- The servers' own role ---------------------------------------------------------
# tweetgen-server migrate (as the master user, before each server start) creates the
# role from this secret and grants it rows of the app's tables and its presence row,
# nothing else; the servers sign in as it (deploy/with-rds-credentials). The password
# is made by Secrets Manager and written only into the secret: an ephemeral value and a
# write-only argument, so it is in no plan and no state. A new password: raise
# app_role_password_version; each server takes it at its next restart
# (tweetgen-rotation.timer restarts them within ten minutes).
ephemeral "aws_secretsmanager_random_password" "app_role" {
  password_length = 40
  # Printable ASCII with nothing to quote: the role's password must be (server/src/migrate.rs).
  exclude_punctuation = true
}

# trivy:ignore:AVD-AWS-0098 Encrypted with the AWS-managed key, as the RDS-managed master secret is; no customer key is kept for this service.
resource "aws_secretsmanager_secret" "app_role" {
  #checkov:skip=CKV2_AWS_57:Rotated by raising app_role_password_version (the servers restart to take it); a rotation Lambda would need the master password and a route to the database.
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key, as the RDS-managed master secret is; no customer key is kept for this service.
  name_prefix             = "${var.name}-app-role-"
  description             = "The servers' database role (${var.app_role}): username and password."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "app_role" {
  secret_id = aws_secretsmanager_secret.app_role.id
  secret_string_wo = jsonencode({
    username = var.app_role
    password = ephemeral.aws_secretsmanager_random_password.app_role.random_password
  })
  secret_string_wo_version = var.app_role_password_version
}
