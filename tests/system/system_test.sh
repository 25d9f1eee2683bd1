#!/usr/bin/env bash
# system_test: the installed stampd under a real systemd, driven the way a
# user drives it.
#
#   system_test.sh CMAKE BUILD_DIR STAMPD STAMP_PROBE
#
# A systemd-nspawn container boots this host's own /usr (--volatile=yes:
# tmpfs root and /etc, so nothing of the host changes). How the build gets in:
# `cmake --install BUILD_DIR` with DESTDIR to a staging directory on the host,
# then, inside the container, the staged tree is unpacked onto / (tar, like a
# package: /usr is made writable with an overlay whose upper layer is a
# throwaway directory, /etc is the container's tmpfs). The paths are the
# build's own: with CMAKE_INSTALL_PREFIX=/usr, /usr/sbin/stampd and
# /etc/stamp/stamp.toml; with the default /usr/local, /usr/local/sbin/stampd
# and /usr/local/etc/stamp/stamp.toml (read from the installed unit).
#
# Inside the container: systemd-sysusers and systemd-tmpfiles for our
# snippets, a stamp.toml for the container's veth end (host0) whose key file
# comes as a systemd credential (LoadCredential= in a drop-in), then
#   0. an upgrade: a stampd run as root leaves pins and a results store that
#      the unit's stampd adopts and takes over
#   1. systemctl enable --now stampd (Type=notify): the main process runs as
#      the user stampd, group stamp, with exactly CAP_BPF CAP_NET_ADMIN
#      CAP_PERFMON (effective, permitted, ambient, bounding), no new
#      privileges, the unit's limits (open files, memory, tasks); the pins
#      exist and belong to stampd; stampctl status as root, as a stamp group
#      member, as a non-member; socket 0660 stampd:stamp
#   2. a session to a peer reflector: 20 sent, 20 received, 0 lost
#   3. systemctl reload with a scheduled session added (@every 2s), SIGHUP,
#      then a bad file: the reload fails, the service and its old
#      configuration stay; the journal has FILE:LINE:COLUMN and the
#      per-run summaries of the scheduled session
#   4. systemctl restart while the peer sends 200 packets/s to the
#      container's reflector: none lost (the pins are adopted)
#   5. systemctl stop (the reflector keeps answering), stampd --teardown:
#      nothing left under the bpffs directory
#   6. systemd-analyze security stampd.service, printed: at most 2.1
# The peer is the host end of the container's veth, moved into a throwaway
# network namespace, with a second stampd (the build's) as reflector on its
# own bpffs directory and socket.
#
# Container quirks this handles (checked on Debian 12, systemd 252):
# - nspawn's own seccomp filter denies bpf() to every process of the
#   container, services included (commands entered with nsenter escape it):
#   --system-call-filter=bpf.
# - systemd-networkd in the container waits for a udev that does not run
#   there (host0 stays "pending"), and its wait-online would hold
#   network-online.target (which stampd.service wants) for 2 minutes: both
#   are masked and host0 is configured with ip.
# - /sys is a tmpfs without /sys/fs/bpf and bpffs is not mounted: the
#   unit's privileged ExecStartPre= mounts it.
#
# Exit 77: skipped, with the reason printed.
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: $0 CMAKE BUILD_DIR STAMPD STAMP_PROBE" >&2; exit 2; }
CMAKE=$1
BUILD=$2
export STAMPD=$3 # the peer's reflector (lib.sh's e2e_stampd and cleanup use $STAMPD)
PROBE=$4
# shellcheck source-path=SCRIPTDIR/../e2e source=lib.sh
. "$(dirname "$(readlink -f "$0")")/../e2e/lib.sh"
e2e_require_root jq setpriv tar
command -v systemd-nspawn >/dev/null ||
  skip "systemd-nspawn is not installed (Debian package systemd-container)"
[[ -x /usr/lib/systemd/systemd ]] || skip "no systemd in /usr to boot"
e2e_begin

MACHINE=stps$$ # the host end of the veth is ve-$MACHINE (15 characters at most)
NS=stpsys$$
PEER4=10.203.88.1 CT4=10.203.88.2
NSPAWN_PID='' CPID=''

