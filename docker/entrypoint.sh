#!/bin/bash
# Entrypoint of the MiniVNA demo image.
#
#   (no arguments)        import the demo data into /data on first start, then
#                         `minivna serve --host 0.0.0.0 --port $PORT --data /data`
#   --some-flag ...       the same, with the flags added to `minivna serve`
#                         (e.g. --ai-service 'lung-volume@1.0=http://127.0.0.1:8090/jobs;modality=CT')
#   import|verify|...     any other minivna subcommand, run as is
#   anything else         run as a command (e.g. `bash` to look around)
#
# Environment:
#   PORT                  port to listen on (default 8080); the healthcheck reads it too
#   MINIVNA_DATA          data folder (default /data, the image's volume)
#   MINIVNA_API_KEYS      "name:role:token,..." (roles reader, writer, reviewer, admin); when unset,
#                         an admin and a reader token are generated once, kept in the data folder
#                         and printed at every start (the demo prints its credentials)
#   MINIVNA_DEMO_DATA=0   do not import the demo data on first start
#   MINIVNA_INSECURE_NO_AUTH=1  pass --insecure-no-auth to serve (no credentials at all)
set -euo pipefail

MINIVNA=/opt/minivna/bin/minivna
DEMO=/opt/minivna/demo
DATA="${MINIVNA_DATA:-/data}"
PORT="${PORT:-8080}"
# A dot file: the archive only reads its own index.sqlite, journal, lock, files/ and tmp/.
CREDENTIALS="$DATA/.demo-credentials"
IMPORTED="$DATA/.demo-imported"

log() { printf 'entrypoint: %s\n' "$*"; }

# A crash report (Swift backtrace) instead of a bare "Illegal instruction", when the image has the tool.
if [ -x /opt/minivna/bin/swift-backtrace-static ] && [ -z "${SWIFT_BACKTRACE:-}" ]; then
    export SWIFT_BACKTRACE="enable=yes,sanitize=yes,threads=all,images=none,interactive=no,swift-backtrace=/opt/minivna/bin/swift-backtrace-static"
fi

# The binary's own list of subcommands (from its --help), so a new one needs no change here.
subcommands() { "$MINIVNA" --help | awk '/^SUBCOMMANDS:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'; }
case "${1:-}" in
    ""|-*) ;;                                       # serve, below
    serve) shift ;;                                 # `serve --flag`: the same as `--flag`
    help|--help|--version) exec "$MINIVNA" "$@" ;;
    *)
        known="$(subcommands)"                      # whole, then searched: no early-closed pipe
        if grep -qx -- "$1" <<< "$known"; then exec "$MINIVNA" "$@"; fi
        exec "$@" ;;
esac

if ! mkdir -p "$DATA" 2>/dev/null || [ ! -w "$DATA" ]; then
    log "the data folder $DATA is not writable by $(id -un) (uid $(id -u)): use a named volume, or chown the bind-mounted folder to uid $(id -u)" >&2
    exit 1
fi

# Demo data, once: a fresh data folder (no index yet) gets the same fixtures as `make run`.
# The marker keeps a deliberately emptied archive empty across restarts.
if [ "${MINIVNA_DEMO_DATA:-1}" != "0" ] && [ ! -e "$IMPORTED" ] && [ ! -e "$DATA/index.sqlite" ]; then
    log "first start: importing the demo data into $DATA"
    "$MINIVNA" demo-data --data "$DATA"
    "$MINIVNA" import --quiet --data "$DATA" "$DEMO/ct" "$DEMO/mr" "$DEMO/multiframe" "$DEMO/jpeg2000" "$DEMO/charsets"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$IMPORTED"
fi

# Credentials. The server refuses a non-loopback listener without them; the demo makes its own
# (kept in the volume, so a restart keeps the tokens that clients were given) and prints them.
random_token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
if [ -z "${MINIVNA_API_KEYS:-}" ] && [ "${MINIVNA_INSECURE_NO_AUTH:-0}" != "1" ]; then
    if [ ! -s "$CREDENTIALS" ]; then
        (umask 077; printf 'demo-admin:admin:%s,demo-reader:reader:%s\n' "$(random_token)" "$(random_token)" > "$CREDENTIALS")
    fi
    MINIVNA_API_KEYS="$(cat "$CREDENTIALS")"
    export MINIVNA_API_KEYS
    echo "MiniVNA demo credentials (generated; set MINIVNA_API_KEYS=name:role:token,... to choose your own):"
    IFS=',' read -r -a keys <<< "$MINIVNA_API_KEYS"
    for key in "${keys[@]}"; do
        IFS=':' read -r name role token <<< "$key"
        printf '  %-12s role %-8s Authorization: Bearer %s\n' "$name" "$role" "$token"
    done
    admin_token="$(printf '%s' "$MINIVNA_API_KEYS" | tr ',' '\n' | awk -F: '$2 == "admin" { print $3; exit }')"
    echo "  try: curl -H 'Authorization: Bearer $admin_token' http://127.0.0.1:$PORT/dicom-web/studies"
elif [ -n "${MINIVNA_API_KEYS:-}" ]; then
    # Given by the operator (compose): names and roles only, a secret passed in stays out of the log.
    echo "MiniVNA credentials from MINIVNA_API_KEYS: $(printf '%s' "$MINIVNA_API_KEYS" | tr ',' '\n' | awk -F: '{ printf "%s%s (%s)", sep, $1, $2; sep = ", " }')"
fi

args=(serve --host 0.0.0.0 --port "$PORT" --data "$DATA")
[ "${MINIVNA_INSECURE_NO_AUTH:-0}" = "1" ] && args+=(--insecure-no-auth)
log "exec minivna ${args[*]} $*"
exec "$MINIVNA" "${args[@]}" "$@"
