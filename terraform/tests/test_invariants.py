"""The properties the environments must keep, read from the configuration itself."""

import re

import pytest

import provider_schema
from terraform_config import (
    ENVIRONMENTS,
    MODULES,
    TERRAFORM_DIR,
    Unresolved,
    effective_inputs,
    environment,
    environment_inputs,
    hcl_string_literal,
    load,
    module,
)

GRAVITON_INSTANCE_TYPES = ["t4g.small", "t4g.medium", "m7g.large", "c7gn.xlarge", "r8gd.2xlarge", "m6g.medium"]
X86_INSTANCE_TYPES = ["t3.small", "t3a.medium", "m5.large", "c6i.xlarge", "m7i-flex.large", "g4dn.xlarge", "c7a.large"]


def validation_regex(config, variable):
    """The pattern inside the variable's `can(regex("...", ...))` validation."""
    for condition in config.validations(variable):
        found = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition)
        if found:
            return re.compile(hcl_string_literal(found.group(1)))
    raise AssertionError(f"{variable} has no regex validation")


def resource(config, resource_type, name):
    return config.resources[(resource_type, name)]


def block(body, name):
    """The one nested block called name."""
    (only,) = body[name]
    return only


# --- arm64 only -------------------------------------------------------------------


def test_instance_type_validation_admits_graviton_and_rejects_x86():
    pattern = validation_regex(module("app"), "instance_types")
    assert [t for t in GRAVITON_INSTANCE_TYPES if not pattern.match(t)] == []
    assert [t for t in X86_INSTANCE_TYPES if pattern.match(t)] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environments_run_graviton_instances_only(env):
    pattern = validation_regex(module("app"), "instance_types")
    instance_types = effective_inputs(env, "app")["instance_types"]
    assert instance_types, "no instance types"
    assert all(pattern.match(t) for t in instance_types), instance_types


def test_launch_template_boots_the_arm64_amazon_linux_2023_ami():
    app = module("app")
    (parameter_name,) = [name for (kind, name) in app.data if kind == "aws_ssm_parameter"]
    ssm_path = app.data[("aws_ssm_parameter", parameter_name)]["name"]
    assert ssm_path == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    template = resource(app, "aws_launch_template", "app")
    assert template["image_id"] == f"${{data.aws_ssm_parameter.{parameter_name}.insecure_value}}"
    assert "instance_type" not in template, "the types come from the group's overrides, all validated"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_runs_on_a_graviton_class(env):
    pattern = validation_regex(module("database"), "instance_class")
    assert pattern.match(effective_inputs(env, "database")["instance_class"])
    for x86 in ["db.t3.micro", "db.m5.large", "db.r6i.large", "db.m7i.large"]:
        assert not pattern.match(x86), x86


def test_imdsv2_is_required():
    options = block(resource(module("app"), "aws_launch_template", "app"), "metadata_options")
    assert options["http_tokens"] == "required"
    assert options["http_put_response_hop_limit"] == 1


# --- database ---------------------------------------------------------------------


def db_instance():
    return resource(module("database"), "aws_db_instance", "this")


def test_storage_autoscales_on_gp3():
    instance = db_instance()
    assert instance["storage_type"] == "gp3"
    assert instance["allocated_storage"] == "${var.allocated_storage_gib}"
    assert instance["max_allocated_storage"] == "${var.max_allocated_storage_gib}"
    database = module("database")
    assert database.default("max_allocated_storage_gib") > database.default("allocated_storage_gib")
    assert any(
        "var.max_allocated_storage_gib > var.allocated_storage_gib" in condition
        for condition in database.validations("max_allocated_storage_gib")
    ), "a ceiling at or below the allocation must be refused"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_leaves_room_to_grow(env):
    inputs = effective_inputs(env, "database")
    assert inputs["max_allocated_storage_gib"] > inputs["allocated_storage_gib"]


