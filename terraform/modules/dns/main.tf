# The service's name in Route53, pointing at the ALB: an alias A record at the
# zone's apex (CNAMEs are not allowed there), a CNAME with a short TTL below it.

data "aws_route53_zone" "this" {
  name         = var.zone_name
  private_zone = false
}

locals {
  record_name = trimsuffix(var.record_name, ".")
  is_apex     = local.record_name == trimsuffix(var.zone_name, ".")
  record_type = local.is_apex ? "A" : "CNAME"
}

resource "aws_route53_record" "apex_alias" {
  count = var.manage_record && local.is_apex ? 1 : 0

  zone_id = data.aws_route53_zone.this.zone_id
  name    = local.record_name
  type    = "A"
  # The cutover may have written this record already; take it over.
  allow_overwrite = true

  alias {
    name                   = var.alb_dns_name
    zone_id                = var.alb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "cname" {
  count = var.manage_record && !local.is_apex ? 1 : 0

  zone_id         = data.aws_route53_zone.this.zone_id
  name            = local.record_name
  type            = "CNAME"
  ttl             = var.ttl_seconds
  records         = [var.alb_dns_name]
  allow_overwrite = true
}