# ---- the container ----------------------------------------------------------

CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
in_c() { # CMD... inside the container, with a clean environment
  nsenter -t "$CPID" -a env -i PATH="$CT_PATH" LANG=C.UTF-8 SYSTEMD_PAGER=cat \
    SYSTEMD_COLORS=0 "$@"
}
in_ct() { # SECONDS CMD...: in_c with a time limit
  local t=$1
  shift
  timeout "$t" nsenter -t "$CPID" -a env -i PATH="$CT_PATH" LANG=C.UTF-8 SYSTEMD_PAGER=cat \
    SYSTEMD_COLORS=0 "$@"
}
as_user() { # USER CMD...: in the container as USER with its groups
  local u=$1
  shift
  in_c setpriv --reuid="$u" --regid="$u" --init-groups "$@"
}

system_cleanup() {
  local rc=$?
  set +e
  if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    if [[ $rc -ne 0 && $rc -ne 77 && -n $CPID ]]; then
      echo "---- journalctl -u stampd (container) ----"
      in_ct 10 journalctl -u stampd --no-pager -o short-monotonic -n 300
      echo "---- systemctl status stampd ----"
      in_ct 10 systemctl status stampd --no-pager -l -n 0
    fi
    # SIGTERM: nspawn powers the container off (about a second).
    kill -TERM "$NSPAWN_PID"
    for _ in $(seq 200); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      echo "container did not power off within 20 s; killing it"
      [[ -n $CPID ]] && kill -KILL "$CPID" # the PID namespace's init: takes all with it
      kill -KILL "$NSPAWN_PID"
    fi
    wait "$NSPAWN_PID" 2>/dev/null
    # nspawn leaves this behind when /run is not a tmpfs.
    rmdir /run/systemd/nspawn/propagate/"$MACHINE" 2>/dev/null
  fi
  if [[ $rc -ne 0 && $rc -ne 77 && -s ${E2E_WORK:-}/nspawn.log ]]; then
    echo "---- systemd-nspawn (last lines) ----"
    tail -20 "$E2E_WORK/nspawn.log"
  fi
  (exit "$rc")
  e2e_cleanup # the peer stampd and its pins, the namespace, E2E_WORK
}
trap system_cleanup EXIT

step "installing the build (DESTDIR staging) from $BUILD"
STAGE=$E2E_WORK/stage
DESTDIR=$STAGE "$CMAKE" --install "$BUILD" >"$E2E_WORK/install.log" 2>&1 ||
  { cat "$E2E_WORK/install.log"; fail "cmake --install failed"; }
UNIT=$(cd "$STAGE" && find . -path '*/systemd/system/stampd.service' | sed 's|^\.||')
SYSUSERS=$(cd "$STAGE" && find . -path '*/sysusers.d/stamp.conf' | sed 's|^\.||')
TMPFILES=$(cd "$STAGE" && find . -path '*/tmpfiles.d/stamp.conf' | sed 's|^\.||')
[[ -n $UNIT && -n $SYSUSERS && -n $TMPFILES ]] ||
  { cat "$E2E_WORK/install.log"; fail "the install lacks the unit, sysusers.d or tmpfiles.d file"; }
# The paths the unit was configured with: ExecStart=SBINDIR/stampd --config CONF
read -r CT_STAMPD CONF < <(sed -nE 's|^ExecStart=([^ ]+) --config ([^ ]+).*|\1 \2|p' "$STAGE$UNIT") || true
CT_STAMPCTL=$(sed -nE 's|^ExecReload=([^ ]+/stampctl) .*|\1|p' "$STAGE$UNIT")
[[ -x $STAGE$CT_STAMPD && -x $STAGE$CT_STAMPCTL ]] ||
  fail "the unit's ExecStart/ExecReload ($CT_STAMPD, $CT_STAMPCTL) are not in the install"
echo "unit $UNIT, stampd $CT_STAMPD, stampctl $CT_STAMPCTL, config $CONF"

