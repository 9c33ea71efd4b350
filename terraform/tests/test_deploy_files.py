"""deploy/: the container files agree with the release layout and build for arm64."""

import re

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
