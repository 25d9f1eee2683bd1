#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier in order:
# unit, bpf, e2e, system, lint (ctest labels), then the unit tier again
# built with ASan and UBSan (that build runs in the background meanwhile).
# The bpf, e2e and system tiers need root; without it they skip with the
# reason.
#
# STAMP_BUILD_DIR (default build) is the build directory; the sanitizer
# build goes to the same name with -asan appended.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

packaging/install-deps.sh
build=${STAMP_BUILD_DIR:-build}
# -fno-var-tracking-assignments: GCC's tracking of variables' locations for
# the debugger takes a fifth of the compile time at -O2; the code is the same
# without it (debug options never change code generation), the line tables
# for backtraces too.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTAMP_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG -fno-var-tracking-assignments" >/dev/null
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
  grep -E 'error|Error' -A5 "$build/build.log" | head -100
  echo "test.sh: build failed (full log: $build/build.log)"
  exit 1
fi
# Compiler warnings, each once (the build goes on; -DSTAMP_WERROR=ON fails it).
warnings=$(grep -E 'warning:' "$build/build.log" | sort -u || true)
if [[ -n "$warnings" ]]; then
  echo "test.sh: $(wc -l <<<"$warnings") compiler warnings:"
  head -40 <<<"$warnings"
fi

asan=$build-asan
asan_pid=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
passed=0 failed=0 skipped=0
log=$(mktemp)
# An interrupted run takes the background build (its own session) with it.
trap 'rm -f "$log"; [[ -z "$asan_pid" ]] || kill -- -"$asan_pid" 2>/dev/null || true' EXIT
# tier, build directory, extra ctest arguments
run_tier() {
  local tier=$1 dir=$2
  shift 2
  echo "== ctest tier: $tier${*:+ ($dir: $*)}"
  (cd "$dir" && ctest -L "^${tier}\$" --output-on-failure --timeout 300 "$@") | tee "$log" || status=1
  # "100% tests passed, 0 tests failed out of 12"
  if line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log"); then
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    s=$(grep -cE '\*\*\*Skipped|Not Run' "$log" || true)
    failed=$((failed + f)) skipped=$((skipped + s)) passed=$((passed + t - f - s))
  else
    # No summary line: ctest found nothing to run, or died.
    status=1
  fi
}
# Its tests are short and independent, so they run in parallel.
run_tier unit "$build" -j"$(nproc)"
for tier in bpf e2e system; do
  run_tier "$tier" "$build"
done
# The unit tier again under AddressSanitizer and UndefinedBehaviorSanitizer:
# only its test programs (and stampd, stampctl for cli_errors); the fuzz
# targets are left out, they carry their own sanitizers in the normal build.
# It builds in the background, at the lowest CPU priority, while the lint
# tier runs; not earlier: beside the e2e tier the compiler made tshark miss
# packets of reflector_e2e's capture (seen once in three runs). Its tests
# run once it is done, after the lint tier.
mkdir -p "$asan"
# nice: the tiers' programs come first. setsid: a group of its own, so
# that an interrupted run can end the whole build (the trap below).
setsid -w bash -c '
  nice -n 19 cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Debug -DSTAMP_SANITIZE=address,undefined \
    -DSTAMP_FUZZ=OFF >/dev/null &&
  nice -n 19 cmake --build "$1" -j"$2" --target unit_tests stats_tests schedule_tests \
    delayline_unit_tests stampd stampctl' _ "$asan" "$(nproc)" >"$asan/build.log" 2>&1 &
asan_pid=$!
echo "test.sh: building the sanitizer tree $asan in the background (log: $asan/build.log)"
run_tier lint "$build"
echo "== waiting for the sanitizer build ($asan/build.log)"
asan_rc=0
wait "$asan_pid" || asan_rc=$?
asan_pid=
if ((asan_rc != 0)); then
  grep -E 'error|Error' -A5 "$asan/build.log" | head -100
  echo "test.sh: sanitizer build failed (full log: $asan/build.log)"
  exit 1
fi
run_tier unit "$asan" -E '^fuzz_' -j"$(nproc)"
echo
echo "test.sh: $passed passed, $failed failed, $skipped skipped"
exit $status