step "booting the container $MACHINE"
mkdir "$E2E_WORK/usr-upper"
# setsid: Ctrl-C reaches this script, whose cleanup powers the container off.
SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 setsid systemd-nspawn -D / --volatile=yes --register=no \
  --keep-unit --capability=all --system-call-filter=bpf --machine="$MACHINE" \
  --private-network --network-veth --overlay=/usr:"$E2E_WORK/usr-upper":/usr \
  --console=read-only --boot -- systemd.firstboot=off \
  </dev/null >"$E2E_WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 100); do
  kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$E2E_WORK/nspawn.log"; fail "systemd-nspawn exited"; }
  # The container's systemd: a child or grandchild of nspawn.
  for p in $(pgrep -P "$NSPAWN_PID") $(pgrep -P "$(pgrep -d, -P "$NSPAWN_PID" || echo 0)"); do
    [[ $(cat /proc/"$p"/comm 2>/dev/null) == systemd ]] && CPID=$p && break 2
  done
  sleep 0.1
done
[[ -n $CPID ]] || fail "no systemd inside the container after 10 s"
state=
for _ in $(seq 300); do
  state=$(in_c systemctl is-system-running 2>/dev/null) || true
  [[ $state == running || $state == degraded ]] && break
  sleep 0.1
done
[[ $state == running || $state == degraded ]] || fail "the container's systemd is '$state' after 30 s"
echo "container systemd pid $CPID (host view), state $state"

step "network: host0 $CT4 in the container, ve-$MACHINE $PEER4 in namespace $NS"
in_ct 30 systemctl mask --now systemd-networkd.service systemd-networkd.socket \
  systemd-networkd-wait-online.service >/dev/null 2>&1 || fail "cannot mask systemd-networkd"
ip netns add "$NS"
E2E_NAMESPACES+=("$NS")
ip link set "ve-$MACHINE" netns "$NS"
in_ns "$NS" ip link set lo up
in_ns "$NS" ip addr add "$PEER4/24" dev "ve-$MACHINE"
in_ns "$NS" ethtool -K "ve-$MACHINE" tx off >/dev/null
in_ns "$NS" ip link set "ve-$MACHINE" up
in_c ip addr add "$CT4/24" dev host0
in_c ethtool -K host0 tx off >/dev/null
in_c ip link set host0 up
for _ in $(seq 50); do
  in_c ip -o link show dev host0 | grep -q 'state UP' &&
    in_ns "$NS" ip -o link show dev "ve-$MACHINE" | grep -q 'state UP' && break
  sleep 0.1
done

step "the peer: stampd as reflector on ve-$MACHINE"
cat >"$E2E_WORK/peer.toml" <<EOT
[daemon]
interfaces = ["ve-$MACHINE"]
socket = "$E2E_WORK/peer.sock"
bpffs = "/sys/fs/bpf/${NS}p"
state_dir = "$E2E_WORK/peer-state"
[reflector]
enabled = true
# The signed session's 112-octet requests carry their timestamp where an
# unauthenticated reply has its receive timestamp: the loop defence would
# take them for reflected packets. This peer answers them (see "signed").
answer_reflected_packets = true
EOT
: >"$E2E_WORK/peer.log"
e2e_stampd "$NS" "$E2E_WORK/peer.toml" "$E2E_WORK/peer.log"

step "installing into the container: unpack, systemd-sysusers, systemd-tmpfiles, daemon-reload"
# --no-overwrite-dir: the container's /, /usr and /etc keep their modes.
tar -C "$STAGE" -cf - . | in_c tar -C / -xf - --no-overwrite-dir
# A stampd.service the host itself has installed elsewhere (say an older one
# in /usr/local) would win over ours: remove it, in the container only (the
# overlay records the removal in its throwaway upper layer).
for other in /usr/local/lib/systemd/system/stampd.service /usr/lib/systemd/system/stampd.service; do
  if [[ $other != "$UNIT" ]] && in_c test -e "$other"; then
    echo "  hiding the host's $other in the container"
    in_c rm -f "$other"
  fi
