"""deploy/with-rds-credentials, run against a stand-in for the AWS CLI."""

import json
import os
import stat
import subprocess
import urllib.parse

import pytest

from terraform_config import REPO_DIR

HELPER = REPO_DIR / "deploy" / "with-rds-credentials"
SECRETS = {
    "arn:owner": {"username": "tweetgen", "password": "p@ss:w/rd?#%&="},
    "arn:app": {"username": "tweetgen_app", "password": "app'pass$(word)`x`"},
}


@pytest.fixture
def instance(tmp_path):
    """A PATH with a fake `aws` answering for the two secrets, and the helper's environment."""
    for arn, secret in SECRETS.items():
        response = {"SecretString": json.dumps(secret), "VersionId": "version-1"}
        (tmp_path / f"{arn}.json").write_text(json.dumps(response))
    fake_aws = tmp_path / "bin" / "aws"
    fake_aws.parent.mkdir()
    fake_aws.write_text(
        "#!/bin/bash\n"
        f'response={tmp_path}/"$4".json\n'
        '[ -f "$response" ] || { echo "no secret $4" >&2; exit 254; }\n'
        '[ "$1 $2 $3 $5 $6" = "secretsmanager get-secret-value --secret-id --output json" ] && exec cat "$response"\n'
        '[ "$1 $2 $3 $5 $6 $7 $8" = "secretsmanager get-secret-value --secret-id --query VersionId --output text" ] '
        "&& exec python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[\"VersionId\"])' \"$response\"\n"
        'echo "unexpected: aws $*" >&2; exit 255\n'
    )
    fake_aws.chmod(fake_aws.stat().st_mode | stat.S_IXUSR)
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {
        "PATH": f"{fake_aws.parent}:{os.environ['PATH']}",
        "RUNTIME_DIRECTORY": str(runtime),
        "TWEETGEN_DB_OWNER_SECRET_ARN": "arn:owner",
        "TWEETGEN_DB_APP_SECRET_ARN": "arn:app",
        "TWEETGEN_DB_HOST": "db.example",
        "TWEETGEN_DB_PORT": "5432",
        "TWEETGEN_DB_NAME": "tweetgen",
    }
    return tmp_path, env


def run(env, *args):
    return subprocess.run([str(HELPER), *args], env=env, capture_output=True, text=True)


def signs_in_as(url_text):
    url = urllib.parse.urlsplit(url_text)
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgres", "db.example", 5432, "/tweetgen")
    assert url.query == "sslmode=require"
    return urllib.parse.unquote(url.username), urllib.parse.unquote(url.password)


def test_the_server_signs_in_as_the_app_role_and_never_sees_the_owner(instance):
    _, env = instance
    shown = run(env, "sh", "-c", 'printf "%s\\n%s" "$DATABASE_URL" "${TWEETGEN_APP_ROLE_PASSWORD-unset}"')
    assert shown.returncode == 0, shown.stderr
    url, role_password = shown.stdout.split("\n")
    assert signs_in_as(url) == (SECRETS["arn:app"]["username"], SECRETS["arn:app"]["password"])
    assert role_password == "unset"


def test_the_migrate_step_signs_in_as_the_owner_and_gets_the_role_to_prepare(instance):
    _, env = instance
    shown = run(env, "--owner", "sh", "-c", 'printf "%s\\n%s\\n%s" "$DATABASE_URL" "$TWEETGEN_APP_ROLE" "$TWEETGEN_APP_ROLE_PASSWORD"')
    assert shown.returncode == 0, shown.stderr
    url, role, password = shown.stdout.split("\n")
    assert signs_in_as(url) == (SECRETS["arn:owner"]["username"], SECRETS["arn:owner"]["password"])
    assert (role, password) == (SECRETS["arn:app"]["username"], SECRETS["arn:app"]["password"]), "quoted, not run"


def test_a_secret_that_cannot_be_read_runs_nothing(instance):
    tmp_path, env = instance
    for args in (["--owner"], []):
        failed = run({**env, "TWEETGEN_DB_APP_SECRET_ARN": "arn:missing"}, *args, "touch", str(tmp_path / "ran"))
        assert failed.returncode != 0 and "no secret arn:missing" in failed.stderr
    assert not (tmp_path / "ran").exists()


def test_rotated_says_yes_only_after_the_app_roles_secret_changed(instance):
    tmp_path, env = instance
    assert run(env, "--rotated").returncode == 1, "nothing running yet: nothing to restart"
    assert run(env, "true").returncode == 0
    assert run(env, "--rotated").returncode == 1, "same version: no restart"
    owner = tmp_path / "arn:owner.json"
    owner.write_text(json.dumps({**json.loads(owner.read_text()), "VersionId": "version-2"}))
    assert run(env, "--rotated").returncode == 1, "the owner's password is read at each start: no restart"
    app = tmp_path / "arn:app.json"
    app.write_text(json.dumps({**json.loads(app.read_text()), "VersionId": "version-2"}))
    assert run(env, "--rotated").returncode == 0, "the app role's changed: restart"