def test_database_is_encrypted_private_and_protected():
    instance = db_instance()
    assert instance["storage_encrypted"] is True
    assert instance["publicly_accessible"] is False
    assert instance["manage_master_user_password"] is True
    assert "password" not in instance, "the password must come from Secrets Manager, not the configuration"
    assert instance["skip_final_snapshot"] is False
    assert instance["deletion_protection"] == "${var.deletion_protection}"
    assert instance["backup_retention_period"] == "${var.backup_retention_days}"
    assert instance["multi_az"] == "${var.multi_az}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_settings_per_environment(env):
    inputs = effective_inputs(env, "database")
    assert inputs["deletion_protection"] is True
    assert inputs["backup_retention_days"] >= 7
    assert int(inputs["engine_version"].split(".")[0]) >= 16
    assert inputs["multi_az"] is (env == "prod")


def test_tls_is_forced_by_the_parameter_group():
    database = module("database")
    group = resource(database, "aws_db_parameter_group", "this")
    parameters = {parameter["name"]: parameter for parameter in group["parameter"]}
    assert str(parameters["rds.force_ssl"]["value"]) == "1"
    # The rollback's reverse stream: a logical slot on RDS (static, applied at the next reboot).
    replication = parameters["rds.logical_replication"]
    assert (str(replication["value"]), replication["apply_method"]) == ("1", "pending-reboot")
    assert db_instance()["parameter_group_name"] == "${aws_db_parameter_group.this.name}"


def test_database_admits_only_the_app_and_the_migration_sources():
    database = module("database")
    assert not database.resources_of_type("aws_security_group_rule")
    assert all("ingress" not in group for group in database.resources_of_type("aws_security_group").values())
    rules = database.resources_of_type("aws_vpc_security_group_ingress_rule")
    sources = sorted(
        (rule.get("referenced_security_group_id") or rule.get("cidr_ipv4"), rule.get("for_each"))
        for rule in rules.values()
    )
    assert sources == [
        ("${each.value}", "${toset(var.migration_source_cidrs)}"),
        ("${var.app_security_group_id}", None),
    ]
    for rule in rules.values():
        assert rule["security_group_id"] == "${aws_security_group.database.id}"
        assert (rule["from_port"], rule["to_port"]) == ("${local.port}", "${local.port}")
    assert module("environment").modules["database"]["app_security_group_id"] == "${module.app.security_group_id}"
    assert module("database").default("migration_source_cidrs") == []


def test_app_instances_admit_only_the_load_balancer():
    app = module("app")
    rules = [rule for rule in app.resources_of_type("aws_vpc_security_group_ingress_rule").values()]
    app_rules = [rule for rule in rules if rule["security_group_id"] == "${aws_security_group.app.id}"]
    assert [rule.get("referenced_security_group_id") for rule in app_rules] == ["${aws_security_group.alb.id}"]
    # Only the ALB's rules take addresses, and only from alb_ingress_cidrs.
    for rule in rules:
        if "cidr_ipv4" in rule:
            assert rule["security_group_id"] == "${aws_security_group.alb.id}"
            assert rule["for_each"] == "${toset(var.alb_ingress_cidrs)}"


def test_no_egress_to_the_whole_internet():
    for name in ("network", "app", "database"):
        for rule in module(name).resources_of_type("aws_vpc_security_group_egress_rule").values():
            assert rule.get("cidr_ipv4") != "0.0.0.0/0", rule


# --- app ------------------------------------------------------------------------


def test_group_is_health_checked_on_readyz_and_rolls_on_change():
    app = module("app")
    group = resource(app, "aws_autoscaling_group", "app")
    assert group["health_check_type"] == "ELB"
    assert group["vpc_zone_identifier"] == "${var.app_subnet_ids}"
    assert block(group, "instance_refresh")["strategy"] == "Rolling"
    target_group = resource(app, "aws_lb_target_group", "app")
    assert block(target_group, "health_check")["path"] == "/readyz"
    policy = resource(app, "aws_autoscaling_policy", "cpu")
    assert policy["policy_type"] == "TargetTrackingScaling"


def test_load_balancer_serves_https_and_redirects_http():
    app = module("app")
    https = resource(app, "aws_lb_listener", "https")
    assert (https["port"], https["protocol"], https["certificate_arn"]) == (443, "HTTPS", "${var.certificate_arn}")
    http = resource(app, "aws_lb_listener", "http_redirect")
    redirect = block(block(http, "default_action"), "redirect")
    assert (http["port"], redirect["protocol"], redirect["port"]) == (80, "HTTPS", "443")
    balancer = resource(app, "aws_lb", "this")
    assert block(balancer, "access_logs")["enabled"] is True
    assert balancer["drop_invalid_header_fields"] is True
    assert balancer["enable_deletion_protection"] == "${var.alb_deletion_protection}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_load_balancer_deletion_protection_in_prod(env):
    assert effective_inputs(env, "app")["alb_deletion_protection"] is (env == "prod")


