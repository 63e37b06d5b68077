#!/usr/bin/env bash
# slurm.sh - a real single-node Slurm (Debian 12, slurm-wlm 22.05) for paraschut's cluster tests,
# with Slurm's PBS-compatible qsub/qstat/qdel in a private prefix (for the pbs executor).
#
#   tests/clusters/slurm.sh [start]  install if absent, configure, start munged/slurmctld/slurmd,
#                                    wait until the node takes jobs; last line "SLURM READY ..."
#   tests/clusters/slurm.sh stop     cancel all jobs, stop only the daemons this script started
#   tests/clusters/slurm.sh status   daemons and sinfo
#   tests/clusters/slurm.sh stop-node / start-node / restart-node
#                                    only slurmd (fault tests): jobs keep running under their
#                                    slurmstepd; start-node waits until the node takes jobs again
#
# Idempotent (a second start only checks, ~0.2 s). Root only. Knobs, none persisted (a start
# without them rewrites the defaults): SLURM_NODE (hostname -s), SLURM_CPUS (nproc; more is faked),
# SLURM_MINJOBAGE (300: seconds finished jobs stay in squeue/qstat), SLURM_READY_TIMEOUT (60).
#
# slurm-wlm-torque is never installed system-wide: it Conflicts with gridengine-client and
# torque-client (all own /usr/bin/qsub) and apt would remove them. It is unpacked into
# /opt/slurm-torque instead: use --no-remove always, and give the pbs executor
# bin_dir=/opt/slurm-torque/usr/bin.
set -euo pipefail

NODE="${SLURM_NODE:-$(hostname -s)}"
CPUS="${SLURM_CPUS:-$(nproc)}"
MINJOBAGE="${SLURM_MINJOBAGE:-300}"
READY_TIMEOUT="${SLURM_READY_TIMEOUT:-60}"
RUN_DIR=/run/paraschut-slurm              # pidfiles of the daemons WE started
CONF=/etc/slurm/slurm.conf
LOG_DIR=/var/log/slurm
TORQUE=/opt/slurm-torque
TORQUE_BIN="$TORQUE/usr/bin"
PKGS=(munge slurm-client slurmctld slurmd slurm-wlm slurm-wlm-basic-plugins
      libslurm-perl libslurmdb-perl libswitch-perl)
APT=(apt-get -q -o DPkg::Lock::Timeout=600)
export DEBIAN_FRONTEND=noninteractive

