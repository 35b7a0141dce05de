#!/usr/bin/env bash
# Tests/container/ai-pod.sh
#
# The compose demo's two services, run as a podman pod (one network namespace, as compose's
# `network_mode: service:minivna` makes them; Debian's podman-compose 1.0.3 cannot run that
# compose file, see docker/NOTES.md): the MiniVNA image built by Tests/container/run.sh and the
# example lung-volume service image (docker/lung-volume-service.Dockerfile, built here). A chest
# CT phantom is stored, the archive calls the service, and the results must come back (SR, SEG,
# Observations with the phantom's volumes). Also checks the entrypoint's fixed-credentials path
# (MINIVNA_API_KEYS given: names and roles printed, tokens not). Exits non-zero on any failure.
#
# Run from the repo root, as root, after Tests/container/run.sh:  bash Tests/container/ai-pod.sh
#   MINIVNA_IMAGE   the MiniVNA image (default localhost/minivna-demo:test, what run.sh builds)
#   RUNTIME_BASE    base image of the lung-volume image (default localhost/bookworm-base, made by run.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MINIVNA_IMAGE="${MINIVNA_IMAGE:-localhost/minivna-demo:test}"
RUNTIME_BASE="${RUNTIME_BASE:-localhost/bookworm-base}"
LUNG_IMAGE="localhost/minivna-lung-volume:test"
POD="minivna-ai-pod-test-$$"
VOLUME="minivna-ai-pod-test-$$"
ADMIN_TOKEN="container-test-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# shellcheck source=Tests/container/common.sh
. "$ROOT/Tests/container/common.sh"

[ "$(id -u)" -eq 0 ] || die "run as root"
podman image exists "$MINIVNA_IMAGE" || die "no image $MINIVNA_IMAGE: run Tests/container/run.sh first"
podman image exists "$RUNTIME_BASE" || die "no base image $RUNTIME_BASE: run Tests/container/run.sh first"

cleanup() {
    local status=$?
    if podman pod exists "$POD" 2>/dev/null; then
        if [ "$status" -ne 0 ]; then
            for container in "$POD-minivna" "$POD-lung"; do
                echo "---- $container log (last 20 lines) ----"
                podman logs "$container" 2>&1 | tail -n 20 || true
            done
        fi
        pod pod rm -f "$POD" >/dev/null 2>&1 || true
    fi
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    exit "$status"
}
trap cleanup EXIT

# pip inside the build needs this machine's CA bundle (TLS is intercepted here); elsewhere the
# bundle is the system's own and the mount is harmless.
say "podman build lung-volume service (BASE=$RUNTIME_BASE)"
start="$(now)"
ca_args=()
[ -r /etc/ssl/certs/ca-certificates.crt ] && ca_args=(-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt)
podman build --format docker --network host --build-arg BASE="$RUNTIME_BASE" "${ca_args[@]}" \
    -f "$ROOT/docker/lung-volume-service.Dockerfile" -t "$LUNG_IMAGE" "$ROOT" > /tmp/"$POD"-build.log 2>&1 \
    || { tail -n 30 /tmp/"$POD"-build.log; rm -f /tmp/"$POD"-build.log; die "lung-volume image build failed"; }
rm -f /tmp/"$POD"-build.log
say "built in $(seconds_since "$start") s, $(podman image inspect --format '{{.Size}}' "$LUNG_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

# The pod publishes the archive's port 8080 on a free host port (loopback only); the service's
# port 8090 stays inside the pod, as in the compose file.
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
say "pod $POD: minivna + lung-volume, 127.0.0.1:$PORT -> 8080"
pod pod create --name "$POD" -p "127.0.0.1:$PORT:8080" >/dev/null
start="$(now)"
pod run -d --pod "$POD" --name "$POD-minivna" -v "$VOLUME:/data" \
    -e MINIVNA_API_KEYS="demo-admin:admin:$ADMIN_TOKEN,demo-reader:reader:container-test-reader-0123456789" \
    "$MINIVNA_IMAGE" --ai-service 'lung-volume@1.0=http://127.0.0.1:8090/jobs;modality=CT;min-instances=10' >/dev/null
pod run -d --pod "$POD" --name "$POD-lung" "$LUNG_IMAGE" --host 127.0.0.1 --port 8090 >/dev/null

deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE/dicom-web/studies" || true)" = "200" ]; do
    [ $SECONDS -lt $deadline ] || die "MiniVNA did not answer within 120 s"
    [ "$(podman inspect --format '{{.State.Running}}' "$POD-minivna")" = "true" ] || die "the MiniVNA container stopped"
    sleep 0.5
done
until pod exec "$POD-lung" python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health', timeout=2)" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "the lung-volume service did not answer within 120 s"
    sleep 0.5
done
say "both up in $(seconds_since "$start") s"

logs="$(podman logs "$POD-minivna" 2>&1)"
grep -q "MiniVNA credentials from MINIVNA_API_KEYS: demo-admin (admin), demo-reader (reader)" <<< "$logs" \
    || die "the entrypoint did not name the given credentials"
! grep -q "$ADMIN_TOKEN" <<< "$logs" || die "the entrypoint printed a token given in MINIVNA_API_KEYS"

start="$(now)"
python3 "$ROOT/Tests/container/check_ai.py" "$BASE" "$ADMIN_TOKEN" || die "AI checks failed (above)"
say "stow to AI results: $(seconds_since "$start") s (includes the 10 s quiet period)"
echo "container ai: all checks passed"