def test_instance_volumes_are_encrypted():
    template = resource(module("app"), "aws_launch_template", "app")
    ebs = block(block(template, "block_device_mappings"), "ebs")
    assert ebs["encrypted"] is True and ebs["volume_type"] == "gp3"


def test_instance_profile_reads_only_the_release_and_the_database_secrets():
    app = module("app")
    policy = app.data[("aws_iam_policy_document", "app")]
    grants = sorted((tuple(s["actions"]), str(s["resources"])) for s in policy["statement"])
    assert grants == [
        (
            ("s3:GetObject",),
            str(["arn:${data.aws_partition.current.partition}:s3:::${var.release_bucket}/${local.release_key}"]),
        ),
        (
            ("secretsmanager:GetSecretValue",),
            "${compact([var.database_owner_secret_arn, var.database_app_secret_arn, var.old_database_secret_arn])}",
        ),
    ]


def test_servers_reach_the_old_database_only_while_the_move_lasts():
    app = module("app")
    rule = resource(app, "aws_vpc_security_group_egress_rule", "app_to_old_database")
    assert rule["for_each"] == "${toset(var.old_database_cidrs)}" and rule["cidr_ipv4"] == "${each.value}"
    assert (rule["from_port"], rule["to_port"]) == ("${var.old_database_port}", "${var.old_database_port}")
    assert app.default("old_database_cidrs") == []
    # The same networks as those admitted to the database: emptied together after the move.
    assert module("environment").modules["app"]["old_database_cidrs"] == "${var.migration_source_cidrs}"


def test_no_admin_endpoints_and_no_secret_but_the_app_roles():
    for name in MODULES:
        config = module(name)
        assert not config.resources_of_type("aws_lb_listener_rule"), name
        secrets = set(config.resources_of_type("aws_secretsmanager_secret"))
        assert secrets == ({"app_role"} if name == "database" else set()), name


def test_the_servers_sign_in_as_their_own_role_and_its_password_is_in_no_state():
    database = module("database")
    version = resource(database, "aws_secretsmanager_secret_version", "app_role")
    assert "secret_string" not in version, "write-only: the password stays out of plans and state"
    assert "ephemeral.aws_secretsmanager_random_password.app_role.random_password" in version["secret_string_wo"]
    assert version["secret_string_wo_version"] == "${var.app_role_password_version}"
    assert database.default("app_role") == "tweetgen_app"
    inputs = module("environment").modules["app"]
    assert inputs["database_app_secret_arn"] == "${module.database.app_role_secret_arn}"
    assert inputs["database_owner_secret_arn"] == "${module.database.master_user_secret_arn}"
    user_data = (TERRAFORM_DIR / "modules" / "app" / "templates" / "user-data.sh.tftpl").read_text(encoding="utf-8")
    # The owner only in the step before the server; the server as the app role, not migrating.
    steps = re.findall(r"^(ExecStart(?:Pre)?)=(.*)$", user_data, re.M)
    assert steps == [
        ("ExecStartPre", "/opt/tweetgen/current/deploy/with-rds-credentials --owner /opt/tweetgen/current/bin/tweetgen-server migrate"),
        ("ExecStart", ""),
        ("ExecStart", "/opt/tweetgen/current/deploy/with-rds-credentials /opt/tweetgen/current/bin/tweetgen-server"),
    ]
    assert "\nTWEETGEN__DATABASE__MIGRATE=false\n" in user_data


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_fleet_follows_the_control_record_and_knows_both_databases(env):
    settings = module("environment").locals["server_settings"]
    assert settings["TWEETGEN__DATABASE__NAME"] == "${var.database_name}"
    assert settings["TWEETGEN__CONTROL__INITIAL_STATE"] == "${var.database_initial_state}"
    # Prod receives the old host's data: a replica until the cutover opens it.
    assert environment_inputs(env)["database_initial_state"] == ("replica" if env == "prod" else "serving")
    # Nothing left to flip after the cutover: the record decides from then on.
    assert not {"servers_read_only", "schema_from_server"} & environment(env).variables.keys()


