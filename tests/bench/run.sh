#!/usr/bin/env bash
# Reflector benchmark: stampd's tc reflector against a no-op tc bounce (the
# ceiling) and a userspace recvmmsg/sendmmsg reflector (the baseline), all in
# one run, between two network namespaces joined by a veth pair.
#
#   sudo tests/bench/run.sh [--build DIR] [--rate PPS] [--duration S]
#                           [--step S] [--rates "PPS PPS ..."] [--threads N]
#                           [--tx packet|udp] [--chunks N] [--dwell-duration S]
#                           [--bpf-stats S (0: off)]
#                           [--only "stampd bounce udp"] [--out DIR] [--nice N]
#
# Results (table, raw loadgen lines, reflector logs) are kept in --out,
# by default /tmp/stpbench-results-DATE.
#
# Every reflector gets the same, freshly created pair of namespaces
# (stpbench-g<pid>: generator, stpbench-r<pid>: reflector) and, in turn:
#  (a) CPU per reflected packet at a fixed offered rate: baseline runs with
#      the load dropped on arrival (stamp_bounce --drop --first, attached in
#      front of the running reflector on its tcx ingress) alternate with runs
#      of the same load reflected, --chunks pairs in ABBA order splitting
#      --duration; (busy CPU reflected - busy CPU baseline) / replies
#      received. Two meters:
#      "machine" is /proc/stat (as specified, but shared with every other
#      process), "tasks" is the exact run time of the generator, the
#      reflector process and ksoftirqd (see stamp_loadgen.cpp);
#  (b) the highest offered rate reflected with under 0.1% loss: steps up the
#      --rates list, then bisects twice between the last pass and the first
#      failure. A step whose rate the generator could not offer fails too,
#      and the figure is marked "+" (the machine, not loss, set the limit);
#  (c) dwell T3 - T2 percentiles from a --dwell-duration run at the same
#      rate, for stampd and for the userspace reflector (there: kernel
#      receive timestamp to the time just before sendmmsg);
#  (d) for the tc reflectors, the run time per packet of each BPF program on
#      the interface, from a --bpf-stats run of its own with the kernel's
#      BPF statistics on (stamp_bpfstats), to show where the CPU goes.
# Traffic stays inside the namespaces; both are removed on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$here/../.." && pwd)/build-bench
rate=100000
duration=10
step=3
rates="50000 100000 150000 200000 300000 400000 500000 600000 800000 1000000"
threads=2
chunks=4
dwell_duration=5
bpfstats_duration=2
tx=packet
only="stampd stampd-auth bounce udp"
out=""
nice_level=-10
orig_args=("$@")
command_line="$0${*:+ $*}"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --step) step=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    --dwell-duration) dwell_duration=$2; shift 2 ;;
    --bpf-stats) bpfstats_duration=$2; shift 2 ;;
    --tx) tx=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

