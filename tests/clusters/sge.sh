#!/usr/bin/env bash
# sge.sh - a single-node Son of Grid Engine for paraschut's tests (Debian 12, run as root).
#
#   tests/clusters/sge.sh start    install gridengine if absent, configure one host with fast
#                                  scheduling, start qmaster + execd, run a probe job, and print
#                                  a last line "SGE READY ...". Idempotent; ~2 s when already up.
#   tests/clusters/sge.sh stop     stop execd (killing its jobs) and qmaster, by PID only.
#   tests/clusters/sge.sh status   daemon PIDs and `qstat -f`.
#   tests/clusters/sge.sh stop-execd / start-execd / restart-execd
#                                  only sge_execd (fault tests): SIGTERM leaves its jobs running
#                                  under their shepherds; start-execd waits until a job runs again.
#
# Environment: SGE_SLOTS (default nproc), SGE_TIMEOUT (60 s per wait), SGE_ALLOW_REMOVE=1 to let
# apt remove packages that conflict with gridengine-client (slurm-wlm-torque ships /usr/bin/qsub).
set -euo pipefail

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default DEBIAN_FRONTEND=noninteractive
PKGS="gridengine-common gridengine-client gridengine-master gridengine-exec"
LIB=/usr/lib/gridengine                 # the daemons and gethostname
BIN=$SGE_ROOT/bin/lx-$(case "$(uname -m)" in aarch64) echo arm64 ;; *) echo amd64 ;; esac)  # real clients
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOL=/var/spool/gridengine
RUN=/var/run/gridengine
QUEUE=all.q PE=smp HGRP=@allhosts ADMIN=sgeadmin
SLOTS=${SGE_SLOTS:-$(nproc)}
TIMEOUT=${SGE_TIMEOUT:-60}
T0=$EPOCHREALTIME