# --- dns ---------------------------------------------------------------------------


def test_ttl_is_at_most_a_minute():
    dns = module("dns")
    assert dns.default("ttl_seconds") <= 60
    (condition,) = dns.validations("ttl_seconds")
    bound = re.search(r"var\.ttl_seconds <= (\d+)", condition)
    assert bound and int(bound.group(1)) <= 60, condition
    cname = resource(dns, "aws_route53_record", "cname")
    assert cname["ttl"] == "${var.ttl_seconds}"
    for name in ("network", "app", "database", "dns"):
        for record in module(name).resources_of_type("aws_route53_record").values():
            ttl = record.get("ttl")
            assert ttl is None or ttl == "${var.ttl_seconds}" or ttl <= 60, record


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_keeps_the_ttl_short(env):
    assert effective_inputs(env, "dns")["ttl_seconds"] <= 60


def test_apex_gets_an_alias_and_a_subdomain_a_cname():
    dns = module("dns")
    alias = resource(dns, "aws_route53_record", "apex_alias")
    assert alias["type"] == "A" and block(alias, "alias")["name"] == "${var.alb_dns_name}"
    assert "local.is_apex" in alias["count"]
    cname = resource(dns, "aws_route53_record", "cname")
    assert cname["type"] == "CNAME" and cname["records"] == ["${var.alb_dns_name}"]
    assert "!local.is_apex" in cname["count"]


# --- layout and the cutover's contract ---------------------------------------------

CUTOVER_OUTPUTS = {
    "zone_id",
    "record_name",
    "alb_dns_name",
    "alb_zone_id",
    "rds_endpoint",
    "rds_instance_id",
    "database_name",
    "old_database_name",
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_publishes_the_cutover_outputs(env):
    outputs = environment(env).outputs
    assert CUTOVER_OUTPUTS <= outputs.keys()
    assert outputs.keys() == module("environment").outputs.keys(), "the environments publish the stack's outputs"
    assert all(body["value"] == f"${{module.tweetgen.{name}}}" for name, body in outputs.items())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_an_empty_s3_backend_and_examples(env):
    config = environment(env)
    backends = [backend for settings in config.terraform for backend in settings.get("backend", [])]
    assert backends == [{"s3": {"__is_block__": True}}], backends
    for example in ("backend.hcl", "terraform.tfvars"):
        assert (config.path / example).is_file(), example


@pytest.mark.parametrize("name", MODULES)
def test_module_layout_and_documented_typed_variables(name):
    config = module(name)
    for file in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (config.path / file).is_file(), file
    for variable, declaration in config.variables.items():
        assert declaration.get("description"), f"{name}: variable {variable} has no description"
        assert declaration.get("type"), f"{name}: variable {variable} has no type"
    for output, declaration in config.outputs.items():
        assert declaration.get("description"), f"{name}: output {output} has no description"


@pytest.mark.parametrize("path", [f"modules/{name}" for name in MODULES] + [f"envs/{env}" for env in ENVIRONMENTS])
def test_provider_versions_are_pinned(path):
    """To the release whose schema schema_check.py checks against: a minor release adds
    resources and arguments, a patch release only fixes (Terraform installs the newest
    release the constraint admits)."""
    (settings,) = load(TERRAFORM_DIR / path).terraform
    (providers,) = settings["required_providers"]
    aws = providers["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert aws["version"] == f"~> {provider_schema.load()['provider_version']}"
    assert settings["required_version"].startswith(">= ")


def test_resolution_reached_literals():
    """The per-environment checks above compare values, not expressions they could not read."""
    for env in ENVIRONMENTS:
        for submodule in ("app", "database", "dns"):
            inputs = effective_inputs(env, submodule)
            for key in ("instance_types", "instance_class", "ttl_seconds", "allocated_storage_gib"):
                assert not isinstance(inputs.get(key), Unresolved), (env, submodule, key, inputs.get(key))
