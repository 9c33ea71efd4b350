# Shared set-up for the benchmark scripts, sourced first by each: the rest of the script runs
# from the repo root with the project's tools on PATH (scripts/env.sh).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

# bench_command_line SCRIPT ARG...: exports BENCH_COMMAND, the command as it was typed
# (the BENCH_* settings given, SCRIPT, its arguments), for the report's header.
bench_command_line() {
    local line=() name
    for name in $(compgen -v BENCH_); do
        [[ $name == BENCH_COMMAND || -z ${!name} ]] || line+=("$name=${!name}")
    done
    export BENCH_COMMAND="${line[*]}${line[*]:+ }$*"
}

# bench_apt_install NAME LOG PACKAGE...: installs the packages with apt-get (nothing when
# none is given); on failure shows the end of LOG and exits.
bench_apt_install() {
    local name=$1 log=$2
    shift 2
    (($#)) || return 0
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "$name: installing $* with apt-get" >&2
    if ! { "${sudo[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"; } \
        >"$log" 2>&1; then
        tail -20 "$log" >&2
        exit 1
    fi
}

# bench_markovify_venv NAME: the venv .venv/bench with markovify 0.9.4 (the old service's
# engine), created when missing or different.
bench_markovify_venv() {
    local name=$1 venv=.venv/bench
    if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("markovify") != "0.9.4")' \
        2>/dev/null; then
        echo "$name: creating $venv with markovify==0.9.4" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'markovify==0.9.4' >&2
    fi
}

# bench_missing_postgres: the apt packages missing for the PostgreSQL server, its clients
# (pg_dump, pg_restore, psql, pgbench) and Debian's pgcopydb, one per line.
bench_missing_postgres() {
    command -v pgcopydb >/dev/null || echo pgcopydb
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || echo postgresql
    compgen -G '/usr/lib/postgresql/*/bin/pg_restore' >/dev/null || echo postgresql-client
}

# bench_cluster_settings SETTING...: tweetgen-pg's `--set NAME=VALUE` arguments for both
# clusters of a benchmark, one word per line: PostgreSQL's durable defaults unless
# BENCH_DURABLE=0 (the harness's own turn them off), then SETTING..., then BENCH_PG_SETTINGS
# ("name=value name=value"), later ones overriding earlier ones.
bench_cluster_settings() {
    local setting
    if [[ ${BENCH_DURABLE:-1} == 1 ]]; then
        set -- fsync=on synchronous_commit=on full_page_writes=on "$@"
    fi
    # shellcheck disable=SC2086  # BENCH_PG_SETTINGS is a space-separated list
    for setting in "$@" ${BENCH_PG_SETTINGS:-}; do
        printf -- '--set\n%s\n' "$setting"
    done
}
