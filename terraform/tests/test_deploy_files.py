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


def test_the_database_url_checks_the_rds_certificate_when_the_release_has_the_bundle(tmp_path):
    """with-rds-credentials against a stand-in `aws` that answers a secret: verify-full
    with the bundle's path when the release ships one, require (and a warning) when not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_aws = bin_dir / "aws"
    fake_aws.write_text(
        "#!/bin/sh\n"
        'echo \'{"SecretString": "{\\"username\\": \\"tweetgen_app\\", \\"password\\": \\"p@ss/word\\"}", '
        '"VersionId": "v1"}\'\n',
        encoding="utf-8",
    )
    fake_aws.chmod(0o755)
    bundle = tmp_path / "rds-ca.pem"
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RUNTIME_DIRECTORY": str(tmp_path),
        "TWEETGEN_DB_APP_SECRET_ARN": "arn:app",
        "TWEETGEN_DB_HOST": "db.example.rds.amazonaws.com",
        "TWEETGEN_DB_PORT": "5432",
        "TWEETGEN_DB_NAME": "tweetgen",
        "TWEETGEN_DB_CA_BUNDLE": str(bundle),
    }

    def database_url():
        run = subprocess.run(
            [str(DEPLOY / "with-rds-credentials"), "sh", "-c", 'printf %s "$DATABASE_URL"'],
            env=environment, capture_output=True, text=True, check=True,
        )
        return run.stdout, run.stderr

    url, warning = database_url()
    assert url == "postgres://tweetgen_app:p%40ss%2Fword@db.example.rds.amazonaws.com:5432/tweetgen?sslmode=require"
    assert "certificate unchecked" in warning
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    url, warning = database_url()
    assert url.endswith(f"/tweetgen?sslmode=verify-full&sslrootcert={bundle}")
    assert warning == ""