done
in_c systemd-sysusers "$SYSUSERS"
in_c systemd-tmpfiles --create "$TMPFILES"
in_c systemctl daemon-reload
in_c getent group stamp >/dev/null || fail "systemd-sysusers did not create the stamp group"
STAMPD_UID=$(in_c id -u stampd) || fail "systemd-sysusers did not create the user stampd"
STAMP_GID=$(in_c getent group stamp | cut -d: -f3)
[[ $(in_c id -g stampd) == "$STAMP_GID" ]] || fail "stampd's primary group is not stamp"
[[ $(in_c stat -c '%a %U %G' /run/stamp) == "750 stampd stamp" ]] ||
  fail "/run/stamp is $(in_c stat -c '%a %U %G' /run/stamp), expected 750 stampd stamp"
# (/lib may be a symbolic link to /usr/lib: compare the files, not the names.)
[[ $(in_c readlink -f "$(in_c systemctl show -p FragmentPath --value stampd)") == "$(in_c readlink -f "$UNIT")" ]] ||
  fail "systemd does not load the installed $UNIT"

# The key file: root's, mode 0600, which the user stampd cannot open; systemd
# hands it over as a credential (docs/service.md, Keys).
KEYS=$(dirname "$CONF")/keys.toml
in_c install -m 0600 /dev/null "$KEYS"
in_c tee "$KEYS" >/dev/null <<EOT
[keys]
k1 = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
EOT
in_c mkdir -p /etc/systemd/system/stampd.service.d
in_c tee /etc/systemd/system/stampd.service.d/keys.conf >/dev/null <<EOT
[Service]
LoadCredential=keys:$KEYS
EOT
in_c systemctl daemon-reload

write_config() { # EXTRA_TOML: the configuration, with EXTRA_TOML appended
  in_c tee "$CONF" >/dev/null <<EOT
[daemon]
interfaces = ["host0"]
key_file = "credential:keys"
[reflector]
enabled = true
[[session]]
name = "peer"
target = "$PEER4"
count = 20
interval = "10ms"
timeout = "1s"
[[session]]
name = "signed"
target = "$PEER4"
count = 5
interval = "10ms"
timeout = "500ms"
auth_key = "k1"
$1
EOT
}
write_config ""
in_c sh -c 'd=$(mktemp -d) && cp -p "$1" "$d/keys" && CREDENTIALS_DIRECTORY=$d "$2" --check-config "$3"
  rc=$?; rm -rf "$d"; exit $rc' sh "$KEYS" "$CT_STAMPD" "$CONF" >/dev/null ||
  fail "the test's configuration is invalid"

step "an upgrade: what a stampd of old, running as root, left behind"
# The unit used to run stampd as root, with /run/stamp and /var/lib/stamp
# root's: run one so, outside the unit, until its socket is there, then stop
# it. Its pins, results store and directories belong to root.
in_c chown root:stamp /run/stamp /var/lib/stamp
in_ct 60 sh -c 'd=$(mktemp -d) && cp -p "$1" "$d/keys" && export CREDENTIALS_DIRECTORY="$d"
  "$2" --config "$3" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 200); do [ -S /run/stamp/stampd.sock ] && break; sleep 0.1; done
  kill -TERM $pid; wait $pid; rc=$?; rm -rf "$d"; exit $rc' sh "$KEYS" "$CT_STAMPD" "$CONF" ||
  fail "stampd as root did not start and stop cleanly"
root_owned=$(in_c find /sys/fs/bpf/stamp /var/lib/stamp -mindepth 1 -user root | wc -l)
((root_owned > 0)) || fail "the root stampd left nothing of root's under /sys/fs/bpf/stamp and /var/lib/stamp"
echo "  $root_owned entries under /sys/fs/bpf/stamp and /var/lib/stamp belong to root"

step "systemctl enable --now stampd"
in_ct 60 systemctl enable --now stampd 2>&1 | sed 's/^/  /' || true
[[ $(in_c systemctl is-active stampd) == active ]] || fail "stampd.service is not active"
in_c journalctl -u stampd -o cat --no-pager | grep -E '^reflector adopted on host0' | sed 's/^/  /' ||
  fail "stampd as the user stampd did not adopt the pins root's stampd left"
