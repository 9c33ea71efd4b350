"""The hashicorp/aws provider's schema without the provider (it cannot be downloaded
here): read once from the CDK for Terraform bindings pinned in requirements.txt and
kept as a compact JSON next to them in the venv, rebuilt when the pin or this file
changes. schema_check.py checks the configuration against it.

The bindings' jsii assembly gives each resource and data source a Config struct: its
properties are the arguments and nested blocks, with their types and optionality,
and a documentation link that names the Terraform argument (`db_instance#port`).
Attributes that are only computed (`address`, `arn`) are not in the Config: their
Terraform names come from the generated JavaScript getters (`getStringAttribute('address')`).

Run as a script to build the cache and print what it holds."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

BINDINGS = "cdktf-cdktf-provider-aws"
PROVIDER_VERSION_IN_README = re.compile(r"prebuilt bindings for hashicorp/aws provider version (\d+\.\d+\.\d+)")
JSII_TARBALL = re.compile(r"_jsii/provider-aws@.*\.jsii\.tgz$")
ASSEMBLY = "@cdktf/provider-aws"

# "Represents a {@link https://registry.terraform.io/providers/hashicorp/aws/6.25.0/docs/resources/db_instance aws_db_instance}"
REPRESENTS = re.compile(r"\{@link \S+/docs/(resources|data-sources)/\S+ (aws_\w+)\}")
# "... {@link https://registry.terraform.io/.../docs/resources/db_instance#allocated_storage DbInstance#allocated_storage}"
ARGUMENT_LINK = re.compile(r"\{@link \S+#([\w-]+) ")
KIND_OF_CLASS = {"cdktf.TerraformResource": "resource", "cdktf.TerraformDataSource": "data"}
DOCS_SECTION_KIND = {"resources": "resource", "data-sources": "data"}

JS_CLASS = re.compile(r"^class (\w+) extends cdktf\.\w+ \{$(.*?)^\}$", re.M | re.S)
JS_GETTER = re.compile(r"^    get \w+\(\) \{\n\s+return ([^;]*);", re.M)
JS_ATTRIBUTE = re.compile(r"this\.(?:get\w*Attribute|interpolationForAttribute)\('([\w-]+)'\)")
# Classes of large resources live in other files, imported as e.g. index_structs_1.
JS_COMPLEX_MEMBER = re.compile(r'this\._(\w+) = new (?:\w+\.)?(\w+)\(this, "([\w-]+)"')
JS_ELEMENT = re.compile(r"^    get\((?:index|key)\) \{\n\s+return new (?:\w+\.)?(\w+)\(", re.M)


def _cache_dir() -> Path:
    # The venv that holds the bindings: the cache goes when they go.
    return Path(sys.prefix) / "provider-schema"


def bindings_version() -> str:
    return importlib.metadata.version(BINDINGS)


def provider_version() -> str:
    """The hashicorp/aws version the bindings were generated from, as their README says."""
    readme = importlib.metadata.metadata(BINDINGS).get_payload()
    found = PROVIDER_VERSION_IN_README.search(readme)
    if not found:
        raise RuntimeError(f"{BINDINGS} {bindings_version()}: no provider version in its description")
    return found.group(1)


def _jsii_tarball() -> Path:
    files = importlib.metadata.files(BINDINGS) or []
    (tarball,) = [file for file in files if JSII_TARBALL.search(str(file))]
    return Path(tarball.locate())


def cache_path() -> Path:
    extractor = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return _cache_dir() / f"aws-{provider_version()}-{BINDINGS}-{bindings_version()}-{extractor}.json"


@functools.cache
def load() -> dict[str, Any]:
    """{"provider_version", "provider": body, "resource": {type: schema}, "data": {type: schema}}
    where a schema is {"arguments": body, "attributes": tree}, a body is
    {"attributes": {name: {"required", "type"[, "block_body"]}}, "blocks": {name: {"required", "single", "body"}}}
    (body None: not described, anything goes) and a tree is {name: tree or None}."""
    path = cache_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("*.json"):
            stale.unlink()
        temporary = path.with_suffix(".partial")
        temporary.write_text(json.dumps(_extract(), separators=(",", ":")), encoding="utf-8")
        temporary.replace(path)
    return json.loads(path.read_text(encoding="utf-8"))


# --- Extraction ------------------------------------------------------------------


def _extract() -> dict[str, Any]:
    with tarfile.open(_jsii_tarball()) as archive:
        types = json.load(archive.extractfile("package/.jsii"))["types"]
        javascript = [
            archive.extractfile(member).read().decode("utf-8")
            for member in archive
            if member.name.startswith("package/lib/") and member.name.endswith(".js")
        ]
    classes = _javascript_classes(javascript)
    schema: dict[str, Any] = {"provider_version": provider_version(), "resource": {}, "data": {}}
    for declaration in types.values():
        if declaration["kind"] != "class" or not declaration["fqn"].startswith(ASSEMBLY + "."):
            continue
        config_fqn = declaration.get("initializer", {}).get("parameters", [{}])[-1].get("type", {}).get("fqn")
        if declaration.get("base") == "cdktf.TerraformProvider":
            schema["provider"] = _body(types, config_fqn)
            continue
        kind = KIND_OF_CLASS.get(declaration.get("base"))
        if kind is None:
            continue
        represents = REPRESENTS.search(declaration["docs"]["summary"])
        assert represents and DOCS_SECTION_KIND[represents.group(1)] == kind, declaration["fqn"]
        schema[kind][represents.group(2)] = {
            "arguments": _body(types, config_fqn),
            "attributes": _attribute_tree(classes, declaration["name"]),
        }
    return schema


def _terraform_name(property_: dict[str, Any]) -> str:
    docs = property_["docs"]
    found = ARGUMENT_LINK.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
    assert found, property_["name"]
    return found.group(1)


def _struct(types: dict[str, Any], reference: dict[str, Any]) -> tuple[bool, str] | None:
    """(is a list, struct fqn) when the property holds one or more provider structs."""
    if "fqn" in reference and types.get(reference["fqn"], {}).get("datatype"):
        return False, reference["fqn"]
    for member in reference.get("union", {}).get("types", []):
        if found := _struct(types, member):
            return found
    if element := reference.get("collection", {}).get("elementtype"):
        found = _struct(types, element)
        return (True, found[1]) if found else None
    return None


def _value_type(reference: dict[str, Any]) -> Any:
    """A property's Terraform value type: "string", "number", "bool", "any", "object",
    or ["list" | "map", element type]. cdktf.IResolvable (an expression) is not a type."""
    if primitive := reference.get("primitive"):
        return {"string": "string", "number": "number", "boolean": "bool"}.get(primitive, "any")
    if collection := reference.get("collection"):
        return ["list" if collection["kind"] == "array" else "map", _value_type(collection["elementtype"])]
    if union := reference.get("union"):
        members = [member for member in union["types"] if member.get("fqn") != "cdktf.IResolvable"]
        return _value_type(members[0]) if len(members) == 1 else "any"
    return "object" if reference.get("fqn", "").startswith(ASSEMBLY + ".") else "any"


def _body(types: dict[str, Any], struct_fqn: str) -> dict[str, Any]:
    """The arguments and nested blocks a Config (or block) struct describes. cdktf's
    own meta-arguments (count, provider...) come from cdktf.TerraformMetaArguments,
    not from the struct itself, and are left out."""
    attributes: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    for property_ in types[struct_fqn].get("properties", []):
        name = _terraform_name(property_)
        required = not property_.get("optional", False)
        struct = _struct(types, property_["type"])
        if property_["docs"].get("summary", "").endswith(" block."):
            # A block too deep for cdktf to describe is typed `any`: its content is not checked.
            body = _body(types, struct[1]) if struct else None
            blocks[name] = {"required": required, "single": bool(struct) and not struct[0], "body": body}
        else:
            attributes[name] = {"required": required, "type": _value_type(property_["type"])}
            if struct and struct[0]:
                # A list of objects may also be written as repeated blocks (the SDK's
                # "attributes as blocks", e.g. aws_security_group's ingress).
                attributes[name]["block_body"] = _body(types, struct[1])
    return {"attributes": attributes, "blocks": blocks}


def _javascript_classes(sources) -> dict[str, dict[str, Any]]:
    """Per generated class: its Terraform attributes (name -> class of the value, or None
    for a plain value) and, for a list or map class, the class of its elements."""
    classes = {}
    for source in sources:
        for name, body in JS_CLASS.findall(source):
            complex_members = {member: (cls, attribute) for member, cls, attribute in JS_COMPLEX_MEMBER.findall(body)}
            attributes = {}
            for returned in JS_GETTER.findall(body):
                if plain := JS_ATTRIBUTE.search(returned):
                    attributes[plain.group(1)] = None
                elif (member := re.fullmatch(r"this\._(\w+)", returned)) and member.group(1) in complex_members:
                    cls, attribute = complex_members[member.group(1)]
                    attributes[attribute] = cls
            element = JS_ELEMENT.search(body)
            classes[name] = {"attributes": attributes, "element": element.group(1) if element else None}
    return classes


def _attribute_tree(classes: dict[str, dict[str, Any]], class_name: str) -> dict[str, Any]:
    """What may be referenced below an instance of the class: {attribute: subtree or None}.
    Lists and maps of objects are indexed through (`master_user_secret[0].secret_arn`)."""
    tree = {}
    for attribute, value_class in classes[class_name]["attributes"].items():
        while value_class in classes and classes[value_class]["element"]:
            value_class = classes[value_class]["element"]
        # cdktf's own classes (cdktf.StringMap...) hold plain values.
        tree[attribute] = _attribute_tree(classes, value_class) if value_class in classes else None
    return tree


if __name__ == "__main__":
    loaded = load()
    print(
        f"{cache_path()}: hashicorp/aws {loaded['provider_version']} from {BINDINGS} {bindings_version()}, "
        f"{len(loaded['resource'])} resources, {len(loaded['data'])} data sources"
    )