log() { echo "[slurm.sh $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
[ "$(id -u)" = 0 ] || die "must run as root"

running() { # running PIDFILE COMM: print the pid when the file names a live COMM process
  local p; [ -s "$1" ] || return 1; p="$(tr -dc 0-9 < "$1")"
  [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
}
wait_for() { # wait_for SECONDS CMD...: retry every 0.1 s
  local end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

install_packages() {
  local p missing=0 policy=0
  for p in "${PKGS[@]}"; do installed "$p" || missing=1; done
  [ "$missing" = 0 ] && return 0
  log "installing ${PKGS[*]}"
  "${APT[@]}" update >/dev/null  # stale package lists would name versions the mirror no longer has
  # No systemd here: forbid package scripts to start daemons (unless the image already does).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; policy=1
  fi
  local rc=0
  "${APT[@]}" -y --no-install-recommends --no-remove install "${PKGS[@]}" > /tmp/paraschut-slurm-apt.log 2>&1 || rc=$?
  [ "$policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { tail -20 /tmp/paraschut-slurm-apt.log >&2; die "apt-get install failed"; }
}

install_torque_wrappers() { # private copy of slurm-wlm-torque matching slurm-client
  local ver tmp b; ver="$(dpkg-query -W -f='${Version}' slurm-client)"
  if [ "$(cat "$TORQUE/.version" 2>/dev/null)" != "$ver" ] || [ ! -x "$TORQUE_BIN/qsub" ]; then
    log "unpacking slurm-wlm-torque $ver into $TORQUE"
    tmp="$(mktemp -d)"; chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && "${APT[@]}" download "slurm-wlm-torque=$ver" >/dev/null 2>&1) ||
      { "${APT[@]}" update >/dev/null; (cd "$tmp" && "${APT[@]}" download "slurm-wlm-torque=$ver" >/dev/null); } ||
      die "cannot download slurm-wlm-torque=$ver"
    rm -rf "$TORQUE"; dpkg-deb -x "$tmp"/slurm-wlm-torque_*.deb "$TORQUE"; rm -rf "$tmp"
    echo "$ver" > "$TORQUE/.version"
  fi
  # qsub runs ${FindBin::Bin}/sbatch (salloc, srun): they must sit next to it.
  for b in sbatch salloc srun; do ln -sfn "/usr/bin/$b" "$TORQUE_BIN/$b"; done
}

write_if_changed() { # write_if_changed FILE < content; succeeds only when FILE changed
  local tmp; tmp="$(mktemp)"; cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m 644 "$tmp" "$1"; rm -f "$tmp"
}

configure() {
  CHANGED=0
  install -d -o munge -g munge -m 700 /etc/munge /var/log/munge
  install -d -o munge -g munge -m 711 /var/lib/munge
  [ -s /etc/munge/munge.key ] || mungekey -c -k /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -m 755 /etc/slurm /etc/slurm/plugstack.conf.d
  install -d -o slurm -g slurm -m 755 /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$LOG_DIR"
  local mem overrides=""
  mem="$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
  [ -n "$mem" ] || mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 ))
  mem=$(( mem * 95 / 100 ))     # more than slurmd detects would drain the node
  [ "$CPUS" -le "$(nproc)" ] || overrides="SlurmdParameters=config_overrides"
  write_if_changed "$CONF" <<EOF && CHANGED=1
# Written by paraschut tests/clusters/slurm.sh: one node, no cgroups, no slurmdbd.
ClusterName=paraschut
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
# a trivial job starts in ~1 s instead of ~3 s
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job with no --mem takes the whole node's memory: one job at a time
DefMemPerCPU=$(( mem / CPUS ))
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
JobAcctGatherParams=OverMemoryKill
# no slurmdbd, so no sacct: finished jobs are appended to the completion log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
# finished jobs stay visible to squeue -t all, scontrol and qstat this long
MinJobAge=$MINJOBAGE
$overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
  # spank_pbs gives jobs PBS_JOBID, PBS_O_WORKDIR, ...
  local spank; spank="$(dpkg -L slurm-wlm-basic-plugins | grep '/spank_pbs\.so$' | head -1)"
  [ -z "$spank" ] || echo "optional $spank" | write_if_changed /etc/slurm/plugstack.conf.d/pbs.conf || true
}

stop_pid() { # stop_pid NAME PID: TERM, then KILL after 20 s
  kill -TERM "$2" 2>/dev/null || return 0
  wait_for 20 sh -c "! kill -0 $2" || { log "$1 ($2) ignored TERM: KILL"; kill -KILL "$2" 2>/dev/null || true; }
}

start_daemon() { # start_daemon NAME PIDFILE CMD...: (re)start unless running with an unchanged config
  local name="$1" pidfile="$2" p; shift 2
  if p="$(running "$pidfile" "$name")"; then
    [ "$CHANGED" = 1 ] || return 0
    log "slurm.conf changed: restarting $name"; stop_pid "$name" "$p"   # jobs survive restarts
  fi
  rm -f "$pidfile"                     # slurmctld leaves a stale one, which breaks its prerm
  local saved=/var/lib/slurm/slurmctld/clustername  # state of another ClusterName: slurmctld refuses it
  if [ "$name" = slurmctld ] && [ -s "$saved" ] && [ "$(cat "$saved")" != paraschut ]; then
    log "removing $saved (saved by cluster '$(cat "$saved")')"; rm -f "$saved"
  fi
  "$@"
  wait_for 15 running "$pidfile" "$name" || die "$name did not start (see $LOG_DIR/$name.log)"
  mkdir -p "$RUN_DIR"; running "$pidfile" "$name" > "$RUN_DIR/$name.pid"
  STARTED="$STARTED $name"
}

node_field() { scontrol -o show node "$NODE" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sched_cycles() { sdiag 2>/dev/null | awk '/Main schedule statistics/{f=1} f&&/Total cycles:/{print $3; exit}'; }

node_ready() { # the running slurmd registered, the node takes jobs, the scheduler has cycled
  local st reg born ticks
  st="$(node_field State)"; reg="$(date -d "$(node_field SlurmdStartTime)" +%s 2>/dev/null || echo 0)"
  ticks="$(sed 's/^.*) //' "/proc/$(cat /run/slurmd.pid)/stat" | awk '{print $20}')"
  born=$(( $(awk '/^btime/{print $2}' /proc/stat) + ticks / $(getconf CLK_TCK) ))
  case "$st" in *DRAIN*|*DOWN*) scontrol update nodename="$NODE" state=resume 2>/dev/null; return 1;; esac
  case "$st" in IDLE*|MIXED*|ALLOCATED*) ;; *) return 1;; esac
  if [ "$reg" -lt $(( born - 2 )) ]; then               # IDLE restored from state files is stale,
    # unless a controller that kept an earlier registration across a quick slurmd restart: after
    # a few seconds, a probe job that runs settles it
    [ "$(date +%s)" -ge $(( ${READY_SINCE:-0} + 5 )) ] || return 1
    timeout 30 srun -N 1 -n 1 -t 1 true >/dev/null 2>&1 || return 1
  fi
  case "$STARTED" in *slurmctld*) [ "${SCHED:-0}" -ge 1 ] || { SCHED="$(sched_cycles)"; [ "${SCHED:-0}" -ge 1 ]; };; esac
}

