"""deploy/with-rds-credentials, run against a stand-in for the AWS CLI."""

import json
import os
import stat
import subprocess
import urllib.parse

import pytest

from terraform_config import REPO_DIR

HELPER = REPO_DIR / "deploy" / "with-rds-credentials"
PASSWORD = "p@ss:w/rd?#%&="


@pytest.fixture
def instance(tmp_path):
    """A PATH with a fake `aws` answering for the secret, and the helper's environment."""
    secret = {"username": "tweetgen", "password": PASSWORD}
    response = {"SecretString": json.dumps(secret), "VersionId": "version-1"}
    (tmp_path / "response.json").write_text(json.dumps(response))
    fake_aws = tmp_path / "bin" / "aws"
    fake_aws.parent.mkdir()
    fake_aws.write_text(
        "#!/bin/bash\n"
        f'[ "$*" = "secretsmanager get-secret-value --secret-id arn:secret --output json" ] && exec cat {tmp_path}/response.json\n'
        f'[ "$*" = "secretsmanager get-secret-value --secret-id arn:secret --query VersionId --output text" ] '
        f"&& exec python3 -c 'import json; print(json.load(open(\"{tmp_path}/response.json\"))[\"VersionId\"])'\n"
        'echo "unexpected: aws $*" >&2; exit 255\n'
    )
    fake_aws.chmod(fake_aws.stat().st_mode | stat.S_IXUSR)
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {
        "PATH": f"{fake_aws.parent}:{os.environ['PATH']}",
        "RUNTIME_DIRECTORY": str(runtime),
        "TWEETGEN_DB_SECRET_ARN": "arn:secret",
        "TWEETGEN_DB_HOST": "db.example",
        "TWEETGEN_DB_PORT": "5432",
        "TWEETGEN_DB_NAME": "tweetgen",
    }
    return tmp_path, env


def run(env, *args):
    return subprocess.run([str(HELPER), *args], env=env, capture_output=True, text=True)


def test_runs_the_command_with_a_tls_database_url(instance):
    _, env = instance
    shown = run(env, "sh", "-c", 'printf %s "$DATABASE_URL"')
    assert shown.returncode == 0, shown.stderr
    url = urllib.parse.urlsplit(shown.stdout)
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgres", "db.example", 5432, "/tweetgen")
    assert urllib.parse.unquote(url.password) == PASSWORD, "the password survives percent-encoding"
    assert url.query == "sslmode=require"


def test_rotated_says_yes_only_after_the_secret_changed(instance):
    tmp_path, env = instance
    assert run(env, "--rotated").returncode == 1, "nothing running yet: nothing to restart"
    assert run(env, "true").returncode == 0
    assert run(env, "--rotated").returncode == 1, "same version: no restart"
    response = json.loads((tmp_path / "response.json").read_text())
    (tmp_path / "response.json").write_text(json.dumps({**response, "VersionId": "version-2"}))
    assert run(env, "--rotated").returncode == 0, "rotated: restart"
