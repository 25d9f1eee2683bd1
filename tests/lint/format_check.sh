#!/usr/bin/env bash
# format_check SOURCE_DIR: clang-format --dry-run --Werror with the root
# .clang-format over the project's C++ files. bpf/ and *.bpf.c keep the
# kernel's style and are left out. Without clang-format it skips (exit 77).
set -euo pipefail
src=$(readlink -f "$1")
fmt=$(command -v clang-format || command -v clang-format-14 || true)
if [[ -z "$fmt" ]]; then
  echo "format_check skipped: clang-format not found (Debian: apt install clang-format)"
  exit 77
fi
cd "$src"
if git rev-parse HEAD >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
else
  mapfile -t files < <(find . -path './build*' -prune -o -type f \
                         \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) -print |
                       sed 's|^\./||' | sort)
fi
mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -vE '^bpf/|\.bpf\.(c|h)$' || true)
bad=()
for f in "${files[@]}"; do
  "$fmt" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [[ ${#bad[@]} -gt 0 ]]; then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "format_check: ${#bad[@]} of ${#files[@]} files differ from clang-format;" \
       "see the changes with: clang-format --style=file FILE | diff FILE -"
  exit 1
fi
echo "format_check: ${#files[@]} files formatted"
