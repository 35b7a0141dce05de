#!/bin/bash
# collect-runtime.sh BINARY OUTDIR
#
# Lays out what the runtime image copies to /opt/minivna:
#   OUTDIR/bin/minivna                  the binary
#   OUTDIR/lib/*.so*                    the Swift runtime libraries it links dynamically
#                                       (none for a --static-swift-stdlib build)
#   OUTDIR/bin/swift-backtrace-static   Swift's crash backtracer, when the toolchain has one
#
# Used by the Dockerfile's build stage (official swift image: libraries in /usr/lib/swift/linux)
# and by Tests/container/run.sh for a binary built on the host (libraries in
# /opt/swift/usr/lib/swift/linux). A library counts as "Swift's" when it resolves outside the
# system library folders: those come from Debian packages, which the runtime image installs.
# Fails when ldd cannot resolve a library, so a broken binary stops the build, not the container.
set -euo pipefail

binary="${1:?usage: collect-runtime.sh BINARY OUTDIR}"
out="${2:?usage: collect-runtime.sh BINARY OUTDIR}"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
cp "$binary" "$out/bin/minivna"
chmod 0755 "$out/bin/minivna"

deps="$(ldd "$binary")"
if grep -q "not found" <<< "$deps"; then
    echo "collect-runtime: $binary has unresolved libraries:" >&2
    grep "not found" <<< "$deps" >&2
    exit 1
fi

swift_libs=0
system_libs=()
# Lines look like "libswiftCore.so => /opt/swift/usr/lib/swift/linux/libswiftCore.so (0x...)".
while read -r name arrow path _; do
    [ "$arrow" = "=>" ] && [ -f "$path" ] || continue
    case "$path" in
        /lib/*|/lib64/*|/usr/lib/x86_64-linux-gnu/*|/usr/lib/aarch64-linux-gnu/*|/usr/lib/lib*)
            system_libs+=("$name") ;;
        *)
            cp -L "$path" "$out/lib/$name"
            swift_libs=$((swift_libs + 1)) ;;
    esac
done <<< "$deps"

# The backtracer sits in the toolchain's libexec, beside lib/ (…/usr/lib/swift/linux → …/usr/libexec/swift/linux).
for candidate in \
    "$(dirname "$(readlink -f "$(command -v swift 2>/dev/null || echo /usr/bin/swift)")")/../libexec/swift/linux/swift-backtrace-static" \
    /usr/libexec/swift/linux/swift-backtrace-static /opt/swift/usr/libexec/swift/linux/swift-backtrace-static; do
    if [ -x "$candidate" ]; then
        cp "$candidate" "$out/bin/swift-backtrace-static"
        break
    fi
done

echo "collect-runtime: $(basename "$binary") $(du -h "$binary" | cut -f1), $swift_libs Swift libraries copied;" \
     "system libraries (from the runtime image's packages): ${system_libs[*]:-none}"
