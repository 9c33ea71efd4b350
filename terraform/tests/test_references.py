"""What `terraform validate` would check if a provider could be installed here:
every var., local., module., data. and resource reference resolves, module calls
pass exactly the inputs the module declares, and templates get their variables."""

import re
from pathlib import Path

import pytest

from terraform_config import ENVIRONMENTS, MODULES, TERRAFORM_DIR, Config, environment, load, tfvars, walk_strings

PROSE = frozenset({"description", "error_message"})
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
# Not inside a longer name or path: "user-data.sh" is no data source.
START = r"(?<![\w.-])"
VARIABLE = re.compile(rf"{START}var\.({NAME})")
LOCAL = re.compile(rf"{START}local\.({NAME})")
MODULE_OUTPUT = re.compile(rf"{START}module\.({NAME})(?:\.({NAME}))?")
DATA = re.compile(rf"{START}data\.({NAME})\.({NAME})")
RESOURCE = re.compile(rf"{START}(aws_[a-z0-9_]+)\.({NAME})")

CONFIG_DIRS = [f"modules/{name}" for name in MODULES] + [f"envs/{env}" for env in ENVIRONMENTS]


def references(config: Config, pattern: re.Pattern) -> set[tuple[str, ...]]:
    declarations = [
        config.locals,
        list(config.resources.values()),
        list(config.data.values()),
        config.modules,
        config.outputs,
        config.providers,
        [declaration.get("validation", []) for declaration in config.variables.values()],
    ]
    found = set()
    for text in walk_strings(declarations, PROSE):
        found.update(match.groups() for match in pattern.finditer(text))
    return found


def called_module(config: Config, name: str) -> Config:
    return load((config.path / config.modules[name]["source"]).resolve())


@pytest.mark.parametrize("path", CONFIG_DIRS)
def test_variables_and_locals_are_declared(path):
    config = load(TERRAFORM_DIR / path)
    assert {name for (name,) in references(config, VARIABLE)} - config.variables.keys() == set()
    assert {name for (name,) in references(config, LOCAL)} - config.locals.keys() == set()


@pytest.mark.parametrize("path", CONFIG_DIRS)
def test_resources_and_data_sources_are_declared(path):
    config = load(TERRAFORM_DIR / path)
    assert references(config, RESOURCE) - config.resources.keys() == set()
    assert references(config, DATA) - config.data.keys() == set()


@pytest.mark.parametrize("path", CONFIG_DIRS)
def test_module_outputs_exist(path):
    config = load(TERRAFORM_DIR / path)
    for name, output in references(config, MODULE_OUTPUT):
        assert name in config.modules, f"module.{name} is not called in {path}"
        if output:
            assert output in called_module(config, name).outputs, f"module.{name} has no output {output}"


@pytest.mark.parametrize("path", CONFIG_DIRS)
def test_module_calls_pass_declared_inputs_and_every_required_one(path):
    config = load(TERRAFORM_DIR / path)
    for name, arguments in config.modules.items():
        callee = called_module(config, name)
        passed = arguments.keys() - {"source", "providers", "depends_on", "count", "for_each"}
        assert passed - callee.variables.keys() == set(), f"module {name}: undeclared inputs"
        required = {variable for variable, body in callee.variables.items() if "default" not in body}
        assert required - passed == set(), f"module {name}: required inputs missing"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tfvars_set_only_declared_variables_and_every_required_one(env):
    config = environment(env)
    given = tfvars(env).keys()
    assert given - config.variables.keys() == set()
    assert {name for name, body in config.variables.items() if "default" not in body} - given == set()


def template_variables(template: Path) -> set[str]:
    text = template.read_text(encoding="utf-8")
    loop_names = set(re.findall(rf"%{{~?\s*for\s+({NAME})(?:\s*,\s*({NAME}))?\s+in", text))
    bound = {name for pair in loop_names for name in pair if name}
    used = set(re.findall(rf"(?<!\$)\$\{{\s*({NAME})", text))
    used |= set(re.findall(rf"%{{~?\s*for\s+[^%]*?\s+in\s+({NAME})", text))
    return used - bound


def resource_template(app: Config) -> Path:
    (relative,) = re.findall(r'templatefile\("\$\{path\.module\}/([^"]+)"', app.resources[("aws_launch_template", "app")]["user_data"])
    path = app.path / relative
    assert path.is_file(), path
    return path


def test_templates_get_exactly_the_variables_they_use():
    app = load(TERRAFORM_DIR / "modules/app")
    template = resource_template(app)
    given = re.search(r"templatefile\([^,]+,\s*\{(.*)\}\)", app.resources[("aws_launch_template", "app")]["user_data"], re.S)
    assert given, "user_data is not a templatefile() call"
    passed = set(re.findall(rf"\b({NAME})\s*=", given.group(1)))
    assert template_variables(template) == passed


def test_user_data_installs_files_the_release_carries():
    """The user-data installs deploy/ files from the tarball: they must exist and be packaged."""
    template = resource_template(load(TERRAFORM_DIR / "modules/app")).read_text(encoding="utf-8")
    package_script = (TERRAFORM_DIR.parent / "scripts/package-arm64.sh").read_text(encoding="utf-8")
    for name in sorted(set(re.findall(r"/opt/tweetgen/current/deploy/([\w.-]+)", template))):
        assert (TERRAFORM_DIR.parent / "deploy" / name).is_file(), name
        assert f"deploy/{name}" in package_script, f"scripts/package-arm64.sh does not package deploy/{name}"