foreign=$(in_c find /sys/fs/bpf/stamp /var/lib/stamp /run/stamp ! -user stampd)
[[ -z $foreign ]] || fail "not taken over by the user stampd: $foreign"
[[ $(in_c systemctl show -p Type --value stampd) == notify ]] || fail "the unit is not Type=notify"
status_text=$(in_c systemctl show -p StatusText --value stampd)
[[ -n $status_text ]] || fail "no STATUS= from stampd"
echo "  StatusText: $status_text"
main_pid=$(in_c systemctl show -p MainPID --value stampd)

step "the main process: user stampd, group stamp, three capabilities, the unit's limits"
in_c cat /proc/"$main_pid"/status >"$E2E_WORK/proc-status"
grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Threads):' "$E2E_WORK/proc-status" |
  sed 's/^/  /'
field() { # KEY: its values in /proc/PID/status, separated by one space
  awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$E2E_WORK/proc-status"
}
# real, effective, saved, filesystem
[[ $(field Uid) == "$STAMPD_UID $STAMPD_UID $STAMPD_UID $STAMPD_UID" ]] ||
  fail "stampd runs as uid '$(field Uid)', expected $STAMPD_UID (stampd) throughout"
[[ $(field Gid) == "$STAMP_GID $STAMP_GID $STAMP_GID $STAMP_GID" ]] ||
  fail "stampd runs as gid '$(field Gid)', expected $STAMP_GID (stamp) throughout"
# CAP_NET_ADMIN 12, CAP_PERFMON 38, CAP_BPF 39: 1<<12 | 1<<38 | 1<<39
want_caps=$(printf '%016x' $(((1 << 12) | (1 << 38) | (1 << 39))))
for c in CapEff CapPrm CapAmb CapBnd; do
  [[ $(field $c) == "$want_caps" ]] || fail "$c is $(field $c), expected $want_caps (CAP_BPF CAP_NET_ADMIN CAP_PERFMON)"
done
[[ $(field CapInh) == "$want_caps" ]] || fail "CapInh is $(field CapInh), expected $want_caps (ambient needs it)"
[[ $(field NoNewPrivs) == 1 ]] || fail "NoNewPrivs is $(field NoNewPrivs)"
# LimitNOFILE=65536, unless the container's PID 1 may not go that high (it
# inherits this test's hard limit, which a CI runner may cap lower).
nofile() { in_c cat /proc/"$1"/limits | awk '/^Max open files/ { print $4, $5 }'; }
read -r soft hard < <(nofile "$main_pid")
read -r _ ct_hard < <(nofile 1)
want_nofile=$((ct_hard < 65536 ? ct_hard : 65536))
echo "  open files: $soft soft, $hard hard (the container's PID 1 may go to $ct_hard)"
[[ $soft == "$want_nofile" && $hard == "$want_nofile" ]] ||
  fail "open files limit $soft/$hard, expected $want_nofile (LimitNOFILE=65536)"
for p in MemoryMax=1073741824 TasksMax=16; do
  got=$(in_c systemctl show -p "${p%%=*}" --value stampd)
  [[ $got == "${p#*=}" ]] || fail "${p%%=*} is $got, expected ${p#*=}"
done
# What MemoryMax= must hold: stampd's own memory and its BPF maps (charged
# to the service's cgroup), printed for docs/service.md.
memlock=0
for m in $(in_c find /sys/fs/bpf/stamp -type f); do
  b=$(in_c bpftool -j map show pinned "$m" 2>/dev/null | jq -r '.bytes_memlock // 0') || b=0
  memlock=$((memlock + ${b:-0}))
done
echo "  memory: $(grep -E '^VmRSS' "$E2E_WORK/proc-status" | tr -s ' \t' ' '), BPF maps $((memlock / 1024)) kB;" \
  "$(in_c systemctl show -p MemoryCurrent -p TasksCurrent stampd | tr '\n' ' ')"