elapsed() { printf '%.1f' "$(awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"; }
log() { echo "[sge.sh $(elapsed "$T0")s] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
q() { "$BIN/$1" "${@:2}"; }             # a client command, without /usr/bin's slow wrapper

# -- processes: by PID file only; a zombie counts as gone (PID 1 may be slow to reap) --------------
alive() { # PID [COMM]
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  case "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" in Z | X | "") return 1 ;; esac
  [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}
pid_from() { # COMM FILE... : the first live PID named in one of the files
  local f p
  for f in "${@:2}"; do
    [ -r "$f" ] && p=$(tr -dc 0-9 <"$f") && alive "$p" "$1" && { echo "$p"; return 0; }
  done
  return 1
}
qmaster_pid() { pid_from sge_qmaster "$RUN/qmaster.pid" "$SPOOL/qmaster/qmaster.pid"; }
execd_pid() { pid_from sge_execd "$RUN/execd.pid" "$SPOOL"/execd/*/execd.pid; }
wait_gone() { # PID SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
  return 1
}
terminate() { # PID: SIGTERM, then SIGKILL
  alive "$1" || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait_gone "$1" 20 || { kill -KILL "$1" 2>/dev/null || true; wait_gone "$1" 5 || log "PID $1 survived SIGKILL"; }
}
daemon() { # the real daemon with a clean environment; it switches to sgeadmin and forks
  (cd / && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C SGE_ROOT="$SGE_ROOT" SGE_CELL="$SGE_CELL" \
    SGE_QMASTER_PIDFILE="$RUN/qmaster.pid" SGE_EXECD_PIDFILE="$RUN/execd.pid" "$@" </dev/null >/dev/null 2>&1)
}

# -- install ------------------------------------------------------------------------------------
apt_get() { # apt-get, waiting while another installer holds the dpkg lock
  local i out
  for i in 1 2 3 4 5 6 7 8 9 10; do
    out=$(apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1) && return 0
    grep -qiE 'could not get lock|unable to acquire|another process' <<<"$out" || { echo "$out" | tail -20 >&2; return 1; }
    log "apt is busy (try $i), waiting"; sleep 15
  done
  return 1
}
install_packages() {
  local p missing="" host plan
  for p in $PKGS; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  host=$(hostname -f 2>/dev/null || uname -n)
  for p in $PKGS; do # answer the packages' debconf questions up front: no prompts
    printf '%s shared/gridengineconfig boolean true\n%s shared/gridenginecell string %s\n%s shared/gridenginemaster string %s\n' \
      "$p" "$p" "$SGE_CELL" "$p" "$host"
  done | debconf-set-selections
  apt_get update  # stale package lists would name versions the mirror no longer has
  plan=$(apt-get -s -o Debug::NoLocking=1 install --no-install-recommends $PKGS 2>&1) || die "apt-get -s: $plan"
  if grep -q '^Remv ' <<<"$plan" && [ "${SGE_ALLOW_REMOVE:-0}" != 1 ]; then
    grep '^Remv ' <<<"$plan" >&2
    die "installing gridengine would remove the packages above; set SGE_ALLOW_REMOVE=1 to allow it"
  fi
  log "installing$missing"
  # No init system here: forbid package scripts to start daemons (this script starts them)
  local policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; policy=1
  fi
  apt_get install -y --no-install-recommends $PKGS || rc=$?
  [ "$policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get install failed"
}

# -- what the postinst scripts leave undone in a container (no init, loopback host name) ----------
HOST=""
prepare() {
  id "$ADMIN" >/dev/null 2>&1 || die "user $ADMIN is missing (did gridengine-common's postinst run?)"
  if ! getent hosts "$(uname -n)" >/dev/null; then
    log "host name $(uname -n) does not resolve: adding it to /etc/hosts"
    printf '\n127.0.1.1 %s\n' "$(uname -n)" >>/etc/hosts
  fi
  install -d -o "$ADMIN" -g "$ADMIN" "$COMMON" "$RUN" "$SPOOL/qmaster/job_scripts" "$SPOOL/spooldb" "$SPOOL/execd"
  [ -s "$COMMON/bootstrap" ] || install -m 644 -o "$ADMIN" -g "$ADMIN" /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
  if [ ! -e "$SPOOL/spooldb/sge" ]; then # the postinst does this only on a first install
    log "initialising the spool"
    su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL $SPOOL/spooldb $ADMIN" "$ADMIN" >&2
  fi
  HOST=$("$LIB/gethostname" -name)
  [ -n "$HOST" ] || die "SGE cannot tell this host's name"
  [ "$(cat "$COMMON/act_qmaster" 2>/dev/null)" = "$HOST" ] || echo "$HOST" >"$COMMON/act_qmaster"
}

# When the host name resolves to 127.0.0.1 and that reverses to "localhost", commlib refuses every
# client ("client IP resolved to host name localhost"): host_aliases makes them one host.
aliases() { # -> 0 when host_aliases changed
  local ip n names="" want=""
  ip=$(getent ahostsv4 "$HOST" | awk 'NR == 1 { print $1 }')
  for n in $(getent hosts "$ip" | awk '{ print $2 }') $(case $ip in 127.*) getent hosts 127.0.0.1 | awk '{ print $2 }' ;; esac); do
    [ "$n" = "$HOST" ] || [[ " $names " == *" $n "* ]] || names="$names $n"
  done
  [ -z "$names" ] || want="$HOST$names"
  [ "$(cat "$COMMON/host_aliases" 2>/dev/null)" != "$want" ] || return 1
  if [ -n "$want" ]; then echo "$want" >"$COMMON/host_aliases"; else rm -f "$COMMON/host_aliases"; fi
  log "host_aliases: ${want:-none}"
}

start_qmaster() { # $1 = 1 to restart a running qmaster
  local p i
  if p=$(qmaster_pid); then
    [ "$1" = 1 ] || return 0
    log "restarting qmaster $p"; terminate "$p"
  fi
  rm -f "$RUN/qmaster.pid"; daemon "$LIB/sge_qmaster"
  for ((i = 0; i < TIMEOUT * 10; i++)); do q qconf -sh >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -5 "$SPOOL/qmaster/messages" >&2 || true
  die "qmaster did not answer within ${TIMEOUT}s"
}

# -- configuration: file forms of qconf, applied only when something differs ----------------------
CFG=""
unwrap() { sed -e ':a' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;ba}'; }  # qconf wraps long values with "\"
set_keys() { # DUMPFILE KEY VALUE...: the dump with those keys replaced (or added)
  local file=$1; shift
  printf '%s %s\n' "$@" | awk 'NR == FNR { k = $1; sub(/^[^ ]+ /, ""); v[k] = $0; next }
    ($1 in v) { printf "%-28s %s\n", $1, v[$1]; done[$1] = 1; next } { print }
    END { for (k in v) if (!(k in done)) printf "%-28s %s\n", k, v[k] }' - "$file"
}
same() { diff -q <(tr -s ' \t' ' ' <"$1") <(tr -s ' \t' ' ' <"$2") >/dev/null; }
define() { # KIND NAME FILE: add (-A) or modify (-M) a host group, PE, queue or exec host
  local show=$1 name=$2 file=$3 add=$4 mod=$5
  if q qconf "$show" "$name" >/dev/null 2>&1; then q qconf "$mod" "$file" >&2; else q qconf "$add" "$file" >&2; fi
}
configure() {
  CFG=$(mktemp -d); trap 'rm -rf "$CFG"' EXIT
  # root may run jobs (min_uid 1000 by default); accounting written at once (else qacct lags 15 s)
  q qconf -sconf global | unwrap >"$CFG/now"
  set_keys "$CFG/now" min_uid 0 min_gid 0 load_report_time 00:00:10 reporting_params \
    "accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00" >"$CFG/global"
  same "$CFG/now" "$CFG/global" || q qconf -Mconf "$CFG/global" >&2 # the file's name is the config's name
  # schedule every second and right after a submit or a finish (a trivial job then takes ~1 s)
  q qconf -ssconf | unwrap >"$CFG/now"
  set_keys "$CFG/now" schedule_interval 0:0:1 flush_submit_sec 1 flush_finish_sec 1 >"$CFG/sched"
  same "$CFG/now" "$CFG/sched" || q qconf -Msconf "$CFG/sched" >&2
  grep -qx "$HOST" <<<"$(q qconf -sh 2>/dev/null)" || q qconf -ah "$HOST" >&2
  grep -qx "$HOST" <<<"$(q qconf -ss 2>/dev/null)" || q qconf -as "$HOST" >&2
  printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' \
    "$HOST" >"$CFG/host"
  define -se "$HOST" "$CFG/host" -Ae -Me
  printf 'group_name %s\nhostlist %s\n' "$HGRP" "$HOST" >"$CFG/hgrp"
  define -shgrp "$HGRP" "$CFG/hgrp" -Ahgrp -Mhgrp
  printf '%s\n' "pe_name $PE" "slots 999" "user_lists NONE" "xuser_lists NONE" "start_proc_args NONE" \
    "stop_proc_args NONE" 'allocation_rule $pe_slots' "control_slaves FALSE" "job_is_first_task TRUE" \
    "urgency_slots min" "accounting_summary FALSE" "qsort_args NONE" >"$CFG/pe"
  define -sp "$PE" "$CFG/pe" -Ap -Mp
  write_starter
  queue_file >"$CFG/queue"
  define -sq "$QUEUE" "$CFG/queue" -Aq -Mq
}

# The shepherd starts jobs with ruid root and euid sgeadmin, so glibc's secure-exec drops TMPDIR and
# LD_* from the job. This starter puts them back from the job's environment file, then starts the
# job as SGE would (binary jobs through "$SHELL -c"). With unix_behavior, shebangs are honoured.
write_starter() {
  cat >"$CFG/starter" <<'EOF'
#!/bin/sh
# starter_method written by paraschut's tests/clusters/sge.sh: restore what secure-exec dropped.
if [ -r "$SGE_JOB_SPOOL_DIR/environment" ]; then
  while IFS= read -r line; do
    case $line in
      TMPDIR=* | LD_*=* | TZDIR=* | LOCPATH=* | NLSPATH=* | GCONV_PATH=* | HOSTALIASES=* | RES_OPTIONS=* | LOCALDOMAIN=*) export "$line" ;;
    esac
  done <"$SGE_JOB_SPOOL_DIR/environment"
fi
if grep -qx handle_as_binary=1 "$SGE_JOB_SPOOL_DIR/config" && ! grep -qx no_shell=1 "$SGE_JOB_SPOOL_DIR/config"; then
  exec "${SGE_STARTER_SHELL_PATH:-/bin/sh}" -c "$*"
fi
exec "$@"
EOF
  cmp -s "$CFG/starter" "$COMMON/sge_starter.sh" || install -m 755 "$CFG/starter" "$COMMON/sge_starter.sh"
}
queue_file() {
  local k
  printf '%-20s %s\n' qname "$QUEUE" hostlist "$HGRP" seq_no 0 load_thresholds NONE suspend_thresholds NONE \
    nsuspend 1 suspend_interval 00:05:00 priority 0 min_cpu_interval 00:05:00 processors UNDEFINED \
    qtype "BATCH INTERACTIVE" ckpt_list NONE pe_list "$PE" rerun FALSE slots "$SLOTS" tmpdir /tmp \
    shell /bin/sh prolog NONE epilog NONE shell_start_mode unix_behavior \
    starter_method "$COMMON/sge_starter.sh" suspend_method NONE resume_method NONE terminate_method NONE \
    notify 00:00:60 owner_list NONE user_lists NONE xuser_lists NONE subordinate_list NONE \
    complex_values NONE projects NONE xprojects NONE calendar NONE initial_state default
  for k in rt cpu fsize data stack core rss vmem; do printf '%-20s INFINITY\n' "s_$k" "h_$k"; done
}

# -- execd, readiness ---------------------------------------------------------------------------
start_execd() { # $1 = 1 to restart a running execd
  local p
  if p=$(execd_pid); then
    [ "$1" = 1 ] || return 0
    log "restarting execd $p"; terminate "$p"
  fi
  rm -f "$RUN/execd.pid"; daemon "$LIB/sge_execd"
}
wait_ready() { # the queue instance reports a load and no state flags, then a job really runs
  local i line out
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    line=$(q qstat -f -q "$QUEUE@$HOST" 2>/dev/null | awk -v qi="$QUEUE@$HOST" '$1 == qi')
    awk '{ exit !(NF == 5 && $4 != "-NA-") }' <<<"$line" && break
    sleep 0.1
  done
  ((i < TIMEOUT * 10)) || { q qstat -f >&2 || true; die "queue $QUEUE@$HOST not ready: '$line'"; }
  PROBE_T0=$EPOCHREALTIME
  out=$(cd /tmp && timeout "$TIMEOUT" "$BIN/qsub" -sync y -N paraschut_probe -q "$QUEUE" -b y \
    -o /dev/null -e /dev/null /bin/true 2>&1) || die "the probe job failed: $out"
}

start() {
  local t_install=$EPOCHREALTIME restart=0
  install_packages
  t_install=$(elapsed "$t_install")
  prepare
  if aliases; then restart=1; fi
  start_qmaster "$restart"
  configure
  start_execd "$restart"
  wait_ready
  echo "SGE READY host=$HOST queue=$QUEUE slots=$SLOTS pe=$PE SGE_ROOT=$SGE_ROOT bin=$BIN" \
    "qmaster_pid=$(qmaster_pid) execd_pid=$(execd_pid) (install ${t_install}s, probe job $(elapsed "$PROBE_T0")s, total $(elapsed "$T0")s)"
}

stop() {
  local qp ep f p shepherds=""
  qp=$(qmaster_pid || true); ep=$(execd_pid || true)
  for f in "$SPOOL"/execd/*/active_jobs/*/pid; do # shepherds of running jobs
    [ -r "$f" ] && p=$(tr -dc 0-9 <"$f") && alive "$p" sge_shepherd && shepherds="$shepherds $p"
  done
  if [ -n "$ep" ]; then # SGE's own way first (execd kills its jobs), then by PID
    [ -z "$qp" ] || q qconf -kej "$("$LIB/gethostname" -aname)" >/dev/null 2>&1 || true
    wait_gone "$ep" 10 || terminate "$ep"
  fi
  for p in $shepherds; do
    alive "$p" sge_shepherd || continue
    for f in "$SPOOL"/execd/*/active_jobs/*/job_pid; do # each job is its own process group
      [ -r "$f" ] && kill -TERM -- "-$(tr -dc 0-9 <"$f")" 2>/dev/null || true
    done
    terminate "$p"
  done
  if [ -n "$qp" ]; then
    q qconf -km >/dev/null 2>&1 || true
    wait_gone "$qp" 20 || terminate "$qp"
  fi
  rm -f "$RUN/qmaster.pid" "$RUN/execd.pid"
  echo "SGE STOPPED (qmaster ${qp:-not running}, execd ${ep:-not running}; $(elapsed "$T0")s)"
}

status() {
  echo "qmaster: $(qmaster_pid || echo 'not running')  execd: $(execd_pid || echo 'not running')"
  if qmaster_pid >/dev/null; then q qstat -f; fi
}

[ "$(id -u)" = 0 ] || die "run me as root"
stop_execd() { # execd only: qconf -ke (not -kej), so jobs and their shepherds go on; by PID if need be
  local ep
  if ep=$(execd_pid); then
    q qconf -ke "$("$LIB/gethostname" -aname)" >/dev/null 2>&1 || true
    wait_gone "$ep" 10 || terminate "$ep"
    log "stopped execd $ep"
  fi
  rm -f "$RUN/execd.pid"
  echo "SGE EXECD STOPPED"
}
start_execd_only() {
  qmaster_pid >/dev/null || die "qmaster is not running: use start"
  HOST=$("$LIB/gethostname" -name)
  start_execd 0
  wait_ready
  echo "SGE EXECD READY execd_pid=$(execd_pid) ($(elapsed "$T0")s)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  stop-execd) stop_execd ;;
  start-execd) start_execd_only ;;
  restart-execd) stop_execd; start_execd_only ;;
  *) echo "usage: $0 {start|stop|status|stop-execd|start-execd|restart-execd}" >&2; exit 2 ;;
esac
