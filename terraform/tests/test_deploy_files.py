"""deploy/: the container files agree with the release layout and build for arm64; the systemd units verify."""

import re
import subprocess

import yaml

from terraform_config import REPO_DIR

DEPLOY = REPO_DIR / "deploy"


def test_compose_runs_the_arm64_image_built_from_the_dockerfile():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["tweetgen"]
    assert service["platform"] == "linux/arm64"
    assert service["build"]["platforms"] == ["linux/arm64"]
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert "DATABASE_URL" in service["environment"]


def test_image_runs_the_release_as_packaged():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "scripts/package-arm64.sh" in dockerfile, "the image packs what a release packs"
    stages = re.findall(r"^FROM (.+)$", dockerfile, re.M)
    assert stages[-1].startswith("--platform=linux/arm64 "), stages
    # The runtime stage's paths are the tarball's layout (bin/, site/, share/).
    for path in (
        "/opt/tweetgen/bin/tweetgen-server",
        "/opt/tweetgen/site",
        "/opt/tweetgen/share/ipadic.vibrato",
        "/opt/tweetgen/share/fonts/NotoSansCJK-Bold.ttc",
    ):
        assert path in dockerfile, path
    package_script = (REPO_DIR / "scripts" / "package-arm64.sh").read_text(encoding="utf-8")
    for layout in ('"$staging/bin/"', '"$staging/site"', '"$staging/share/ipadic.vibrato"', '"$staging/share/fonts/"'):
        assert layout in package_script, layout


def test_the_systemd_units_are_valid_and_the_server_has_a_memory_ceiling(tmp_path):
    """systemd-analyze verify on the units as an instance installs them (the
    programs and the service user replaced by what this machine has)."""
    units = ["tweetgen.service", "tweetgen-rotation.service", "tweetgen-rotation.timer"]
    for unit in units:
        text = (DEPLOY / unit).read_text(encoding="utf-8")
        text = re.sub(r"^(ExecStart|ExecCondition)=\S+", r"\1=/bin/true", text, flags=re.M)
        text = re.sub(r"^(User|Group|EnvironmentFile)=.*$", "", text, flags=re.M)
        (tmp_path / unit).write_text(text, encoding="utf-8")
    verified = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / unit) for unit in units)], capture_output=True, text=True
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    service = (DEPLOY / "tweetgen.service").read_text(encoding="utf-8")
    assert re.search(r"^MemoryMax=\d+%$", service, re.M), "the server is capped below the instance's memory"
