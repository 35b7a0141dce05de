#!/usr/bin/env bash
# Tests/container/run.sh [MINIVNA_BINARY]
#
# Builds the MiniVNA demo image (docker/Dockerfile, target runtime-prebuilt) around a binary built
# on this host, runs it, and checks it from the host over HTTP: the demo data, STOW-RS, QIDO-RS,
# WADO-RS (parsed with pydicom), FHIR ImagingStudy, the healthcheck, a restart that keeps the
# data, and a graceful stop. Exits non-zero on any failure.
#
# Run from the repo root, as root:  bash Tests/container/run.sh [path/to/minivna]
#   binary: the argument, else $MINIVNA_BIN, else .build/release/minivna, else .build/debug/minivna
#   MINIVNA_CONTAINER_CACHE  where the debootstrapped base rootfs is kept (default /var/cache/minivna-container)
#   RUNTIME_BASE             base image of the runtime stage (default localhost/bookworm-base, made here
#                            by debootstrap: official images cannot be pulled on this machine kind)
#   MINIVNA_IMAGE            test this image as it is instead (no binary, no build): e.g. one built
#                            from source with the Dockerfile's default target
#
# Why podman and not docker: this machine kind has a docker client but no engine; Debian's podman
# builds and runs the same Dockerfile as root with the settings in docker/containers.conf
# (see shared/STACK.md, "Containers"). Nothing is written into the repo: the build context is
# assembled in a temporary folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${MINIVNA_CONTAINER_CACHE:-/var/cache/minivna-container}"
RUNTIME_BASE="${RUNTIME_BASE:-localhost/bookworm-base}"
GIVEN_IMAGE="${MINIVNA_IMAGE:-}"
IMAGE="${GIVEN_IMAGE:-localhost/minivna-demo:test}"
NAME="minivna-container-test-$$"
# shellcheck source=Tests/container/common.sh
. "$ROOT/Tests/container/common.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (podman builds and runs the image as root here)"

# --- the binary -----------------------------------------------------------------------------
BIN="${1:-${MINIVNA_BIN:-}}"
if [ -z "$GIVEN_IMAGE" ]; then
    if [ -z "$BIN" ]; then
        for candidate in "$ROOT/.build/release/minivna" "$ROOT/.build/debug/minivna"; do
            [ -x "$candidate" ] && { BIN="$candidate"; break; }
        done
    fi
    [ -n "$BIN" ] && [ -x "$BIN" ] || die "no minivna binary: build one (swift build -c release --product minivna) or pass its path"
fi