do_start() {
  local t0 t1 t2; t0="$(now)"; STARTED=""
  install_packages; install_torque_wrappers
  t1="$(now)"
  configure
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 755 /run/munge
    CHANGED=0 start_daemon munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
    wait_for 10 sh -c 'munge -n | unmunge' || die "munge does not work (see /var/log/munge/munged.log)"
  fi
  start_daemon slurmctld /run/slurmctld.pid /usr/sbin/slurmctld
  wait_for 15 sh -c 'scontrol ping | grep -q "is UP"' || die "slurmctld does not answer"
  start_daemon slurmd /run/slurmd.pid /usr/sbin/slurmd -N "$NODE"
  # A freshly started slurmctld schedules its first cycle ~3 s in: jobs submitted earlier wait.
  local end=$(( $(date +%s) + READY_TIMEOUT )); READY_SINCE="$(date +%s)"
  until node_ready; do
    [ "$(date +%s)" -lt "$end" ] || die "node $NODE not usable after ${READY_TIMEOUT}s (state $(node_field State))"
    sleep 0.2
  done
  t2="$(now)"
  echo "SLURM READY node=$NODE state=$(node_field State) cpus=$(node_field CPUTot) started=[${STARTED# }]" \
       "torque_bin=$TORQUE_BIN install=$(awk "BEGIN{printf \"%.1f\", $t1-$t0}")s" \
       "start=$(awk "BEGIN{printf \"%.1f\", $t2-$t1}")s"
}

do_stop() {
  local name f p
  if running "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then  # no job may outlive slurmd
    squeue -h -o %A 2>/dev/null | sort -u | xargs -r scancel || true
    wait_for 30 sh -c '[ -z "$(squeue -h -t R,CG,S -o %i)" ]' || log "jobs still ending"
  fi
  for name in slurmd slurmctld munged; do
    f="$RUN_DIR/$name.pid"
    if p="$(running "$f" "$name")"; then stop_pid "$name" "$p"; log "stopped $name ($p)"; fi
    rm -f "$f"
  done
  running /run/slurmctld.pid slurmctld >/dev/null || rm -f /run/slurmctld.pid
  echo "SLURM STOPPED"
}

do_status() {
  local name f p by
  for name in munged slurmctld slurmd; do
    case "$name" in munged) f=/run/munge/munged.pid;; *) f="/run/$name.pid";; esac
    if p="$(running "$f" "$name")"; then
      [ "$(cat "$RUN_DIR/$name.pid" 2>/dev/null)" = "$p" ] && by="by slurm.sh" || by="not by slurm.sh"
      echo "$name: running pid $p ($by)"
    else echo "$name: not running"; fi
  done
  sinfo 2>/dev/null || true
}

stop_node() { # slurmd only, by its pidfile (TERM: its jobs' slurmstepd go on)
  local p
  if p="$(running /run/slurmd.pid slurmd)"; then stop_pid slurmd "$p"; log "stopped slurmd ($p)"; fi
  rm -f "$RUN_DIR/slurmd.pid"
  echo "SLURMD STOPPED"
}

start_node() {
  local end; STARTED=""; CHANGED=0
  running /run/slurmctld.pid slurmctld >/dev/null || die "slurmctld is not running: use start"
  start_daemon slurmd /run/slurmd.pid /usr/sbin/slurmd -N "$NODE"
  end=$(( $(date +%s) + READY_TIMEOUT )); READY_SINCE="$(date +%s)"
  until node_ready; do
    [ "$(date +%s)" -lt "$end" ] || die "node $NODE not usable after ${READY_TIMEOUT}s (state $(node_field State))"
    sleep 0.2
  done
  echo "SLURMD READY node=$NODE state=$(node_field State)"
}

case "${1:-start}" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  stop-node) stop_node ;;
  start-node) start_node ;;
  restart-node) stop_node; start_node ;;
  *) echo "usage: $0 [start|stop|status|stop-node|start-node|restart-node]" >&2; exit 2 ;;
esac
