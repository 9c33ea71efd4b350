output "alb_dns_name" {
  description = "The ALB's DNS name: the target of the service record."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "The ALB's hosted zone id, for an alias record."
  value       = aws_lb.this.zone_id
}

output "alb_arn" {
  description = "The ALB's ARN."
  value       = aws_lb.this.arn
}

output "target_group_arn" {
  description = "The target group the instances register in (health check GET /readyz)."
  value       = aws_lb_target_group.app.arn
}

output "security_group_id" {
  description = "The app instances' security group: what the database admits."
  value       = aws_security_group.app.id
}

output "autoscaling_group_name" {
  description = "The autoscaling group's name (aws autoscaling start-instance-refresh, describe-auto-scaling-groups)."
  value       = aws_autoscaling_group.app.name
}

output "launch_template_id" {
  description = "The launch template's id."
  value       = aws_launch_template.app.id
}

output "ami_id" {
  description = "The Amazon Linux 2023 arm64 AMI the launch template uses."
  value       = aws_launch_template.app.image_id
}

output "instance_role_name" {
  description = "The instances' IAM role."
  value       = aws_iam_role.app.name
}

output "old_database_name" {
  description = "What the servers call the old host's database."
  value       = var.old_database_name
}