WORK="$(mktemp -d /tmp/minivna-container.XXXXXX)"
cleanup() {
    local status=$?
    if podman container exists "$NAME" 2>/dev/null; then
        if [ "$status" -ne 0 ]; then
            echo "---- container log (last 40 lines) ----"
            podman logs "$NAME" 2>&1 | tail -n 40
            echo "---------------------------------------"
        fi
        pod rm -f -v "$NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

if [ -z "$GIVEN_IMAGE" ]; then
    # Copied at once: a build in progress may replace the file while the test runs.
    cp "$BIN" "$WORK/minivna"
    say "binary: $BIN ($(du -h "$WORK/minivna" | cut -f1))"
fi

# --- tools ------------------------------------------------------------------------------------
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
command -v curl >/dev/null || die "curl is needed (scripts/install-deps.sh installs it)"
python3 -c "import pydicom" 2>/dev/null || die "pydicom is needed (scripts/install-deps.sh installs it)"

debootstrap_seconds="cached" build_seconds="n/a (given image)"
if [ -z "$GIVEN_IMAGE" ]; then
    # --- base image -------------------------------------------------------------------------------
    # A Debian bookworm minbase rootfs made once by debootstrap and kept in the cache, imported as
    # localhost/bookworm-base: the stand-in for debian:bookworm-slim, which cannot be pulled here.
    if [ "$RUNTIME_BASE" = "localhost/bookworm-base" ] && ! podman image exists localhost/bookworm-base; then
        if [ ! -d "$CACHE/rootfs" ]; then
            say "debootstrap bookworm minbase into $CACHE/rootfs (once; ~1 min)"
            mkdir -p "$CACHE"
            rm -rf "$CACHE/rootfs.partial"          # an interrupted run leaves a half rootfs: start over
            start="$(now)"
            debootstrap --variant=minbase bookworm "$CACHE/rootfs.partial" http://deb.debian.org/debian \
                > "$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log"; die "debootstrap failed"; }
            # Security and point-release updates for the apt-get in the Dockerfile; no downloaded .debs in the image.
            printf '%s\n' "deb http://deb.debian.org/debian bookworm main" \
                           "deb http://deb.debian.org/debian bookworm-updates main" \
                           "deb http://deb.debian.org/debian-security bookworm-security main" \
                > "$CACHE/rootfs.partial/etc/apt/sources.list"
            rm -f "$CACHE"/rootfs.partial/var/cache/apt/archives/*.deb
            mv "$CACHE/rootfs.partial" "$CACHE/rootfs"
            debootstrap_seconds="$(seconds_since "$start")"
            say "debootstrap: ${debootstrap_seconds} s"
        fi
        say "podman import $CACHE/rootfs as localhost/bookworm-base"
        tar -C "$CACHE/rootfs" -c . | podman import --quiet - localhost/bookworm-base:latest >/dev/null
    fi

    # --- build context and image ----------------------------------------------------------------
    # The same layout as the repo (the Dockerfile's COPY paths), with the binary laid out in
    # docker/prebuilt/ by the script the Dockerfile's own build stage uses.
    mkdir -p "$WORK/context/Fixtures"
    cp -r "$ROOT/docker" "$WORK/context/docker"
    rm -rf "$WORK/context/docker/prebuilt"
    for folder in ct mr multiframe jpeg2000 charsets; do cp -r "$ROOT/Fixtures/$folder" "$WORK/context/Fixtures/"; done
    bash "$ROOT/docker/collect-runtime.sh" "$WORK/minivna" "$WORK/context/docker/prebuilt"

    say "podman build --target runtime-prebuilt (RUNTIME_BASE=$RUNTIME_BASE)"
    previous_image="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
    start="$(now)"
    # --format docker: the OCI format has no HEALTHCHECK, podman would drop it.
    # --network host: the build's apt-get has no other network here.
    podman build --format docker --network host --target runtime-prebuilt \
        --build-arg RUNTIME_BASE="$RUNTIME_BASE" \
        -f "$WORK/context/docker/Dockerfile" -t "$IMAGE" "$WORK/context" > "$WORK/build.log" 2>&1 \
        || { tail -n 30 "$WORK/build.log"; die "image build failed"; }
    build_seconds="$(seconds_since "$start")"
    # The previous test image, now untagged, would pile up at every run.
    if [ -n "$previous_image" ] && [ "$previous_image" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
        podman rmi "$previous_image" >/dev/null 2>&1 || true
    fi
    say "image built in ${build_seconds} s"
else
    podman image exists "$IMAGE" || die "no image $IMAGE"
    debootstrap_seconds="n/a"
    say "testing the given image $IMAGE"
fi
image_size="$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
say "image: $IMAGE, $image_size"

healthcheck="$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")"
grep -q "/opt/minivna/bin/healthcheck.sh" <<< "$healthcheck" || die "the image has no HEALTHCHECK: $healthcheck"

# --- run --------------------------------------------------------------------------------------
# A free port: --network host shares the host's ports, 8080 may be taken.
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# The token the entrypoint printed for NAME: "  demo-admin   role admin    Authorization: Bearer TOKEN".
# (Logs are read whole: with pipefail, a reader that stops early would fail the pipeline.)
printed_token() {
    local logs
    logs="$(podman logs "$NAME" 2>/dev/null || true)"
    awk -v name="$1" '$1 == name && $5 == "Bearer" && !found { print $6; found = 1 }' <<< "$logs"
}

# Waits until the container answers HTTP with the demo token; sets TOKEN and HEALTH.
# Readiness = GET /dicom-web/studies answers 200 (with the Bearer token, which a server with
# authentication needs), and the image's HEALTHCHECK (GET /health/ready, no credentials) passes.
wait_ready() {
    local deadline=$((SECONDS + 180)) code last_health="no HTTP 200 from /dicom-web/studies yet"
    TOKEN="" HEALTH=""
    while [ $SECONDS -lt $deadline ]; do
        [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = "true" ] || die "the container stopped before it was ready"
        [ -n "$TOKEN" ] || TOKEN="$(printed_token demo-admin)"
        if [ -n "$TOKEN" ]; then
            code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" "$BASE/dicom-web/studies" || true)"
            if [ "$code" = "200" ]; then
                if last_health="$(podman healthcheck run "$NAME" 2>&1)"; then
                    HEALTH="healthy"
                    return 0
                fi
                code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/health/ready" || true)"
                last_health="$last_health (GET /health/ready: $code)"
            fi
        fi
        sleep 0.2
    done
    die "not ready within 180 s: $last_health"
}

say "podman run --network host -e PORT=$PORT $IMAGE"
start="$(now)"
pod run -d --name "$NAME" --network host -e PORT="$PORT" "$IMAGE" >/dev/null
wait_ready
healthy_seconds="$(seconds_since "$start")"
say "ready in ${healthy_seconds} s; healthcheck: $HEALTH"
logs="$(podman logs "$NAME" 2>&1)"
grep -E "^(entrypoint|MiniVNA|  demo-|  try|imported|demo data|listening)" <<< "$logs" | sed 's/^/   | /'
grep -Eq "^demo data: 5 patients, .*stored [0-9]+, already stored 0" <<< "$logs" || die "the entrypoint did not store the demo-data archive"


grep -q "MiniVNA demo credentials" <<< "$logs" || die "the entrypoint did not print the demo credentials"
reader_token="$(printed_token demo-reader)"
[ -n "$reader_token" ] && [ "$reader_token" != "$TOKEN" ] || die "no distinct reader token printed"
grep -Eq "^imported [0-9]+, already stored 0, replaced 0, failed 0 of [0-9]+ files" <<< "$logs" \
    || die "the demo import did not store every file: $(grep '^imported' <<< "$logs" || echo 'no import line')"
user="$(podman exec "$NAME" id -un)"
[ "$user" = "minivna" ] || die "the server runs as $user, not minivna"

checks_failed=0
python3 "$ROOT/Tests/container/check.py" "$BASE" "$TOKEN" "$reader_token" "$ROOT/Fixtures" "$WORK/state.json" || checks_failed=1

# --- restart: same container, same volume ---------------------------------------------------
# The data and the generated credentials live in /data: a restart keeps both and imports nothing.
say "podman restart"
first_token="$TOKEN"
pod stop -t 30 "$NAME" >/dev/null
pod start "$NAME" >/dev/null
wait_ready
[ "$TOKEN" = "$first_token" ] || die "the credentials changed across a restart"
logs="$(podman logs "$NAME" 2>&1)"
imports="$(grep -c "first start: importing the demo data" <<< "$logs" || true)"
[ "$imports" = "1" ] || die "the demo data were imported $imports times"
python3 "$ROOT/Tests/container/check.py" "$BASE" "$TOKEN" "$reader_token" "$ROOT/Fixtures" "$WORK/state.json" --after-restart \
    || checks_failed=1

# --- stop -------------------------------------------------------------------------------------
# minivna is PID 1 (the entrypoint execs it): SIGTERM must stop it gracefully, not the SIGKILL
# after the timeout (exit code 137).
say "podman stop"
start="$(now)"
pod stop -t 30 "$NAME" >/dev/null
stop_seconds="$(seconds_since "$start")"
exit_code="$(podman inspect --format '{{.State.ExitCode}}' "$NAME")"
[ "$exit_code" != "137" ] || die "minivna did not stop on SIGTERM (killed after 30 s)"
pod rm -v "$NAME" >/dev/null

echo
unit() { case "$1" in [0-9]*) echo "$1 s" ;; *) echo "$1" ;; esac; }
echo "figures: base rootfs debootstrap $(unit "$debootstrap_seconds"); image build $(unit "$build_seconds");" \
     "start to healthy ${healthy_seconds} s; stop ${stop_seconds} s (exit $exit_code); image $image_size"
[ "$checks_failed" -eq 0 ] || die "HTTP checks failed (above)"
echo "container: all checks passed"
