#!/usr/bin/env bash
# A time-bounded libFuzzer run of every fuzz target, from the committed seed corpus. CI runs it
# through scripts/test; run it by hand with a longer time for a real campaign.
#
#   fuzz/run.sh [TARGET...]        (all targets when none is named)
#
# It installs cargo-fuzz when missing (the pinned version, from crates.io), builds the targets,
# copies fuzz/corpus/<target>/ to test-output/fuzz/<target>/corpus/ (so the run never writes
# into the repository) and runs each target on it. libFuzzer stops a target at the first
# panic, at an input that runs longer than 5 s, or when the process grows past 2 GiB, and
# writes that input to test-output/fuzz/<target>/artifacts/. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <artifact>
#
# Environment:
#   SCIMBOX_FUZZ_SECONDS    seconds per target (default 60)
#   SCIMBOX_FUZZ_SANITIZER  none (the default) or address. The crate forbids unsafe code, so
#                           AddressSanitizer only watches the dependencies; it costs CI a
#                           slower build and run, so use it for hand campaigns.
#
# Output: one line per target, `fuzz: <target>: ok, N runs in S s` or
# `fuzz: <target>: FAILED, N runs, <what> <input>`, then `fuzz: N passed, M failed`.
# Exit status: 0 when no target found anything, 1 when one did, 2 when the tools or the build
# failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(filter patch_path patch_op)
SECONDS_PER_TARGET=${SCIMBOX_FUZZ_SECONDS:-60}
SANITIZER=${SCIMBOX_FUZZ_SANITIZER:-none}
OUT=test-output/fuzz

[[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]] || {
    echo "SCIMBOX_FUZZ_SECONDS must be a positive whole number, not '$SECONDS_PER_TARGET'" >&2
    exit 2
}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    [[ -d fuzz/corpus/$t ]] || {
        echo "unknown fuzz target '$t' (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    }
done

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

# --- tools ---------------------------------------------------------------------------------
start=$EPOCHREALTIME
if [[ $(cargo fuzz --version 2>/dev/null || true) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked || {
        echo "fuzz: cannot install cargo-fuzz $CARGO_FUZZ_VERSION" >&2
        exit 2
    }
fi
install_time=$(elapsed "$start")

# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov); the stable compiler accepts
# them with RUSTC_BOOTSTRAP, and the machine has only the stable toolchain.
export RUSTC_BOOTSTRAP=1
# 16 codegen units: cargo-fuzz's default of one makes the build several minutes longer on
# two cores, for a few percent of speed at run time.
BUILD_FLAGS=(--sanitizer "$SANITIZER" --codegen-units 16)

# --- build ---------------------------------------------------------------------------------
start=$EPOCHREALTIME
if ! cargo fuzz build "${BUILD_FLAGS[@]}"; then
    echo "fuzz: the fuzz targets do not build" >&2
    exit 2
fi
build_time=$(elapsed "$start")
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=fuzz/target/$triple/release

# --- run -----------------------------------------------------------------------------------
# The targets run side by side: CI has two cores, and one minute of wall time for the three
# keeps the step short. Each still gets SCIMBOX_FUZZ_SECONDS of its own.
start=$EPOCHREALTIME
pids=()
for t in "${targets[@]}"; do
    dir=$OUT/$t
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp fuzz/corpus/"$t"/* "$dir/corpus/"
    args=(
        -rss_limit_mb=2048 -timeout=5 -max_total_time="$SECONDS_PER_TARGET"
        -artifact_prefix="$dir/artifacts/" -print_final_stats=1
    )
    case $t in
    filter | patch_path) args+=(-dict=fuzz/filter.dict) ;;
    patch_op) args+=(-dict=fuzz/patch_op.dict) ;;
    esac
    echo "--- fuzz $t for ${SECONDS_PER_TARGET}s (log: $dir/fuzz.log)"
    (
        rc=0
        "$bin_dir/$t" "${args[@]}" "$dir/corpus" >"$dir/fuzz.log" 2>&1 || rc=$?
        echo "$rc" >"$dir/rc"
    ) &
    pids+=($!)
done
wait "${pids[@]}"

passed=0 failed=0
report=()
for t in "${targets[@]}"; do
    dir=$OUT/$t
    rc=$(cat "$dir/rc")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
    runs=${runs:-0}
    found=$(find "$dir/artifacts" -type f | sort | head -n 1)
    if [[ $rc -eq 0 && -z $found ]]; then
        passed=$((passed + 1))
        report+=("fuzz: $t: ok, $runs runs in ${SECONDS_PER_TARGET} s")
    else
        failed=$((failed + 1))
        # Show why: the panic message or libFuzzer's own report.
        echo "--- $t found something:"
        grep -E -A 2 -m 12 "panicked|ERROR: libFuzzer|SUMMARY|Test unit written|timeout|out-of-memory" \
            "$dir/fuzz.log" || tail -n 20 "$dir/fuzz.log"
        if [[ -n $found ]]; then
            kind=$(basename "$found" | sed 's/-.*//')
            report+=("fuzz: $t: FAILED, $runs runs, $kind input $found")
        else
            report+=("fuzz: $t: FAILED, $runs runs, libFuzzer exited $rc without an input (see $dir/fuzz.log)")
        fi
    fi
done
run_time=$(elapsed "$start")

printf '%s\n' "${report[@]}"
echo "fuzz: times: install ${install_time} s, build ${build_time} s, run ${run_time} s"
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
