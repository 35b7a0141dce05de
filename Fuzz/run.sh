#!/usr/bin/env bash
# Fuzzes the DICOM Part 10 reader (and the JSON/XML encoders and writer fed by it) with libFuzzer.
#
#   Fuzz/run.sh [SECONDS]          default 60
#
# 1. Builds .build-fuzz/fuzz-part10 from Sources/DICOM/**/*.swift + Fuzz/FuzzPart10Reader.swift,
#    compiled together as ONE module (-module-name DICOM, so the harness can also reach the
#    reader's internal file-backed parse) with -sanitize=fuzzer,address. The build is skipped when
#    neither the sources nor the flags changed (stamp: .build-fuzz/fuzz-part10.stamp).
# 2. Replays every committed regression input in Fuzz/crashes/ (each must no longer crash).
# 3. Seeds .build-fuzz/corpus (kept between runs) from Fixtures/**/*.dcm and a few small pydicom
#    test files, then fuzzes for SECONDS with Fuzz/dicom.dict.
# Exits non-zero when a regression input or libFuzzer finds a crash, timeout (hang), leak or OOM;
# the input is written to Fuzz/crashes/part10-{crash,timeout,leak,oom}-<sha1>: rename it to say
# what it triggers and commit it as a regression input (names containing "strict" are replayed
# with FUZZ_STRICT=1).
#
# Environment:
#   SWIFTC=/path/to/swiftc          default: swiftc on PATH, else /opt/swift/usr/bin/swiftc
#   FUZZ_REV=<git rev>              build Sources/DICOM as of that commit (git archive) instead of
#                                   the work tree (useful while the work tree does not compile)
#   FUZZ_STRICT=1                   also abort on semantic failures: a written file that does not
#                                   read back, write(read(written)) != written, or a deferred value
#                                   the reader left outside the input
#   FUZZ_SKIP_REGRESSIONS=1         do not replay Fuzz/crashes/ first
#   FUZZ_ARGS="..."                 extra libFuzzer flags (e.g. -seed=1 -use_value_profile=1)
set -uo pipefail