# The pins: in the host's bpffs (the container's, here), stampd's own.
pins=$(in_c find /sys/fs/bpf/stamp -mindepth 1 | wc -l)
((pins > 0)) || fail "nothing pinned under /sys/fs/bpf/stamp"
foreign=$(in_c find /sys/fs/bpf/stamp ! -user stampd)
[[ -z $foreign ]] || fail "pins not stampd's: $foreign"
echo "  $pins entries under /sys/fs/bpf/stamp, all the user stampd's:" \
  "$(in_c stat -c '%a %U %G' /sys/fs/bpf/stamp)"
# The key file came as a credential (stampd could not have opened $KEYS).
in_c stat -c '  credential: %n %a %U' /run/credentials/stampd.service/keys ||
  fail "no credential keys for stampd.service"
rc=0
in_c setpriv --reuid=stampd --regid=stamp --clear-groups cat "$KEYS" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "the user stampd can read $KEYS itself: the credential proves nothing"

step "stampctl status as root; the socket is 0660 stampd:stamp"
in_c stampctl status | sed 's/^/  /'
[[ $(in_c stat -c '%a %U %G' /run/stamp/stampd.sock) == "660 stampd stamp" ]] ||
  fail "socket is $(in_c stat -c '%a %U %G' /run/stamp/stampd.sock), expected 660 stampd stamp"

step "a stamp group member reads and may change; a non-member cannot connect"
in_c systemd-sysusers --inline 'u stpmember - "stamp member"' 'm stpmember stamp' \
  'u stpother - "not a member"'
as_user stpmember stampctl status >/dev/null || fail "stampctl status as a stamp group member"
as_user stpmember stampctl session list >/dev/null || fail "stampctl session list as a member"
rc=0
as_user stpmember stampctl session stop no-such-session 2>"$E2E_WORK/member.err" || rc=$?
# Authorised: the answer is about the session, not about the caller.
[[ $rc == 1 ]] && grep -q not_found "$E2E_WORK/member.err" ||
  { cat "$E2E_WORK/member.err"; fail "a stamp group member may not stop a session (exit $rc)"; }
rc=0
as_user stpother stampctl status >/dev/null 2>"$E2E_WORK/other.err" || rc=$?
[[ $rc == 3 ]] && grep -q 'Permission denied' "$E2E_WORK/other.err" ||
  { cat "$E2E_WORK/other.err"; fail "a non-member reached the socket (exit $rc)"; }
# Past the socket's mode (CAP_DAC_OVERRIDE), a non-member still only reads.
other_dac=(setpriv --reuid=stpother --regid=stpother --init-groups
  --inh-caps=+dac_override --ambient-caps=+dac_override)
in_c "${other_dac[@]}" stampctl status >/dev/null || fail "read-only status for a non-member"
rc=0
in_c "${other_dac[@]}" stampctl session stop no-such-session 2>"$E2E_WORK/other.err" || rc=$?
[[ $rc == 1 ]] && grep -q permission_denied "$E2E_WORK/other.err" ||
  { cat "$E2E_WORK/other.err"; fail "a non-member was not refused with permission_denied (exit $rc)"; }
echo "  member: status ok, stop -> not_found; non-member: cannot connect (exit 3);"
echo "  non-member past the socket mode: status ok, stop -> permission_denied"

step "a session from the container to the peer: 20 packets at 10 ms"
in_ct 30 stampctl --json session start --target "$PEER4" --count 20 --interval 10ms \
  >"$E2E_WORK/adhoc.json" || fail "stampctl session start failed"
jq -e '.sent == 20 and .received == 20 and .lost == 0' "$E2E_WORK/adhoc.json" >/dev/null ||
  { cat "$E2E_WORK/adhoc.json"; fail "the session lost packets"; }
jq -c '{session, target, sent, received, lost, rtt_avg_ns: .rtt_ns.avg}' "$E2E_WORK/adhoc.json"
in_ct 30 stampctl --json session start peer >"$E2E_WORK/peer.json" ||
  fail "the configured session failed"
