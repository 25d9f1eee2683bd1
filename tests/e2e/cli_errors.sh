#!/usr/bin/env bash
# cli_errors: how stampd and stampctl fail. No privileges needed: every case
# ends before anything is loaded or attached, and before bpffs is mounted or
# anything is created under it (on a freshly booted machine /sys/fs/bpf may
# not be mounted yet: a failing start must still print its one error line).
#
#   cli_errors.sh STAMPD STAMPCTL DEFAULT_CONFIG
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 STAMPD STAMPCTL DEFAULT_CONFIG" >&2; exit 2; }
STAMPD=$1 STAMPCTL=$2 DEFAULT_CONFIG=$3
work=$(mktemp -d /tmp/stpcli.XXXXXX)
bpffs=/sys/fs/bpf/stpcli$$ # never created: checked after each failed start
trap 'rm -rf "$work"; rmdir "$bpffs/v1" "$bpffs" 2>/dev/null || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect RC PATTERN CMD...: exit status RC and exactly one stderr line
# matching PATTERN (grep -E).
expect() {
  local want=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [[ $rc == "$want" ]] || { cat "$work/err"; fail "'$*' exited $rc, expected $want"; }
  if [[ -n $pattern ]]; then
    [[ $(wc -l <"$work/err") == 1 ]] || { cat "$work/err"; fail "'$*': expected one line on stderr"; }
    grep -Eq "$pattern" "$work/err" || { cat "$work/err"; fail "'$*': stderr does not match $pattern"; }
  fi
  echo "ok: $* -> $rc"
}

expect 0 "" "$STAMPD" --version
grep -q '^stampd ' "$work/out" || fail "--version prints no version"
expect 0 "" "$STAMPD" --check-config "$DEFAULT_CONFIG"

printf '[daemon]\ninterfaces = ["lo"]\n[reflector]\nports = [862, 70000]\n' >"$work/port.toml"
expect 1 "port.toml:4:15: 'reflector.ports': port must be an integer 1..65535" \
  "$STAMPD" --check-config "$work/port.toml"
expect 1 "port.toml:4:15: " "$STAMPD" --config "$work/port.toml"

# Authenticated mode: a key the configuration names must be in a key file
# only its owner can read. Refused before any BPF or socket is touched, so
# this holds without root too; no secret ever appears in a message.
printf '[daemon]\nsocket = "%s/a.sock"\nbpffs = "%s"\n[[session]]\nname = "x"\ntarget = "192.0.2.1"\nauth_key = "k"\n' \
  "$work" "$bpffs" >"$work/auth.toml"
expect 1 "^stampd: .*auth.toml: session 'x' auth_key 'k' needs \[daemon\] key_file, which is not set" \
  "$STAMPD" --config "$work/auth.toml"
[[ -e $bpffs ]] && fail "a refused session left $bpffs behind"
secret=00112233445566778899aabbccddeeff
printf '[keys]\nk = "%s"\n' "$secret" >"$work/keys.toml"
chmod 644 "$work/keys.toml"
printf '[daemon]\nsocket = "%s/a.sock"\nbpffs = "%s"\nkey_file = "%s/keys.toml"\n[[session]]\nname = "x"\ntarget = "192.0.2.1"\nauth_key = "k"\n' \
  "$work" "$bpffs" "$work" >"$work/auth2.toml"
expect 1 "keys.toml is open to other users \(mode 0644\); refusing it: chmod 600" \
  "$STAMPD" --check-config "$work/auth2.toml"
expect 1 "keys.toml is open to other users" "$STAMPD" --config "$work/auth2.toml"
chmod 600 "$work/keys.toml"
expect 0 "" "$STAMPD" --check-config "$work/auth2.toml"
grep -q "configuration OK" "$work/out" || fail "a good key file was not accepted"
sed -i 's/auth_key = "k"/auth_key = "k9"/' "$work/auth2.toml"
expect 1 "session 'x' auth_key 'k9' is not a key of .*keys.toml" "$STAMPD" --check-config "$work/auth2.toml"
sed -i 's/auth_key = "k9"/auth_key = "k"/' "$work/auth2.toml"

