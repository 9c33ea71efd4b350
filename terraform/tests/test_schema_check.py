"""schema_check.py finds each kind of error terraform validate would, one broken
configuration at a time, names its file, line and argument, and finds none in terraform/."""

import textwrap

import pytest

import schema_check
from terraform_config import TERRAFORM_DIR

DB_INSTANCE = 'resource "aws_db_instance" "x"'


def findings(directory, files):
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [str(finding).replace(f"{directory}/", "") for finding in schema_check.check(directory)]


def db_instance(*lines):
    """An aws_db_instance with its one required argument and the given lines."""
    return "\n".join([f"{DB_INSTANCE} {{", '  instance_class = "db.t4g.micro"', *(f"  {line}" for line in lines), "}", ""])


MODULE_WITH_A_RULE = """\
    variable "size" {
      type = number

      validation {
        condition     = var.size >= 20
        error_message = "size: at least 20."
      }
    }
"""

BROKEN = {
    "unknown resource type": (
        {"main.tf": 'resource "aws_db_instances" "x" {}\n'},
        'main.tf:1: Invalid resource type (in resource "aws_db_instances" "x"): '
        'The provider hashicorp/aws does not support resource type "aws_db_instances".',
    ),
    "unknown data source": (
        {"main.tf": 'data "aws_regionz" "current" {}\n'},
        'main.tf:1: Invalid data source (in data "aws_regionz" "current"): '
        'The provider hashicorp/aws does not support data source "aws_regionz".',
    ),
    "unknown argument": (
        {"main.tf": db_instance("allocated_storag = 20")},
        f'main.tf:3: Unsupported argument (in {DB_INSTANCE}): An argument named "allocated_storag" is not expected here.',
    ),
    "unknown nested block": (
        {"main.tf": db_instance("timeout {", '  create = "1h"', "}")},
        f'main.tf:3: Unsupported block type (in {DB_INSTANCE}): Blocks of type "timeout" are not expected here.',
    ),
    "argument of a nested block": (
        {"main.tf": db_instance("timeouts {", '  created = "1h"', "}")},
        f'main.tf:4: Unsupported argument (in {DB_INSTANCE}): An argument named "created" is not expected here.',
    ),
    "argument only the provider sets": (
        {"main.tf": db_instance('endpoint = "db.example"')},
        f'main.tf:3: Value for unconfigurable attribute (in {DB_INSTANCE}): Can\'t configure a value for "endpoint": '
        "its value will be decided automatically based on the result of applying this configuration.",
    ),
    "missing required argument": (
        {"main.tf": f"{DB_INSTANCE} {{\n  allocated_storage = 20\n}}\n"},
        f'main.tf:1: Missing required argument (in {DB_INSTANCE}): The argument "instance_class" is required, but no definition was found.',
    ),
    "missing required block": (
        {"main.tf": 'resource "aws_lb_listener" "x" {\n  load_balancer_arn = "arn"\n}\n'},
        'main.tf:1: Insufficient default_action blocks (in resource "aws_lb_listener" "x"): At least 1 "default_action" blocks are required.',
    ),
    "single block given twice": (
        {"main.tf": db_instance("timeouts {", "}", "timeouts {", "}")},
        f'main.tf:5: Too many timeouts blocks (in {DB_INSTANCE}): No more than 1 "timeouts" blocks are allowed.',
    ),
    "reference to an attribute that does not exist": (
        {"main.tf": db_instance() + 'output "host" {\n  value = aws_db_instance.x.endpoint_addr\n}\n'},
        'main.tf:5: Unsupported attribute (in output "host"): '
        'This object has no argument, nested block, or exported attribute named "endpoint_addr".',
    ),
    "reference to a nested attribute that does not exist": (
        {"main.tf": db_instance() + 'output "secret" {\n  value = aws_db_instance.x.master_user_secret[0].arn\n}\n'},
        'main.tf:5: Unsupported attribute (in output "secret"): '
        'This object has no argument, nested block, or exported attribute named "arn".',
    ),
    "ignore_changes of an attribute that does not exist": (
        {"main.tf": db_instance("lifecycle {", "  ignore_changes = [allocated_storag]", "}")},
        f'main.tf:4: Unsupported attribute (in {DB_INSTANCE}): '
        'This object has no argument, nested block, or exported attribute named "allocated_storag".',
    ),
    "string where a number is required": (
        {"main.tf": db_instance('allocated_storage = "twenty"')},
        f'main.tf:3: Incorrect attribute value type (in {DB_INSTANCE}): '
        'Inappropriate value for attribute "allocated_storage": a number is required.',
    ),
    "string where a bool is required": (
        {"main.tf": db_instance('multi_az = "yes"')},
        f'main.tf:3: Incorrect attribute value type (in {DB_INSTANCE}): Inappropriate value for attribute "multi_az": a bool is required.',
    ),
    "list where a map is required": (
        {"main.tf": db_instance('tags = ["Name", "x"]')},
        f'main.tf:3: Incorrect attribute value type (in {DB_INSTANCE}): Inappropriate value for attribute "tags": map of string required.',
    ),
    "module call missing a required input": (
        {
            "modules/m/variables.tf": MODULE_WITH_A_RULE,
            "envs/e/main.tf": 'module "m" {\n  source = "../../modules/m"\n}\n',
        },
        'envs/e/main.tf:1: Missing required argument (in module "m"): The argument "size" is required, but no definition was found.',
    ),
    "module call with an unknown input": (
        {
            "modules/m/variables.tf": MODULE_WITH_A_RULE,
            "envs/e/main.tf": 'module "m" {\n  source = "../../modules/m"\n  size   = 20\n  sise   = 20\n}\n',
        },
        'envs/e/main.tf:4: Unsupported argument (in module "m"): An argument named "sise" is not expected here.',
    ),
    "tfvars value failing a variable's validation": (
        {
            "envs/e/variables.tf": MODULE_WITH_A_RULE,
            "envs/e/terraform.tfvars": "# example values\nsize = 10\n",
        },
        "envs/e/terraform.tfvars:2: Invalid value for variable: size: at least 20. "
        "This was checked by the validation rule at envs/e/variables.tf:4. (var.size is 10)",
    ),
    "literal failing a validation two module calls down": (
        {
            "modules/m/variables.tf": MODULE_WITH_A_RULE,
            "modules/outer/main.tf": 'variable "size" {\n  type = number\n}\n\nmodule "m" {\n  source = "../m"\n  size   = var.size\n}\n',
            "envs/e/main.tf": 'module "outer" {\n  source = "../../modules/outer"\n  size   = 10\n}\n',
        },
        'modules/outer/main.tf:7: Invalid value for variable (in module "m"): size: at least 20. '
        "This was checked by the validation rule at modules/m/variables.tf:4. (var.size is 10)",
    ),
    "tfvars without a required variable": (
        {
            "envs/e/variables.tf": MODULE_WITH_A_RULE,
            "envs/e/terraform.tfvars": "# nothing\n",
        },
        'envs/e/variables.tf:1: No value for required variable: The root module input variable "size" is not set, '
        "and has no default value: set it in envs/e/terraform.tfvars.",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_finds_the_error_and_names_file_line_and_argument(tmp_path, case):
    files, expected = BROKEN[case]
    assert findings(tmp_path, files) == [expected]


def test_what_terraform_accepts_passes(tmp_path):
    """Strings Terraform converts, expressions, dynamic blocks (their iterators are no
    resources), attributes written as blocks, real attributes at any depth, moved
    resources, values it cannot know: no finding."""
    configuration = {
        "main.tf": db_instance(
            'allocated_storage = "20"',
            'storage_encrypted = "true"',
            "multi_az          = var.multi_az",
            'tags              = { Name = "x-${var.name}" }',
            "vpc_security_group_ids = [aws_security_group.x.id]",
        )
        + """
resource "aws_security_group" "x" {
  ingress {
    from_port = 443
    to_port   = 443
    protocol  = "tcp"
  }
}

resource "aws_autoscaling_group" "x" {
  min_size = 1
  max_size = 2

  dynamic "tag" {
    for_each = { Name = "x" }
    iterator = aws_tag
    content {
      key                 = aws_tag.key
      value               = aws_tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

moved {
  from = aws_security_group.old
  to   = aws_security_group.x
}

output "references" {
  value = [
    aws_db_instance.x.address,
    aws_db_instance.x.master_user_secret[0].secret_arn,
    aws_security_group.x.ingress[*].from_port,
    aws_autoscaling_group.x.tag,
    [for aws_x in aws_security_group.x.ingress : aws_x.from_port],
  ]
}

variable "multi_az" {
  type = bool
}

variable "name" {
  type = string
}
""",
    }
    assert findings(tmp_path, configuration) == []


def test_the_tree_passes():
    assert [str(finding) for finding in schema_check.check(TERRAFORM_DIR)] == []

