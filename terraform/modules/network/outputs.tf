output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "The zones the subnets are in, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: the ALB's."
  value       = aws_subnet.public[*].id
}

output "app_subnet_ids" {
  description = "Private subnets, one per zone: the app instances'."
  value       = aws_subnet.app[*].id
}

output "database_subnet_ids" {
  description = "Private subnets without a route out, one per zone: RDS's."
  value       = aws_subnet.database[*].id
}

output "s3_prefix_list_id" {
  description = "The S3 gateway endpoint's prefix list, for security group egress rules to S3."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "nat_gateway_public_ips" {
  description = "The NAT gateways' addresses (empty without NAT): what the old database must let in if the app reaches it."
  value       = aws_eip.nat[*].public_ip
}

output "log_bucket_id" {
  description = "The log bucket (flow logs under flow/, ALB access logs under alb/)."
  value       = aws_s3_bucket.logs.id

  # An ALB refuses a log bucket whose policy does not let it write yet.
  depends_on = [aws_s3_bucket_policy.logs]
}