die() { echo "run.sh: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root (network namespaces, BPF)"
for tool in ip nsenter ethtool tc sysctl setsid; do
  command -v "$tool" >/dev/null || die "$tool is not installed (packaging/install-deps.sh installs it)"
done

# The machine is shared and the scheduler groups tasks by session
# (autogroup), so plain nice values do not compete with other sessions. Run
# in a session of our own and raise that session's autogroup priority
# instead, leaving the caller's session as it was.
if [[ -z ${STPBENCH_SESSION:-} && $nice_level != 0 && -w /proc/self/autogroup ]]; then
  export STPBENCH_SESSION=1
  setsid bash "$0" "${orig_args[@]}" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
  while :; do
    if wait "$child"; then exit 0; else rc=$?; fi
    kill -0 "$child" 2>/dev/null || exit "$rc"
  done
fi
if [[ -n ${STPBENCH_SESSION:-} ]]; then
  echo "$nice_level" >/proc/self/autogroup
fi
stampd=$build/daemon/stampd
bounce=$build/tests/bench/stamp_bounce
udprefl=$build/tests/bench/stamp_udp_reflector
loadgen=$build/tests/bench/stamp_loadgen
bpfstats=$build/tests/bench/stamp_bpfstats
for b in "$stampd" "$bounce" "$udprefl" "$loadgen" "$bpfstats"; do
  [[ -x $b ]] || die "missing $b: cmake --build $build"
done

ns_g=stpbench-g$$
ns_r=stpbench-r$$
gen_ip=10.201.0.1
refl_ip=10.201.0.2
gen_mac=02:00:5e:b0:00:01
refl_mac=02:00:5e:b0:00:02
bpffs_dir=/sys/fs/bpf/stpbench-$$
tmp=$(mktemp -d /tmp/stpbench.XXXXXX)
[[ -n $out ]] || out=/tmp/stpbench-results-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$tmp"  # nothing this script runs may drop files into the caller's tree
: >"$out/raw.txt"
pids=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  ip netns del "$ns_g" 2>/dev/null || true
  ip netns del "$ns_r" 2>/dev/null || true
  [[ -d $bpffs_dir ]] && rm -rf "$bpffs_dir"
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_g() { nsenter --net=/run/netns/"$ns_g" "$@"; }
in_r() { nsenter --net=/run/netns/"$ns_r" "$@"; }

net_up() {
  ip netns add "$ns_g"
  ip netns add "$ns_r"
  ip -n "$ns_g" link add gen0 address $gen_mac type veth \
    peer name refl0 address $refl_mac netns "$ns_r"
  ip -n "$ns_g" addr add $gen_ip/24 dev gen0
  ip -n "$ns_r" addr add $refl_ip/24 dev refl0
  for ns in "$ns_g" "$ns_r"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip -n "$ns_g" link set gen0 up
  ip -n "$ns_r" link set refl0 up
  ip -n "$ns_g" neigh replace $refl_ip lladdr $refl_mac dev gen0 nud permanent
  ip -n "$ns_r" neigh replace $gen_ip lladdr $gen_mac dev refl0 nud permanent
  # Real checksums on the wire, as a NIC would deliver them (docs/testing.md, Checksums on veth): a
  # reflector that breaks a checksum loses the reply at the generator.
  in_g ethtool -K gen0 tx off >/dev/null
  in_r ethtool -K refl0 tx off >/dev/null
}

net_down() {
  ip netns del "$ns_g"
  ip netns del "$ns_r"
}

# start LOG CMD...: runs CMD in the reflector namespace, sets $started to its
# pid (nsenter execs CMD, so that is CMD's own pid).
start() {
  local log=$1; shift
  nsenter --net=/run/netns/"$ns_r" "$@" >"$log" 2>&1 &
  started=$!
  pids+=("$started")
}

wait_for() {  # LOG PATTERN PID
  for _ in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: no '$2' from pid $3; its log:" >&2
  cat "$1" >&2
  return 1
}

stop() {  # PID
  kill -TERM "$1" 2>/dev/null || true
  reap "$1"
}

reap() {  # PID: waits for it to end by itself
  wait "$1" 2>/dev/null || true
  local keep=()
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# The key of the stampd-auth phase (a benchmark's, not a secret).
auth_hex=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
gen_extra=()  # loadgen options of the current phase

# gen RATE DURATION [loadgen options]: prints the loadgen's key=value line.
gen() {
  local r=$1 d=$2; shift 2
  in_g "$loadgen" --target $refl_ip --rate "$r" --duration "$d" --threads "$threads" --tx "$tx" \
    "${gen_extra[@]}" "$@"
}

kv() { awk -v k="$2" '{for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) }}' <<<"$1"; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }

start_reflector() {  # KIND
  case "$1" in
    stampd)
      cat >"$tmp/stampd.toml" <<EOF
[daemon]
interfaces = ["refl0"]
socket = "$tmp/stampd.sock"
state_dir = "$tmp/state"
bpffs = "$bpffs_dir"
log_level = "info"

[reflector]
ports = [862]
EOF
      start "$out/stampd.log" "$stampd" --config "$tmp/stampd.toml"
      wait_for "$out/stampd.log" "running" "$started" ;;
    stampd-auth)
      printf '[keys]\nbench = "%s"\n' "$auth_hex" >"$tmp/keys.toml"
      chmod 600 "$tmp/keys.toml"
      cat >"$tmp/stampd-auth.toml" <<EOF
[daemon]
interfaces = ["refl0"]
socket = "$tmp/stampd.sock"
state_dir = "$tmp/state"
bpffs = "$bpffs_dir"
key_file = "$tmp/keys.toml"
log_level = "info"

[reflector]
ports = [862]
auth_key = "bench"
EOF
      start "$out/stampd-auth.log" "$stampd" --config "$tmp/stampd-auth.toml"
      wait_for "$out/stampd-auth.log" "running" "$started" ;;
    bounce)
      start "$out/bounce.log" "$bounce" --ifname refl0
      wait_for "$out/bounce.log" "ready" "$started" ;;
    udp)
      start "$out/udp.log" "$udprefl" --bind $refl_ip
      wait_for "$out/udp.log" "ready" "$started" ;;
  esac
}