# Only a regular file is a key file. A FIFO with no writer would block a
# plain open() forever (in --check-config, and in the event loop at a
# reload): it must fail at once with the reason, like a directory, a device
# or a symbolic link (never followed).
# keyfile_refused KIND PATTERN: key_file = $work/kf is KIND, refused fast.
keyfile_refused() {
  local kind=$1 pattern=$2 start end
  sed "s|$work/keys.toml|$work/kf|" "$work/auth2.toml" >"$work/auth-kf.toml"
  start=$(date +%s%N)
  expect 1 "$pattern" timeout 10 "$STAMPD" --check-config "$work/auth-kf.toml"
  end=$(date +%s%N)
  (((end - start) / 1000000 < 5000)) ||
    fail "a key file that is $kind took $(((end - start) / 1000000)) ms to refuse"
  rm -rf "$work/kf"
}
mkfifo -m 600 "$work/kf"
keyfile_refused FIFO "^key file $work/kf is a FIFO, not a regular file; refusing it$"
mkdir -m 700 "$work/kf"
keyfile_refused directory "^key file $work/kf is a directory, not a regular file"
ln -s /dev/null "$work/kf"
keyfile_refused "link to a device" "^key file $work/kf is a symbolic link, not a regular file"
ln -s "$work/keys.toml" "$work/kf"
keyfile_refused "link to the good file" "^key file $work/kf is a symbolic link, not a regular file"
sed -i "s|$work/kf|/dev/null|" "$work/auth-kf.toml"
expect 1 "key file /dev/null is a character device, not a regular file" \
  timeout 10 "$STAMPD" --check-config "$work/auth-kf.toml"

# key_file = "credential:NAME": $CREDENTIALS_DIRECTORY/NAME, as systemd's
# LoadCredential= provides it (docs/service.md, Keys).
mkdir -m 700 "$work/creds"
cp -p "$work/keys.toml" "$work/creds/keys"
sed "s|\"$work/keys.toml\"|\"credential:keys\"|" "$work/auth2.toml" >"$work/auth-cred.toml"
grep -q 'key_file = "credential:keys"' "$work/auth-cred.toml" || fail "no credential in the test file"
expect 0 "" env CREDENTIALS_DIRECTORY="$work/creds" "$STAMPD" --check-config "$work/auth-cred.toml"
expect 1 "key_file \"credential:keys\": no CREDENTIALS_DIRECTORY \(not started by systemd with LoadCredential=keys:\.\.\.\)$" \
  env -u CREDENTIALS_DIRECTORY "$STAMPD" --check-config "$work/auth-cred.toml"
sed 's/credential:keys/credential:nokeys/' "$work/auth-cred.toml" >"$work/auth-nocred.toml"
expect 1 "cannot open key file $work/creds/nokeys" \
  env CREDENTIALS_DIRECTORY="$work/creds" "$STAMPD" --check-config "$work/auth-nocred.toml"