jq -e '.received == 20 and .lost == 0' "$E2E_WORK/peer.json" >/dev/null ||
  { cat "$E2E_WORK/peer.json"; fail "the configured session lost packets"; }
# Signed with the credential's key: the peer reflects unauthenticated, so
# its replies carry the request's HMAC field back, which the reply's own
# octets do not match: every reply is received and discarded as a failure.
rc=0
in_ct 30 stampctl --json session start signed >"$E2E_WORK/signed.json" || rc=$?
jq -c '{session, sent, received, authenticated, auth_failures}' "$E2E_WORK/signed.json"
jq -e '.sent == 5 and .authenticated == true and .auth_failures == 5' "$E2E_WORK/signed.json" \
  >/dev/null || fail "the authenticated session did not sign with the credential's key (exit $rc)"
# Under systemd stampd writes to the journal natively, with its fields.
in_c journalctl -u stampd -o json --no-pager |
  jq -se --arg t "$PEER4" 'any(.[]; .STAMP_SESSION != null and .STAMP_TARGET == $t)' >/dev/null ||
  fail "no journal entry with STAMP_SESSION and STAMP_TARGET=$PEER4"

EVERY='[[session]]
name = "every"
target = "'$PEER4'"
count = 5
interval = "10ms"
timeout = "500ms"
schedule = "@every 2s"'
finished_every() { # the number of "session every finished" lines with no loss
  in_c journalctl -u stampd -o cat --no-pager |
    grep -cE '^session every finished: .*sent 5 received 5 lost 0' || true
}

step "systemctl reload with a scheduled session (@every 2s) added"
write_config "$EVERY"
in_ct 30 systemctl reload stampd || fail "systemctl reload failed on a good configuration"
in_c journalctl -u stampd -o cat --no-pager | grep -E '^reloaded ' | tail -1 | sed 's/^/  /'
for _ in $(seq 60); do (($(finished_every) >= 2)) && break; sleep 0.2; done
(($(finished_every) >= 2)) || fail "the scheduled session did not run twice within 12 s"
in_c journalctl -u stampd -o cat --no-pager | grep -E '^session every finished' | tail -2 |
  sed 's/^/  /'
reloads() { in_c journalctl -u stampd -o cat --no-pager | grep -cE '^reloaded ' || true; }

step "SIGHUP reloads too"
before=$(reloads)
in_c systemctl kill -s HUP --kill-whom=main stampd
for _ in $(seq 50); do (($(reloads) > before)) && break; sleep 0.1; done
(($(reloads) > before)) || fail "no reload after SIGHUP"

step "a bad configuration: the reload fails, stampd keeps running the old one"
write_config "$EVERY
histogram_bins = \"many\""
bad_line=$(in_c grep -n '^histogram_bins = "many"' "$CONF" | cut -d: -f1)
rc=0
in_ct 30 systemctl reload stampd 2>/dev/null || rc=$?
[[ $rc != 0 ]] || fail "systemctl reload succeeded on a bad configuration"
[[ $(in_c systemctl is-active stampd) == active ]] || fail "stampd is not active after a bad reload"
rc=0
in_c stampctl reload 2>"$E2E_WORK/reload.err" || rc=$?
[[ $rc == 1 ]] || fail "stampctl reload of a bad file exited $rc, expected 1"
head -1 "$E2E_WORK/reload.err" | grep -qE "^${CONF//./\\.}:$bad_line:[0-9]+: " ||
  { cat "$E2E_WORK/reload.err"; fail "stampctl reload: no FILE:LINE:COLUMN line first"; }
echo "  stampctl reload: $(head -1 "$E2E_WORK/reload.err")"
in_c journalctl -u stampd -o cat --no-pager | grep -E "${CONF//./\\.}:$bad_line:[0-9]+" \
  >"$E2E_WORK/journal-bad.txt" || fail "the journal does not show the reload error with FILE:LINE:COLUMN"
sed 's/^/  journal: /' "$E2E_WORK/journal-bad.txt" | tail -2
in_c stampctl --json session list >"$E2E_WORK/list.json"
jq -e '.sessions | any(.name == "every" and .schedule == "@every 2s")' "$E2E_WORK/list.json" \
  >/dev/null || { cat "$E2E_WORK/list.json"; fail "the old configuration was not kept"; }
