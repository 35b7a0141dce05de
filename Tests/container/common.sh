# Shared by Tests/container/run.sh and ai-pod.sh (sourced): messages, timing, and podman with
# its harmless systemd noise filtered.
# shellcheck shell=bash

export CONTAINERS_CONF="$ROOT/docker/containers.conf"

say() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
seconds_since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'; }

# podman without systemd logs "unable to get systemd connection" at each start and stop of a
# container with a HEALTHCHECK (it cannot schedule the timer; podman 4.3 ignores
# --health-interval disable for an image's HEALTHCHECK). Harmless here: run.sh runs the check
# itself with `podman healthcheck run`. Other errors are shown.
pod() {
    local err rc=0
    err="$(mktemp)"
    podman "$@" 2> "$err" || rc=$?
    grep -v "unable to get systemd connection" "$err" >&2 || true
    rm -f "$err"
    return "$rc"
}
