#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier in order:
# unit, bpf, e2e (ctest labels). The bpf and e2e tiers need root; without it
# they skip with the reason.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

packaging/install-deps.sh
build=${STAMP_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
  grep -E 'error|Error' -A5 "$build/build.log" | head -100
  echo "test.sh: build failed (full log: $build/build.log)"
  exit 1
fi
grep -E 'warning:' "$build/build.log" | sort -u | head -20 || true

status=0
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for tier in unit bpf e2e system; do
  echo "== ctest tier: $tier"
  (cd "$build" && ctest -L "^${tier}\$" --output-on-failure --timeout 300) | tee "$log" || status=1
  # "100% tests passed, 0 tests failed out of 12"
  if line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log"); then
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    s=$(grep -cE '\*\*\*Skipped|Not Run' "$log" || true)
    failed=$((failed + f)) skipped=$((skipped + s)) passed=$((passed + t - f - s))
  fi
done
echo
echo "test.sh: $passed passed, $failed failed, $skipped skipped"
exit $status