declare -A cpu_machine cpu_tasks base_tasks zl zl_mark dwell50 dwell99 dwell999 loss_a bpf_progs

# sum_into ARRAY LINE KEY...: adds the values of KEYs in LINE to ARRAY[KEY]
# (ARRAY: the name of an associative array of the caller).
sum_into() {
  local -n acc_=$1; local line_=$2; shift 2
  local k
  for k in "$@"; do acc_[$k]=$(calc "%.10g" "${acc_[$k]:-0} + $(kv "$line_" "$k")"); done
}

phase() {  # KIND
  local kind=$1 line dwell_opt="" i
  [[ $kind == bounce ]] || dwell_opt=--dwell
  echo "== $kind" >&2
  gen_extra=()
  [[ $kind == stampd-auth ]] && gen_extra=(--auth-key "$auth_hex" --size 112)
  net_up

  start_reflector "$kind"
  local refl=$started
  line=$(gen 10000 0.5)
  if [[ $(calc "%d" "$(kv "$line" loss_pct) < 1") != 1 ]]; then
    echo "run.sh: $kind does not reflect: $line" >&2
    cat "$out/$kind.log" >&2
    return 1
  fi

  # (a) CPU: the same load dropped on arrival (a dropper attached in front
  # of the reflector) and reflected, in $chunks alternating pairs ordered
  # ABBA so that the machine's drifting background load cancels out.
  local -A base=() meas=()
  local keys=(sent received cpu_busy_s cpu_total_s task_cpu_s)
  local chunk; chunk=$(calc "%.3f" "$duration / $chunks")
  run_base() {
    start "$out/$kind-drop.log" "$bounce" --ifname refl0 --drop --first
    local dropper=$started
    wait_for "$out/$kind-drop.log" "ready" "$dropper"
    line=$(gen "$rate" "$chunk" --watch-pid "$dropper" --watch-pid "$refl")
    stop "$dropper"
    echo "$kind baseline: $line" >>"$out/raw.txt"
    [[ $(kv "$line" received) == 0 ]] || die "$kind: the dropper let replies through: $line"
    sum_into base "$line" "${keys[@]}"
  }
  run_meas() {
    line=$(gen "$rate" "$chunk" --watch-pid "$refl")
    echo "$kind reflect: $line" >>"$out/raw.txt"
    sum_into meas "$line" "${keys[@]}"
  }
  for ((i = 0; i < chunks; i++)); do
    if ((i % 2 == 0)); then run_base; run_meas; else run_meas; run_base; fi
  done
  local rx=${meas[received]}
  cpu_machine[$kind]=$(calc "%.0f" "(${meas[cpu_busy_s]} - ${base[cpu_busy_s]}) * 1e9 / $rx")
  # A machine already busy in the baseline cannot show the extra work.
  if [[ $(calc "%d" "${base[cpu_busy_s]} > 0.9 * ${base[cpu_total_s]}") == 1 ]]; then
    cpu_machine[$kind]+="*"
  fi
  cpu_tasks[$kind]=$(calc "%.0f" "(${meas[task_cpu_s]} - ${base[task_cpu_s]}) * 1e9 / $rx")
  base_tasks[$kind]=$(calc "%.0f" "${base[task_cpu_s]} * 1e9 / ${base[sent]}")
  loss_a[$kind]=$(calc "%.4f" "100 * (1 - $rx / ${meas[sent]})")
  echo "   baseline: ${base[sent]} sent, task cpu ${base[task_cpu_s]} s," \
       "machine busy ${base[cpu_busy_s]} of ${base[cpu_total_s]} s" >&2
  echo "   reflect:  $rx/${meas[sent]} replies, task cpu ${meas[task_cpu_s]} s," \
       "machine busy ${meas[cpu_busy_s]} of ${meas[cpu_total_s]} s" \
       "-> ${cpu_tasks[$kind]} ns/pkt (tasks), ${cpu_machine[$kind]} ns/pkt (machine)" >&2

  # (c) dwell, from a run of its own at the same rate.
  if [[ -n $dwell_opt ]]; then
    line=$(gen "$rate" "$dwell_duration" --dwell)
    echo "$kind dwell: $line" >>"$out/raw.txt"
    dwell50[$kind]=$(calc "%.2f" "$(kv "$line" dwell_p50_ns) / 1000")
    dwell99[$kind]=$(calc "%.2f" "$(kv "$line" dwell_p99_ns) / 1000")
    dwell999[$kind]=$(calc "%.2f" "$(kv "$line" dwell_p999_ns) / 1000")
    echo "   dwell:    p50 ${dwell50[$kind]} us, p99 ${dwell99[$kind]} us," \
         "p99.9 ${dwell999[$kind]} us over $(kv "$line" dwell_n) replies" >&2
  fi

  # (d) where a tc reflector's CPU goes, program by program.
  if [[ $kind != udp && $(calc "%d" "$bpfstats_duration > 0") == 1 ]]; then
    start "$out/$kind-bpfstats.log" "$bpfstats" --ifname refl0 \
      --duration "$(calc "%.2f" "$bpfstats_duration + 0.3")"
    local sp=$started
    wait_for "$out/$kind-bpfstats.log" "ready" "$sp"
    line=$(gen "$rate" "$bpfstats_duration")
    reap "$sp"
    bpf_progs[$kind]=$(awk -v rx="$(kv "$line" received)" '
      /runs=/ { split($4, r, "="); split($5, n, "="); if (r[2] == 0) next
                printf "%s %s %d ns, ", $2, $3, n[2]; total += r[2] * n[2] }
      END { if (rx > 0) printf "total %.0f ns per reply", total / rx }' "$out/$kind-bpfstats.log")
    echo "   bpf:      ${bpf_progs[$kind]}" >&2
  fi

  # (b) zero-loss rate: step up, then bisect twice.
  local pass=0 fail="" why="" r
  try() {
    line=$(gen "$1" "$step")
    echo "$kind step $1: $line" >>"$out/raw.txt"
    local lost kept
    lost=$(kv "$line" loss_pct); kept=$(kv "$line" kept_rate)
    if [[ $kept == 1 && $(calc "%d" "$lost < 0.1") == 1 ]]; then
      echo "   $1 pps: pass (loss $lost%)" >&2; return 0
    fi
    if [[ $kept != 1 ]]; then why=offer; else why=loss; fi
    echo "   $1 pps: fail ($why: loss $lost%, offered $(kv "$line" achieved_pps) pps)" >&2
    return 1
  }
  for r in $rates; do
    if try "$r"; then pass=$r; else fail=$r; break; fi
  done
  if [[ -n $fail ]]; then
    local lo=$pass hi=$fail last_why=$why
    for _ in 1 2; do
      r=$(( (lo + hi) / 2 ))
      if try "$r"; then lo=$r; else hi=$r; last_why=$why; fi
    done
    pass=$lo
    why=$last_why
  else
    why=offer  # never failed: the list ran out
  fi
  zl[$kind]=$pass
  zl_mark[$kind]=$([[ $why == offer ]] && echo "+" || echo "")

  stop "$refl"
  net_down
}

commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$here" diff --quiet HEAD -- 2>/dev/null || commit+="+dirty"
version=$("$stampd" --version 2>/dev/null | head -1 || true)
built=$(date -u -r "$stampd" +%FT%TZ)
echo "command: $command_line" >&2
echo "build: $build; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none)" >&2
start_time=$SECONDS
load_start=$(cut -d' ' -f1 /proc/loadavg)
for kind in $only; do phase "$kind"; done

ratio() {  # A B -> A/B or "-"; a "*" on either figure carries over
  [[ -n ${1:-} && -n ${2:-} ]] || { echo "-"; return; }
  local mark=""
  [[ $1$2 == *"*"* ]] && mark="*"
  awk -v a="${1%\*}" -v b="${2%\*}" -v m="$mark" \
    'BEGIN { if (a + 0 <= 0 || b + 0 <= 0) print "-"; else printf "%.2f%s", a / b, m }'
}
verdict() { [[ $1 == - ]] && echo "n/a" || awk -v v="$1" -v t="$3" -v op="$2" \
  'BEGIN { ok = (op == "<=") ? v <= t : v >= t; print ok ? "PASS" : "FAIL" }'; }
name() { case "$1" in stampd) echo "stampd (tc)";; stampd-auth) echo "stampd auth (tc)";; bounce) echo "bounce (ceiling)";;
  udp) echo "userspace";; esac; }

