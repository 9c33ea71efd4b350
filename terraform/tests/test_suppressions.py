"""Every finding the scanners are told to ignore says why, inline, next to the resource."""

import re

from terraform_config import REPO_DIR, TERRAFORM_DIR

SCANNED = [TERRAFORM_DIR, REPO_DIR / "deploy"]
CHECKOV_SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
TRIVY_IGNORE = re.compile(r"#\s*trivy:ignore:([A-Z0-9-]+)(.*)")
MIN_REASON_WORDS = 5


def scanned_files():
    """The files the scanners read: Terraform and Dockerfiles (not the docs about them)."""
    for directory in SCANNED:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink() and (path.suffix == ".tf" or path.name == "Dockerfile"):
                yield path


def suppressions(pattern):
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                yield f"{path.relative_to(REPO_DIR)}:{number}", match.group(1), (match.group(2) or "").strip()


def test_every_checkov_skip_has_a_reason():
    skips = list(suppressions(CHECKOV_SKIP))
    assert skips, "the skip pattern no longer matches anything: check the test"
    for place, check, reason in skips:
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{place}: checkov skip {check} without a reason"


def test_every_trivy_ignore_has_a_reason():
    ignores = list(suppressions(TRIVY_IGNORE))
    assert ignores, "the ignore pattern no longer matches anything: check the test"
    for place, check, reason in ignores:
        assert check.startswith("AVD-"), f"{place}: {check}"
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{place}: trivy ignore {check} without a reason"


def test_no_suppression_files_hide_findings_elsewhere():
    for name in (".trivyignore", ".trivyignore.yaml", ".checkov.yaml", ".checkov.yml"):
        for directory in [REPO_DIR, *SCANNED]:
            assert not (directory / name).exists(), directory / name