SECONDS_TO_RUN="${1:-60}"
if ! [[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || [ "$SECONDS_TO_RUN" -lt 1 ]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.build-fuzz"
BIN="$OUT/fuzz-part10"
CORPUS="$OUT/corpus"
CRASHES="$ROOT/Fuzz/crashes"
HARNESS="$ROOT/Fuzz/FuzzPart10Reader.swift"
DICT="$ROOT/Fuzz/dicom.dict"
LOG="$OUT/fuzz.log"
mkdir -p "$OUT" "$CORPUS" "$CRASHES"

SWIFTC="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
SWIFT_BIN="$(dirname "$(readlink -f "$SWIFTC")")"

# ---------------------------------------------------------------- build
if [ -n "${FUZZ_REV:-}" ]; then
    SRC="$OUT/src-rev/Sources/DICOM"
    rm -rf "$OUT/src-rev" && mkdir -p "$OUT/src-rev"
    git -C "$ROOT" archive "$FUZZ_REV" Sources/DICOM | tar -x -C "$OUT/src-rev" || { echo "cannot export $FUZZ_REV" >&2; exit 2; }
else
    # A snapshot, so edits made during the ~1 min build cannot fail it ("modified during the build").
    SRC="$OUT/src-tree/Sources/DICOM"
    rm -rf "$OUT/src-tree" && mkdir -p "$SRC" && cp -R "$ROOT/Sources/DICOM/." "$SRC/"
fi
mapfile -t SOURCES < <(find "$SRC" -name '*.swift' | LC_ALL=C sort)
[ "${#SOURCES[@]}" -gt 0 ] || { echo "no Swift sources under $SRC" >&2; exit 2; }

# -O                    fuzz the optimized code that ships (and run ~several times faster than -Onone)
# -gline-tables-only    file:line in sanitizer stack traces, without full debug info's compile cost
# -parse-as-library     the harness has no top-level code; libFuzzer supplies main()
# -sanitize=fuzzer,address   libFuzzer + coverage (edges, cmp tracing) + ASan/LSan
# -module-name DICOM    harness compiled in the same module (no `import`, internal API reachable)
# -use-ld=lld           the toolchain's lld: gold prints hundreds of ASan "cannot export" warnings
FLAGS=(-O -gline-tables-only -parse-as-library -sanitize=fuzzer,address -module-name DICOM)
if [ -x "$SWIFT_BIN/ld.lld" ] || command -v ld.lld >/dev/null; then FLAGS+=(-use-ld=lld); fi
# Stack traces name the real files (Sources/DICOM/...), not the build snapshot.
FLAGS+=(-file-prefix-map "${SRC%/Sources/DICOM}=$ROOT")

STAMP_NOW="$( { echo "${FLAGS[*]}"; "$SWIFTC" --version 2>&1; cat "${SOURCES[@]}" "$HARNESS"; } | sha256sum | cut -d' ' -f1)"
if [ -x "$BIN" ] && [ "$(cat "$BIN.stamp" 2>/dev/null)" = "$STAMP_NOW" ]; then
    echo "== build: up to date ($BIN)"
else
    echo "== build: ${#SOURCES[@]} DICOM sources + harness, ${FLAGS[*]}"
    rm -f "$BIN.stamp"
    START=$(date +%s%N)
    if ! "$SWIFTC" "${FLAGS[@]}" "${SOURCES[@]}" "$HARNESS" -o "$BIN.tmp" 2>"$OUT/build.log"; then
        grep -E 'error:' "$OUT/build.log" | head -40 >&2
        echo "== build FAILED (full log: $OUT/build.log)" >&2
        exit 2
    fi
    mv "$BIN.tmp" "$BIN"
    echo "$STAMP_NOW" > "$BIN.stamp"
    ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
    printf '== build: %d.%01d s\n' $((ELAPSED_MS / 1000)) $((ELAPSED_MS % 1000 / 100))
fi

# Readable stack traces (function, file:line) for crashes found by ASan or Swift runtime traps.
SYMBOLIZER="$SWIFT_BIN/llvm-symbolizer"
[ -x "$SYMBOLIZER" ] || SYMBOLIZER="$(command -v llvm-symbolizer || true)"
export ASAN_SYMBOLIZER_PATH="$SYMBOLIZER"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}"
# Swift 6's own crash backtracer would catch the signal first (and trip ASan in its memory server):
# leave traps (Swift runtime errors are SIGILL/SIGTRAP) to libFuzzer's deadly-signal handler.
export SWIFT_BACKTRACE=enable=no

# ---------------------------------------------------------------- regressions
if [ "${FUZZ_SKIP_REGRESSIONS:-0}" != "1" ]; then
    mapfile -t REGRESSIONS < <(find "$CRASHES" -type f ! -name '*.md' ! -name '.*' | LC_ALL=C sort)
    if [ "${#REGRESSIONS[@]}" -gt 0 ]; then
        echo "== regressions: replaying ${#REGRESSIONS[@]} input(s) from Fuzz/crashes/"
        FAILED=0
        for input in "${REGRESSIONS[@]}"; do
            STRICT=0; case "$(basename "$input")" in *strict*) STRICT=1 ;; esac  # semantic-check finds
            if FUZZ_STRICT="$STRICT" "$BIN" -timeout=10 -rss_limit_mb=2048 -runs=1 "$input" >"$OUT/regression.log" 2>&1; then
                echo "   ok      ${input#"$ROOT"/}"
            else
                echo "   FAILED  ${input#"$ROOT"/}"
                grep -E 'ERROR: |SUMMARY: |#[0-9]+ 0x[0-9a-f]+ in .*(DICOM|Sources|Fuzz/)' "$OUT/regression.log" \
                    | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in /      at /' | awk '!seen[$0]++' | head -10 | sed 's/^/      /'
                FAILED=1
            fi
        done
        if [ "$FAILED" -ne 0 ]; then
            echo "== regression inputs still crash (FUZZ_SKIP_REGRESSIONS=1 to fuzz anyway)" >&2
            exit 1
        fi
    fi
fi