{
  echo
  echo "reflector benchmark $(date -u +%FT%TZ): ${version:-stampd} built $built," \
       "tree now at $commit; load average at start $load_start"
  echo "offered ${rate} pps: CPU over ${duration} s reflected + ${duration} s dropped ($chunks ABBA pairs)," \
       "dwell over ${dwell_duration} s; ${step} s zero-loss steps;"
  echo "$threads generator threads (--tx $tx), 44-octet STAMP, IPv4, veth, TX checksum offload off"
  printf "%-17s %11s %11s %11s %8s %13s %9s %9s %9s\n" "" "CPU ns/pkt" "CPU ns/pkt" "offer-only" "loss" \
    "zero-loss" "dwell" "dwell" "dwell"
  printf "%-17s %11s %11s %11s %8s %13s %9s %9s %9s\n" "reflector" "(tasks)" "(machine)" "ns/pkt" "(a) %" \
    "kpps" "p50 us" "p99 us" "p99.9 us"
  for k in $only; do
    printf "%-17s %11s %11s %11s %8s %13s %9s %9s %9s\n" "$(name "$k")" "${cpu_tasks[$k]}" \
      "${cpu_machine[$k]}" "${base_tasks[$k]}" "${loss_a[$k]}" \
      "$(calc "%.0f" "${zl[$k]} / 1000")${zl_mark[$k]}" "${dwell50[$k]:--}" "${dwell99[$k]:--}" \
      "${dwell999[$k]:--}"
  done
  echo
  s_b_t=$(ratio "${cpu_tasks[stampd]:-}" "${cpu_tasks[bounce]:-}")
  s_b_m=$(ratio "${cpu_machine[stampd]:-}" "${cpu_machine[bounce]:-}")
  s_u_t=$(ratio "${cpu_tasks[stampd]:-}" "${cpu_tasks[udp]:-}")
  s_u_m=$(ratio "${cpu_machine[stampd]:-}" "${cpu_machine[udp]:-}")
  s_u_z=$(ratio "${zl[stampd]:-}" "${zl[udp]:-}")
  printf "%-34s %8s %10s   %s\n" "ratio" "(tasks)" "(machine)" "target"
  printf "%-34s %8s %10s   %s %s\n" "CPU/pkt stampd / bounce" "$s_b_t" "$s_b_m" "<= 1.5" \
    "$(verdict "$s_b_t" "<=" 1.5)"
  printf "%-34s %8s %10s   %s %s\n" "CPU/pkt stampd / userspace" "$s_u_t" "$s_u_m" "<= 0.5" \
    "$(verdict "$s_u_t" "<=" 0.5)"
  zl_verdict=$(verdict "$s_u_z" ">=" 2)
  if [[ -n ${zl_mark[stampd]:-} ]]; then
    [[ $zl_verdict == FAIL ]] && zl_verdict="inconclusive"
    zl_verdict+=" (stampd's figure is a lower bound)"
  fi
  printf "%-34s %8s %10s   %s %s\n" "zero-loss rate stampd / userspace" "$s_u_z" "" ">= 2" "$zl_verdict"
  a_s_t=$(ratio "${cpu_tasks[stampd]:-}" "${cpu_tasks[stampd-auth]:-}")
  a_s_z=$(ratio "${zl[stampd-auth]:-}" "${zl[stampd]:-}")
  a_verdict=$(verdict "$a_s_z" ">=" 0.5)
  # A ratio of two lower bounds says nothing: the generator, which signs
  # every authenticated packet itself, may be what stopped either search.
  if [[ -n ${zl_mark[stampd-auth]:-} && -n ${zl_mark[stampd]:-} ]]; then
    a_verdict="inconclusive (both figures are lower bounds)"
  elif [[ -n ${zl_mark[stampd-auth]:-} && $a_verdict == FAIL ]]; then
    a_verdict="inconclusive (auth's figure is a lower bound)"
  fi
  printf "%-34s %8s %10s   %s %s\n" "rate auth / unauth (1 / CPU/pkt)" "$a_s_t" "" ">= 0.5" \
    "$(verdict "$a_s_t" ">=" 0.5)"
  printf "%-34s %8s %10s   %s %s\n" "zero-loss rate auth / unauth" "$a_s_z" "" ">= 0.5" "$a_verdict"
  printf "%-34s %8s %10s   %s %s\n" "dwell p50 / p99 stampd, us" "${dwell50[stampd]:--}" \
    "${dwell99[stampd]:--}" "p99 < 10" "$(verdict "${dwell99[stampd]:--}" "<=" 9.999)"
  echo
  echo "+ = the rate the machine could offer, not loss, ended the search (generator and"
  echo "    in-kernel reflection share the same 2 CPUs); the true zero-loss rate is higher."
  echo "tasks = generator + reflector process + ksoftirqd run time; machine = /proc/stat busy"
  echo "    (* = the machine was over 90% busy in the baseline already: that figure is noise)."
  echo "offer-only = CPU per packet of the baseline run (send + drop on arrival)."
  if [[ -n ${bpf_progs[*]:-} ]]; then
    echo "BPF run time per packet, ${bpfstats_duration} s run of its own with kernel BPF statistics on"
    echo "(they add two clock reads to every program run):"
    for k in $only; do
      [[ -n ${bpf_progs[$k]:-} ]] && printf "  %-17s %s\n" "$(name "$k")" "${bpf_progs[$k]}"
    done
  fi
  echo "elapsed $((SECONDS - start_time)) s; raw loadgen lines: $out/raw.txt"
  echo "command: $command_line"
} | tee "$out/table.txt"
