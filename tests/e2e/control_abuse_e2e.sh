#!/usr/bin/env bash
# control_abuse_e2e: the real stampd outlives the control lines and the
# configuration files that once ended it. Over its socket (a raw client, not
# stampctl, which refuses such values itself): wrong argument types, numbers
# that used to wrap (port 70000, count -1, size 2^32 + 44, 2^64 - 1),
# unknown keys; each gets bad_argument naming the key, nothing starts, and
# stampd answers status after each. Then a reload of a 100000-part dotted
# key and of a file over 4 MiB: bad_config at the spot, the running
# configuration kept.
#
# Usage: control_abuse_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" python3 "$@"

ns=stpabuse$$
e2e_netns "$ns"
cfg=$E2E_WORK/abuse.toml
cat >"$cfg" <<CFG
[daemon]
socket = "$E2E_WORK/abuse.sock"
bpffs = "/sys/fs/bpf/$ns"
state_dir = "$E2E_WORK/state"
interfaces = ["lo"]
[reflector]
ports = [862]
[[session]]
name = "edge-1"
target = "127.0.0.1"
count = 1
CFG
cp "$cfg" "$E2E_WORK/good.toml"

step "stampd in $ns"
e2e_stampd "$ns" "$cfg" "$E2E_WORK/abuse.log"
pid=$E2E_STAMPD_PID

step "bad arguments over the raw socket"
in_ns "$ns" python3 - "$E2E_WORK/abuse.sock" <<'PY'
import json, socket, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rwb")

def ask(line):
    f.write(line.encode() + b"\n")
    f.flush()
    answer = f.readline()
    if not answer:
        sys.exit("FAIL: stampd closed the connection after " + line)
    return json.loads(answer)

cases = [
    ('{"version":1,"id":1,"command":"session.show","args":{"name":1}}',
     '"name" must be a string, not an integer'),
    ('{"version":1,"id":2,"command":"results","args":{"detail":"yes"}}',
     '"detail" must be true or false, not a string'),
    ('{"version":1,"id":3,"command":"session.start","args":{"target":"127.0.0.1","port":70000}}',
     '"port" must be an integer 1..65535, not 70000'),
    ('{"version":1,"id":4,"command":"session.start","args":{"target":"127.0.0.1","count":-1}}',
     '"count" must be an integer 0..9223372036854775807, not -1'),
    ('{"version":1,"id":5,"command":"session.start","args":{"target":"127.0.0.1","size":4294967340}}',
     '"size" must be an integer 44..8952, not 4294967340'),
    ('{"version":1,"id":6,"command":"session.start","args":{"target":"127.0.0.1","interval_ns":18446744073709551615}}',
     '"interval_ns" must be an integer 1000..9223372036854775807, not 18446744073709551615'),
    ('{"version":1,"id":7,"command":"session.start","args":{"name":"edge-1","count":5}}',
     '"count" is for ad-hoc sessions'),
    ('{"version":1,"id":8,"command":"status","args":{"verbose":true}}',
     'unknown argument "verbose"'),
    ('{"version":1,"id":9,"command":"results","args":{"limit":1.5}}',
     '"limit" must be an integer 0..10000, not a float'),
]
for line, want in cases:
    a = ask(line)
    err = a.get("error", {})
    if a.get("ok") is not False or err.get("code") != "bad_argument" or want not in err.get("message", ""):
        sys.exit("FAIL: %s -> %s (wanted bad_argument with %r)" % (line, a, want))
    print("ok: bad_argument:", err["message"])
    st = ask('{"version":1,"id":100,"command":"status"}')
    if st.get("ok") is not True:
        sys.exit("FAIL: status after %s -> %s" % (line, st))
lst = ask('{"version":1,"id":101,"command":"session.list"}')
ran = [x for x in lst["result"]["sessions"] if x.get("state") != "idle"]
if ran:
    sys.exit("FAIL: a refused request started something: %s" % ran)
print("ok: nothing started, stampd answers")
PY
kill -0 "$pid" 2>/dev/null || fail "stampd is gone"

step "reload of a 100000-part dotted key, then of a file over 4 MiB"
{ printf 'a'; for ((k = 0; k < 100000; k++)); do printf '.a'; done; printf ' = 1\n'; } >"$cfg"
rc=0
out=$(in_ns "$ns" "$STAMPCTL" --socket "$E2E_WORK/abuse.sock" reload 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "reload of a deep key: exit $rc: $out"
grep -q "abuse.toml:1:64: nested deeper than 32 levels" <<<"$out" || fail "deep key: $out"
echo "ok: $out"
head -c 4300000 /dev/zero | tr '\0' '#' >"$cfg"
rc=0
out=$(in_ns "$ns" "$STAMPCTL" --socket "$E2E_WORK/abuse.sock" reload 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "reload of a large file: exit $rc: $out"
grep -q "abuse.toml:1:4194305: the file is larger than 4194304 bytes" <<<"$out" ||
  fail "large file: $out"
echo "ok: $out"
kill -0 "$pid" 2>/dev/null || fail "stampd is gone after the reloads"
cp "$E2E_WORK/good.toml" "$cfg"
in_ns "$ns" "$STAMPCTL" --socket "$E2E_WORK/abuse.sock" --json session list |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["sessions"]; assert [x["name"] for x in s] == ["edge-1"], s' ||
  fail "the running configuration was not kept"
echo "PASS: control_abuse_e2e"
