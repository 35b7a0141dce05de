#!/usr/bin/env bash
# Demo credentials for `make run`: an admin key and a reader key, made once per data folder and
# kept beside it in DATA.tokens (so a restart keeps them), printed at every start, and exported
# as MINIVNA_API_KEYS by the caller. Usage: eval "$(bash scripts/demo-credentials.sh DATA)"
set -euo pipefail
data="${1:?usage: demo-credentials.sh DATA}"
file="${data%/}.tokens"
if [ ! -s "$file" ]; then
    umask 077
    admin="demo-admin-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    reader="demo-reader-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf 'ADMIN_TOKEN=%s\nREADER_TOKEN=%s\n' "$admin" "$reader" > "$file"
fi
# shellcheck disable=SC1090
. "$file"
{
    echo "MiniVNA demo credentials (kept in $file):"
    echo "  admin  (every route):   Authorization: Bearer $ADMIN_TOKEN"
    echo "  reader (search, read):  Authorization: Bearer $READER_TOKEN"
    echo "  e.g. curl -H 'Authorization: Bearer $READER_TOKEN' http://127.0.0.1:8080/dicom-web/studies"
} >&2
echo "export MINIVNA_API_KEYS='demo-admin:admin:$ADMIN_TOKEN,demo-reader:reader:$READER_TOKEN'"
