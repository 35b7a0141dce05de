#!/bin/bash
# HEALTHCHECK of the MiniVNA image: GET /health/ready on the container's own port must answer 200.
# Plain bash (/dev/tcp), so the runtime image needs no curl. Sends a Bearer token when one is
# known (from MINIVNA_API_KEYS or the demo credentials the entrypoint generated), in case the
# route is ever behind authentication; readiness probes are normally open.
set -uo pipefail

PORT="${PORT:-8080}"
PATH_TO_CHECK="${1:-/health/ready}"
CREDENTIALS="${MINIVNA_DATA:-/data}/.demo-credentials"

keys="${MINIVNA_API_KEYS:-}"
[ -z "$keys" ] && [ -r "$CREDENTIALS" ] && keys="$(cat "$CREDENTIALS")"
token="$(printf '%s' "$keys" | tr ',' '\n' | head -n 1 | cut -d: -f3)"

exec 3<>"/dev/tcp/127.0.0.1/$PORT" || { echo "unhealthy: nothing listens on port $PORT"; exit 1; }
{
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n' "$PATH_TO_CHECK" "$PORT"
    [ -n "$token" ] && printf 'Authorization: Bearer %s\r\n' "$token"
    printf '\r\n'
} >&3
# The status line is enough; `read -t` bounds a server that accepts but never answers.
read -r -t 5 _ status _ <&3 || { echo "unhealthy: no answer from port $PORT"; exit 1; }
exec 3>&-
if [ "$status" = "200" ]; then
    echo "healthy: $PATH_TO_CHECK answered 200"
    exit 0
fi
echo "unhealthy: $PATH_TO_CHECK answered ${status:-nothing}"
exit 1