sed -i 's/auth_key = "k"/auth_key = "k9"/' "$work/auth2.toml"
printf '[keys]\nk = "%s"\nshort = "0011"\nodd = "abc"\n' "$secret" >"$work/keys.toml"
sed -i 's/auth_key = "k9"/auth_key = "k"/' "$work/auth2.toml"
rc=0
out=$("$STAMPD" --check-config "$work/auth2.toml" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "a bad key file was accepted: $out"
grep -q "keys.toml:3:9: key 'short' has 2 octets; 16 to 64 are accepted" <<<"$out" ||
  fail "short key not reported: $out"
grep -q "keys.toml:4:7: key 'odd' is not an even number of hex digits" <<<"$out" ||
  fail "odd key not reported: $out"
grep -q "$secret\|0011\|abc" <<<"$out" && fail "a secret leaked into an error: $out"

printf '[daemon]\ninterfaces = ["stpnope0"]\nsocket = "%s/s.sock"\nbpffs = "%s"\n' "$work" "$bpffs" \
  >"$work/noif.toml"
expect 1 "^stampd: interface 'stpnope0' not found$" "$STAMPD" --config "$work/noif.toml"
[[ -e $work/s.sock ]] && fail "a failed start left its control socket behind"
[[ -e $bpffs ]] && fail "a start refused for its interface created $bpffs"

# A teardown where nothing was ever pinned mounts and creates nothing.
expect 0 "" "$STAMPD" --teardown --config "$work/noif.toml"
grep -q "teardown of $bpffs done (0 removed)" "$work/out" || fail "teardown: $(cat "$work/out")"
[[ -e $bpffs ]] && fail "a teardown of nothing created $bpffs"

expect 1 "cannot read the configuration file" "$STAMPD" --config "$work/missing.toml"
expect 3 "^stampctl: stampd is not running" "$STAMPCTL" --socket "$work/none.sock" status
expect 2 "" "$STAMPCTL" --socket "$work/none.sock" bogus
expect 2 "" "$STAMPCTL" session start --target 192.0.2.1 --interval 10

# Numbers out of range are refused by stampctl before it connects (exit 2,
# one line naming the flag), never wrapped: 70000 is not port 4464.
nosock=(--socket "$work/none.sock")
expect 2 "^stampctl: --port must be an integer 1\.\.65535, not '70000'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --port 70000
expect 2 "^stampctl: --port must be an integer 1\.\.65535, not '0'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --port 0
expect 2 "^stampctl: --count must be an integer 0\.\.9223372036854775807, not '-1'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --count -1
expect 2 "^stampctl: --count must be an integer" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --count 18446744073709551615
expect 2 "^stampctl: --size must be an integer 44\.\.8952, not '4294967340'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --size 4294967340
expect 2 "^stampctl: --size must be an integer 44\.\.8952, not '8953'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --size 8953
expect 2 "^stampctl: --dscp must be an integer 0\.\.63, not '64'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --dscp 64
expect 2 "^stampctl: --ecn must be an integer 0\.\.3, not '0x1'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --ecn 0x1
expect 2 "^stampctl: --interval '99999999999h' is too long" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --interval 99999999999h
expect 2 "^stampctl: --interval must be at least 1us, not '999ns'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --interval 999ns
expect 2 "^stampctl: --timeout must be at least 1ns, not '0s'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --timeout 0s
expect 2 "^stampctl: --tlv-padding must be an integer 0\.\.8952, not '-1'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --tlv-padding -1
expect 2 "^stampctl: --tlv-access-report RETURN_CODE must be an integer 0\.\.255, not '256'$" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --tlv-access-report 1,256
expect 2 "^stampctl: --count is for ad-hoc sessions" \
  "$STAMPCTL" "${nosock[@]}" session start edge-1 --count 5
expect 2 "^stampctl: --limit must be an integer 1\.\.10000, not '0'$" \
  "$STAMPCTL" "${nosock[@]}" results --limit 0
expect 2 "^stampctl: --since '99999999999d' is too long" \
  "$STAMPCTL" "${nosock[@]}" results --since 99999999999d
expect 2 "^stampctl: --every must be seconds 0\.1\.\.3600, not 'nan'$" \
  "$STAMPCTL" "${nosock[@]}" session show x --every nan
# In range, stampctl goes on to connect (and finds no daemon).
expect 3 "^stampctl: stampd is not running" \
  "$STAMPCTL" "${nosock[@]}" session start --target 192.0.2.1 --port 65535 --count 0 --size 8952

# The configuration: integers out of range at their line, and TOML too
# deep or too large refused before the parser (a 100000-part dotted key
# used to crash it).
printf '[[session]]\nname = "a"\ntarget = "192.0.2.1"\nsize = 4294967340\n' >"$work/size.toml"
expect 1 "size.toml:4:8: 'session.size' = 4294967340 is out of range 44\.\.8952" \
  "$STAMPD" --check-config "$work/size.toml"
{ printf 'a'; for ((k = 0; k < 100000; k++)); do printf '.a'; done; printf ' = 1\n'; } >"$work/deep.toml"
expect 1 "deep.toml:1:64: nested deeper than 32 levels" "$STAMPD" --check-config "$work/deep.toml"
expect 1 "deep.toml:1:64: nested deeper than 32 levels" "$STAMPD" --config "$work/deep.toml"
head -c 4300000 /dev/zero | tr '\0' '#' >"$work/big.toml"
expect 1 "big.toml:1:4194305: the file is larger than 4194304 bytes" \
  "$STAMPD" --check-config "$work/big.toml"
echo "PASS: cli_errors"