n=$(finished_every)
for _ in $(seq 40); do (($(finished_every) > n)) && break; sleep 0.2; done
(($(finished_every) > n)) || fail "the scheduled session stopped running after the bad reload"
write_config "$EVERY"
in_ct 30 systemctl reload stampd || fail "systemctl reload failed after the file was fixed"

step "systemctl restart while the peer sends 200 packets/s to the container's reflector"
# nsenter execs the probe, so $! is the probe itself.
nsenter --net=/run/netns/"$NS" "$PROBE" --target "$CT4" --count 2000 --interval 5ms --json \
  >"$E2E_WORK/probe.json" &
probe=$!
E2E_PIDS+=("$probe")
sleep 2
restart_at=$(in_c date +%s)
in_ct 60 systemctl restart stampd || fail "systemctl restart failed"
[[ $(in_c systemctl is-active stampd) == active ]] || fail "stampd is not active after restart"
kill -0 "$probe" 2>/dev/null || fail "the probe ended before the restart was over"
rc=0
wait "$probe" || rc=$?
jq -e '.sent == 2000 and .ok == 2000 and .lost == 0 and .pass' "$E2E_WORK/probe.json" >/dev/null ||
  { cat "$E2E_WORK/probe.json"; fail "packets lost or bad replies across the restart (probe exit $rc)"; }
jq -c '{sent, ok, lost, bad, udp_checksum_errors, rtt_p99_ns: .rtt_ns.p99}' "$E2E_WORK/probe.json"
in_c journalctl -u stampd -o cat --no-pager --since "@$restart_at" |
  grep -E '^reflector adopted on host0' | sed 's/^/  /' ||
  fail "the restarted stampd did not adopt the pinned reflector"

step "systemctl stop: the pinned reflector keeps answering; stampd --teardown removes it"
in_ct 60 systemctl stop stampd
rc=0
state=$(in_c systemctl is-active stampd) || rc=$?
[[ $state == inactive ]] || fail "stampd is '$state' after systemctl stop"
in_ns "$NS" "$PROBE" --target "$CT4" --count 20 --interval 5ms --json >"$E2E_WORK/stopped.json" || true
jq -e '.ok == 20' "$E2E_WORK/stopped.json" >/dev/null ||
  { cat "$E2E_WORK/stopped.json"; fail "the reflector stopped answering with stampd stopped"; }
in_c "$CT_STAMPD" --teardown --config "$CONF" | sed 's/^/  /'
left=$(in_c sh -c 'find /sys/fs/bpf/stamp -mindepth 1 2>/dev/null; true')
[[ -z $left ]] || fail "left under /sys/fs/bpf/stamp: $left"
in_ns "$NS" "$PROBE" --target "$CT4" --count 5 --interval 5ms --timeout 300ms --json \
  >"$E2E_WORK/gone.json" || true
jq -e '.ok == 0' "$E2E_WORK/gone.json" >/dev/null || fail "something still answers after teardown"
in_c systemctl disable stampd 2>/dev/null

step "systemd-analyze security stampd.service (in the container)"
in_c systemd-analyze security stampd.service --no-pager >"$E2E_WORK/security.txt" 2>&1 || true
grep -q 'Overall exposure level' "$E2E_WORK/security.txt" ||
  { cat "$E2E_WORK/security.txt"; fail "systemd-analyze security printed no exposure level"; }
# Every line that is not a pass, then the score.
grep -vE '^✓' "$E2E_WORK/security.txt" | grep -vE '^\s*$' | sed 's/^/  /'
# docs/service.md justifies each exposure left; the sum must not grow.
score=$(sed -nE 's/.*Overall exposure level for stampd.service: ([0-9.]+).*/\1/p' "$E2E_WORK/security.txt")
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.1) }' ||
  fail "systemd-analyze security: exposure '$score', more than 2.1"
echo "  exposure $score <= 2.1"
echo "PASS: system_test"