# ---------------------------------------------------------------- seed corpus
seed() { # copy small files into the corpus under a content-hash name (idempotent)
    for f in "$@"; do
        [ -f "$f" ] || continue
        [ "$(stat -c %s "$f")" -le 65536 ] || continue
        cp -n "$f" "$CORPUS/seed-$(sha1sum "$f" | cut -c1-16)" 2>/dev/null || true
    done
}
mapfile -t FIXTURES < <(find "$ROOT/Fixtures/" -name '*.dcm' 2>/dev/null | LC_ALL=C sort)
seed "${FIXTURES[@]}"
NSEEDS="${#FIXTURES[@]} fixtures"
PYDICOM="$(python3 -c 'import pydicom, os; print(os.path.dirname(pydicom.__file__))' 2>/dev/null || true)"
if [ -n "$PYDICOM" ] && [ -d "$PYDICOM/data/test_files" ]; then
    T="$PYDICOM/data/test_files"
    PICKS=(ExplVR_BigEndNoMeta.dcm ExplVR_LitEndNoMeta.dcm UN_sequence.dcm badVR.dcm empty_charset_LEI.dcm
           image_dfl.dcm meta_missing_tsyntax.dcm nested_priv_SQ.dcm no_meta_group_length.dcm priv_SQ.dcm
           reportsi.dcm reportsi_with_empty_number_tags.dcm rtplan.dcm rtplan_truncated.dcm rtstruct.dcm
           test-SR.dcm JPEG2000-embedded-sequence-delimiter.dcm SC_rgb_small_odd_big_endian.dcm MR_small_RLE.dcm)
    PY=("${PICKS[@]/#/$T/}")
    PY+=("$PYDICOM"/data/charset_files/chr{H31,H32,I2,JapMulti,KoreanMulti,X1,X2,SQEncoding,Arab,Russ}.dcm)
    seed "${PY[@]}"
    NSEEDS="$NSEEDS + ${#PY[@]} pydicom files"
else
    echo "== pydicom not installed: seeding from Fixtures only"
fi
echo "== corpus: $CORPUS ($(find "$CORPUS" -type f | wc -l) inputs; seeded from $NSEEDS)"

# ---------------------------------------------------------------- fuzz
# -max_len=65536      headers and small datasets; keeps per-input work bounded
# -timeout=10         an input taking >10 s is a hang (typical inputs take well under 1 ms)
# -rss_limit_mb=2048  (also the malloc limit) catches allocation bombs from hostile lengths
# -detect_leaks=1     LeakSanitizer after inputs whose mallocs and frees do not balance
PREFIX="part10-"; [ "${FUZZ_STRICT:-0}" = "1" ] && PREFIX="part10-strict-"
touch "$OUT/.fuzz-start"
echo "== fuzzing for ${SECONDS_TO_RUN}s (log: $LOG)"
# shellcheck disable=SC2086
"$BIN" "$CORPUS" \
    -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
    -dict="$DICT" -artifact_prefix="$CRASHES/$PREFIX" -print_final_stats=1 \
    ${FUZZ_ARGS:-} >"$LOG" 2>&1
STATUS=$?

# Everything but the per-input progress lines and the recommended dictionary.
sed -n '/Recommended dictionary/,/End of recommended dictionary/!p' "$LOG" \
    | grep -vE '^(#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)|[[:space:]]+NEW_FUNC)' | grep -vE '^INFO: (Loaded|-max_len|A corpus|seed corpus)'
LAST="$(grep -E '^#[0-9]+' "$LOG" | tail -1)"
[ -n "$LAST" ] && echo "== last status: $LAST"

NEW_ARTIFACTS="$(find "$CRASHES" -type f -newer "$OUT/.fuzz-start" 2>/dev/null | LC_ALL=C sort)"
if [ "$STATUS" -ne 0 ] || [ -n "$NEW_ARTIFACTS" ]; then
    echo "== FAILED: libFuzzer exit status $STATUS" >&2
    for a in $NEW_ARTIFACTS; do echo "   input: ${a#"$ROOT"/}  (replay: $BIN $a)" >&2; done
    exit 1
fi
echo "== OK: no crash, hang, leak or OOM in ${SECONDS_TO_RUN}s"
exit 0
