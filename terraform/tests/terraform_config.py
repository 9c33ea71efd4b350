"""Reads the Terraform configuration with python-hcl2, and works out the value an
environment gives each module input (terraform plan cannot run here: no provider)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

TERRAFORM_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = TERRAFORM_DIR.parent
MODULES = ("network", "app", "database", "dns", "environment")
ENVIRONMENTS = ("staging", "prod")

_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False)
_WHOLE_VARIABLE = re.compile(r"^\$\{var\.([A-Za-z_][A-Za-z0-9_-]*)\}$")


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        return hcl2.load(file, serialization_options=_OPTIONS)


def _body(block: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in block.items() if key != "__is_block__"}


@dataclass
class Config:
    """One directory of .tf files: a module or an environment."""

    path: Path
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    resources: dict[tuple[str, str], dict[str, Any]]
    data: dict[tuple[str, str], dict[str, Any]]
    modules: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    terraform: list[dict[str, Any]]
    providers: list[dict[str, Any]]

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == resource_type}

    def default(self, variable: str) -> Any:
        return self.variables[variable].get("default")

    def validations(self, variable: str) -> list[str]:
        """The variable's validation conditions, as expression text."""
        return [rule["condition"] for rule in self.variables[variable].get("validation", [])]


@functools.cache
def load(path: Path) -> Config:
    config = Config(path, {}, {}, {}, {}, {}, {}, [], [])
    for file in sorted(path.glob("*.tf")):
        parsed = parse_file(file)
        for block in parsed.get("variable", []):
            config.variables.update({name: _body(body) for name, body in block.items()})
        for block in parsed.get("locals", []):
            config.locals.update(_body(block))
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                config.resources.update({(kind, name): _body(body) for name, body in named.items()})
        for block in parsed.get("data", []):
            for kind, named in block.items():
                config.data.update({(kind, name): _body(body) for name, body in named.items()})
        for block in parsed.get("module", []):
            config.modules.update({name: _body(body) for name, body in block.items()})
        for block in parsed.get("output", []):
            config.outputs.update({name: _body(body) for name, body in block.items()})
        config.terraform.extend(_body(block) for block in parsed.get("terraform", []))
        config.providers.extend(parsed.get("provider", []))
    return config


def module(name: str) -> Config:
    return load(TERRAFORM_DIR / "modules" / name)


def environment(name: str) -> Config:
    return load(TERRAFORM_DIR / "envs" / name)


def tfvars(env: str) -> dict[str, Any]:
    return parse_file(TERRAFORM_DIR / "envs" / env / "terraform.tfvars")


class Unresolved:
    """An expression this reader does not evaluate (a function call, a reference)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __repr__(self) -> str:
        return f"Unresolved({self.expression!r})"


def _resolve(value: Any, variables: dict[str, Any]) -> Any:
    """A literal as it is, `${var.x}` as the value given for x, anything else Unresolved."""
    if isinstance(value, str) and "${" in value:
        whole = _WHOLE_VARIABLE.match(value)
        return variables[whole.group(1)] if whole and whole.group(1) in variables else Unresolved(value)
    return value


def _inputs(config: Config, given: dict[str, Any]) -> dict[str, Any]:
    """Each variable's value in a module called with `given`: null or absent means the
    default, as it does for the modules' `nullable = false` variables."""
    values = {}
    for name, declaration in config.variables.items():
        value = given.get(name)
        values[name] = declaration.get("default") if value is None else value
    return values


def environment_inputs(env: str) -> dict[str, Any]:
    """The value each input of modules/environment gets in envs/<env>, as far as it
    is a literal in envs/<env> (its terraform.tfvars, its variables' defaults)."""
    root = environment(env)
    root_values = _inputs(root, tfvars(env))
    call = root.modules["tweetgen"]
    return _inputs(module("environment"), {key: _resolve(value, root_values) for key, value in call.items()})


def effective_inputs(env: str, submodule: str) -> dict[str, Any]:
    """The value each input of modules/<submodule> gets in envs/<env>, as far as it is
    a literal somewhere along envs/<env> -> modules/environment -> modules/<submodule>."""
    composition = module("environment")
    composition_values = environment_inputs(env)
    inner_call = composition.modules[submodule]
    return _inputs(module(submodule), {key: _resolve(value, composition_values) for key, value in inner_call.items()})


def hcl_string_literal(text: str) -> str:
    """The text of an HCL string literal's escapes (\\\\ and \\") undone."""
    return text.replace('\\"', '"').replace("\\\\", "\\")


def walk_strings(value: Any, skip_keys: frozenset[str] = frozenset()):
    """Every string inside a parsed value (keys and values), but under skip_keys."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in skip_keys:
                continue
            yield key
            yield from walk_strings(item, skip_keys)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item, skip_keys)
