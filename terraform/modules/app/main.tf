# The web tier: an internet-facing ALB (HTTPS, HTTP redirected) in front of an
# autoscaling group of Graviton instances in the private subnets, each running
# the aarch64 release under systemd.

data "aws_region" "current" {}

data "aws_partition" "current" {}

# The newest Amazon Linux 2023 arm64 AMI as of this apply; a newer one rolls the
# group through the instance refresh on the next apply.
data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  release_key = "releases/tweetgen-${var.release_version}-linux-arm64.tar.gz"
}

# --- Security groups ----------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The ALB: HTTP and HTTPS from alb_ingress_cidrs, out to the app instances only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to the app instances"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_security_group" "app" {
  name        = "${var.name}-app"
  description = "App instances: the server port from the ALB; out to S3, AWS endpoints and the database"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-app" })
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "The server port from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "app_to_s3" {
  security_group_id = aws_security_group.app.id
  description       = "The release tarball from S3 (gateway endpoint)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.s3_prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "app_to_endpoints" {
  security_group_id = aws_security_group.app.id
  description       = "AWS APIs (Secrets Manager) through the VPC's interface endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr_block
}

# While the move lasts: a rollback after the cutover's commit point sends the
# servers to the old host's database (through the VPN that carries the migration).
resource "aws_vpc_security_group_egress_rule" "app_to_old_database" {
  for_each = toset(var.old_database_cidrs)

  security_group_id = aws_security_group.app.id
  description       = "PostgreSQL on the old host, while the move lasts"
  ip_protocol       = "tcp"
  from_port         = var.old_database_port
  to_port           = var.old_database_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "app_to_database" {
  security_group_id = aws_security_group.app.id
  description       = "PostgreSQL inside the VPC (RDS admits this group only)"
  ip_protocol       = "tcp"
  from_port         = var.database_port
  to_port           = var.database_port
  cidr_ipv4         = var.vpc_cidr_block
}

# --- Instance profile: read the release and the database secrets, nothing else ---

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadRelease"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.release_bucket}/${local.release_key}"]
  }

  statement {
    sid       = "ReadDatabaseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = compact([var.database_owner_secret_arn, var.database_app_secret_arn, var.old_database_secret_arn])
  }
}

resource "aws_iam_role" "app" {
  name_prefix        = "${var.name}-app-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

resource "aws_iam_role_policy" "app" {
  name   = "release-and-database-secret"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

resource "aws_iam_role_policy_attachment" "session_manager" {
  count = var.enable_session_manager ? 1 : 0

  role       = aws_iam_role.app.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.name

  tags = var.tags
}

# --- Launch template and autoscaling group ---------------------------------------

resource "aws_launch_template" "app" {
  name_prefix            = "${var.name}-app-"
  description            = "tweetgen ${var.release_version} on Amazon Linux 2023 arm64"
  image_id               = data.aws_ssm_parameter.al2023_arm64.insecure_value
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.app.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required" # IMDSv2 only
    # The server runs on the host, not in a container: one hop is enough.
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gib
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  user_data = base64encode(templatefile("${path.module}/templates/user-data.sh.tftpl", {
    region              = data.aws_region.current.region
    release_version     = var.release_version
    release_bucket      = var.release_bucket
    release_key         = local.release_key
    app_port            = var.app_port
    owner_secret_arn    = var.database_owner_secret_arn
    app_secret_arn      = var.database_app_secret_arn
    old_database_name   = var.old_database_name
    old_database_secret = coalesce(var.old_database_secret_arn, "")
    database_host       = var.database_host
    database_port       = var.database_port
    database_name       = var.database_name
    server_settings     = var.server_settings
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-app" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-app" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "app" {
  name_prefix               = "${var.name}-app-"
  vpc_zone_identifier       = var.app_subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB" # replace instances whose /readyz fails, not only dead ones
  health_check_grace_period = 180
  default_instance_warmup   = 120

  mixed_instances_policy {
    instances_distribution {
      on_demand_percentage_above_base_capacity = 100
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.app.id
        version            = aws_launch_template.app.latest_version
      }

      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  # A new launch template version (release, AMI, settings) replaces the instances
  # a batch at a time, starting new ones before stopping old ones.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = 120
      skip_matching          = true
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-app" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false # the launch template tags instances and volumes
    }
  }

  lifecycle {
    # Target tracking owns the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.target_cpu_utilization

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

# --- Load balancer ----------------------------------------------------------------

# trivy:ignore:AVD-AWS-0053 The service is a public website: the ALB must be internet-facing.
resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:WAF is not part of the default stack (its cost exceeds the service's); attach a web ACL to this ALB if abuse appears.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  access_logs {
    bucket  = var.log_bucket_id
    prefix  = "alb"
    enabled = true
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the hop to the instances stays inside the VPC's private subnets.
  name_prefix          = "tg-"
  port                 = var.app_port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  # /readyz is 200 only while the server's control session hears from the database
  # (not its request pools: a busy instance stays in service). The group replaces instances
  # the ALB finds unhealthy, so a Multi-AZ failover (1-2 minutes) must not count:
  # 5 failures 30 s apart.
  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 5
  }

  tags = merge(var.tags, { Name = "${var.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  tags = var.tags
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}
