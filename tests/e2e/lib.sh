# shellcheck shell=bash
# lib.sh: pieces shared by the e2e scripts and ./demo.sh: throwaway network
# namespaces joined by veth pairs, stampd started in one of them, and a
# cleanup that removes everything, also on failure or Ctrl-C.
#
# Commands run in a namespace through `nsenter --net=`, never `ip netns
# exec`, which would remount /sys (and so a private, empty bpffs).

E2E_NAMESPACES=()
E2E_PIDS=()
E2E_WORK=
E2E_LOGS=()
E2E_CONFIGS=() # of every stampd started, for the teardown of its pins

skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== [${SECONDS}s] $*"; }

# e2e_init "NAME... [NAME]" "TOOL..." ARG...: the start of every e2e script.
# The script's ARGs go into the variables NAME... in order (a bracketed NAME
# is optional and then empty; a usage line and exit 2 when the count is
# wrong), root and the TOOLs are checked (e2e_require_root), the cleanup is
# armed (e2e_begin).
e2e_init() {
  local -a names tools
  read -ra names <<<"$1"
  read -ra tools <<<"$2"
  shift 2
  local required=0 name
  for name in "${names[@]}"; do [[ $name == \[*\] ]] || required=$((required + 1)); done
  if [[ $# -lt $required || $# -gt ${#names[@]} ]]; then
    echo "usage: $0 ${names[*]}" >&2
    exit 2
  fi
  for name in "${names[@]}"; do
    name=${name#[}
    name=${name%]}
    printf -v "$name" '%s' "${1:-}"
    [[ $# -eq 0 ]] || shift
  done
  e2e_require_root "${tools[@]}"
  e2e_begin
}

e2e_require_root() {
  [[ $EUID -eq 0 ]] || skip "needs root (network namespaces, BPF)"
  ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
  local tool
  for tool in nsenter ethtool "$@"; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
}

in_ns() { # NS CMD...
  local ns=$1
  shift
  nsenter --net=/run/netns/"$ns" "$@"
}

e2e_cleanup() {
  local rc=$?
  set +e
  local pid
  for pid in "${E2E_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
  done
  local config
  for config in "${E2E_CONFIGS[@]}"; do "$STAMPD" --teardown --config "$config" >/dev/null 2>&1; done
  local ns
  for ns in "${E2E_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    local log
    for log in "${E2E_LOGS[@]}"; do
      [[ -s $log ]] && { echo "---- $log ----"; cat "$log"; }
    done
  fi
  [[ -n $E2E_WORK ]] && rm -rf "$E2E_WORK"
  exit "$rc"
}

# Sets E2E_WORK to a private directory and arms the cleanup.
e2e_begin() {
  E2E_WORK=$(mktemp -d /tmp/stpe2e.XXXXXX)
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

e2e_netns() { # NS...
  local ns
  for ns in "$@"; do
    ip netns add "$ns"
    E2E_NAMESPACES+=("$ns")
    in_ns "$ns" ip link set lo up
  done
}

# e2e_veth NS_A DEV_A ADDR4_A ADDR6_A NS_B DEV_B ADDR4_B ADDR6_B
# A veth pair between two namespaces, /24 and /64 prefixes, TX checksum
# offload off (veth would otherwise hand over partial checksums that the
# receiver trusts, hiding checksum bugs). An empty address is skipped.
e2e_veth() {
  ip link add "$2" netns "$1" type veth peer name "$6" netns "$5"
  local side ns dev a4 a6
  for side in a b; do
    if [[ $side == a ]]; then ns=$1 dev=$2 a4=$3 a6=$4; else ns=$5 dev=$6 a4=$7 a6=$8; fi
    [[ -n $a4 ]] && in_ns "$ns" ip addr add "$a4/24" dev "$dev"
    [[ -n $a6 ]] && in_ns "$ns" ip addr add "$a6/64" dev "$dev" nodad
    in_ns "$ns" ethtool -K "$dev" tx off >/dev/null
    in_ns "$ns" ip link set "$dev" up
  done
}

# Waits until DEV in NS is up and (with an IPv6 address) has joined its
# solicited-node group; before that the first Neighbour Solicitation to it
# goes unanswered for a second.
e2e_wait_link() { # NS DEV [IPV6_ADDR]
  local group=
  if [[ -n ${3:-} ]]; then
    local last=${3##*:}
    group=$(printf 'ff02::1:ff00:%x' "0x${last:-0}")
  fi
  for _ in $(seq 50); do
    if in_ns "$1" ip -o link show dev "$2" | grep -q 'state UP' &&
      { [[ -z $group ]] || in_ns "$1" ip -6 maddr show dev "$2" | grep -qw "$group"; }; then
      return 0
    fi
    sleep 0.1
  done
  fail "$2 in $1 did not come up within 5 s"
}

# e2e_two_hosts NS_A A4 A6 NS_B B4 B6: two namespaces joined by a veth pair
# whose ends are named after them, with both addresses, links up and IPv6
# ready (DAD done).
e2e_two_hosts() {
  local a=$1 a4=$2 a6=$3 b=$4 b4=$5 b6=$6
  e2e_netns "$a" "$b"
  e2e_veth "$a" "$a" "$a4" "$a6" "$b" "$b" "$b4" "$b6"
  e2e_wait_link "$a" "$a" "$a6"
  e2e_wait_link "$b" "$b" "$b6"
}

# e2e_hosts NAME OCTET X ROLE_X Y ROLE_Y: the two hosts of test NAME, as
# e2e_two_hosts makes them: namespaces NS_X=stpNAME<pid>x and
# NS_Y=stpNAME<pid>y (x, y: X, Y in lower case), addresses X4=10.200.OCTET.1
# and X6=fd00:5354:HH::1 (HH: OCTET in hex), Y4 and Y6 ending in .2 and ::2.
# The ROLEs are for the log.
e2e_hosts() {
  local name=$1 octet=$2 x=$3 y=$5 letter n=1
  for letter in "$x" "$y"; do
    printf -v "NS_$letter" 'stp%s%s%s' "$name" "$$" "${letter,,}"
    printf -v "${letter}4" '10.200.%d.%d' "$octet" "$n"
    printf -v "${letter}6" 'fd00:5354:%x::%d' "$octet" "$n"
    n=$((n + 1))
  done
  local nsx=NS_$x nsy=NS_$y x4=${x}4 x6=${x}6 y4=${y}4 y6=${y}6
  step "namespaces ${!nsx} ($4) and ${!nsy} ($6)"
  e2e_two_hosts "${!nsx}" "${!x4}" "${!x6}" "${!nsy}" "${!y4}" "${!y6}"
}

# e2e_config NAME NS: writes $E2E_WORK/NAME.toml, the [daemon] table of
# e2e_daemon_toml NS NAME followed by what comes on stdin.
e2e_config() {
  { e2e_daemon_toml "$2" "$1"; cat; } >"$E2E_WORK/$1.toml"
}

# e2e_sender_config NAME NS: e2e_config for a stampd that only sends (its
# reflector off).
e2e_sender_config() {
  { cat; printf '[reflector]\nenabled = false\n'; } | e2e_config "$1" "$2"
}

# e2e_start NS NAME: e2e_stampd with the file of e2e_config NAME, logging to
# $E2E_WORK/NAME.log.
e2e_start() {
  e2e_stampd "$1" "$E2E_WORK/$2.toml" "$E2E_WORK/$2.log"
}

# e2e_ctl NS NAME ARGS...: stampctl in NS, talking to the stampd of
# e2e_config NAME.
e2e_ctl() {
  local ns=$1 name=$2
  shift 2
  in_ns "$ns" "$STAMPCTL" --socket "$E2E_WORK/$name.sock" "$@"
}

# e2e_stampd NS CONFIG LOG: starts stampd in NS and waits until it runs;
# sets E2E_STAMPD_PID. The cleanup tears its pins down (give every CONFIG
# its own [daemon] bpffs).
# e2e_daemon_toml NS NAME: the [daemon] table of a stampd in namespace NS,
# with its socket and state under $E2E_WORK/NAME and its pins under
# /sys/fs/bpf/NS; the caller appends the rest of the file.
e2e_daemon_toml() {
  cat <<EOT
[daemon]
interfaces = ["$1"]
socket = "$E2E_WORK/$2.sock"
bpffs = "/sys/fs/bpf/$1"
state_dir = "$E2E_WORK/$2-state"
EOT
}

e2e_stampd() {
  local ns=$1 config=$2 log=$3
  [[ " ${E2E_LOGS[*]} " == *" $log "* ]] || E2E_LOGS+=("$log")
  [[ " ${E2E_CONFIGS[*]} " == *" $config "* ]] || E2E_CONFIGS+=("$config")
  # nsenter without --fork execs stampd, so $! is stampd itself.
  nsenter --net=/run/netns/"$ns" "$STAMPD" --config "$config" >"$log" 2>&1 &
  E2E_STAMPD_PID=$!
  E2E_PIDS+=("$E2E_STAMPD_PID")
  for _ in $(seq 100); do
    grep -q ' running: ' "$log" && return 0
    kill -0 "$E2E_STAMPD_PID" 2>/dev/null || fail "stampd in $ns exited before it was running"
    sleep 0.1
  done
  fail "stampd in $ns did not log that it is running within 10 s"
}

# e2e_wait_log LOG REGEX [COUNT [SECONDS]]: waits until LOG has at least
# COUNT (default 1) lines matching the extended REGEX; fails after SECONDS
# (default 10).
e2e_wait_log() {
  local log=$1 re=$2 want=${3:-1} secs=${4:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    [[ $(grep -cE -- "$re" "$log" 2>/dev/null) -ge $want ]] && return 0
    sleep 0.05
  done
  fail "$log: no $want line(s) matching '$re' within $secs s"
}

# e2e_probe NS ADDR [PORT]: one 44-octet STAMP request from NS, by an
# ordinary UDP socket; prints the reply's length (0: none within 2 s).
e2e_probe() {
  in_ns "$1" python3 - "$2" "${3:-862}" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(struct.pack("!I", 7) + bytes(40), (sys.argv[1], int(sys.argv[2])))
try:
    print(len(s.recvfrom(2048)[0]))
except socket.timeout:
    print(0)
PY
}

# e2e_sigterm PID: SIGTERM to a stampd started by e2e_stampd; waits for it
# (at most 10 s) and sets E2E_RC to its exit status.
e2e_sigterm() {
  local pid=$1
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "stampd $pid still runs 10 s after SIGTERM"
  E2E_RC=0
  wait "$pid" || E2E_RC=$?
}
