#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for SIMBA's SLURM tests and for developers.
#
#   tests/slurm/cluster.sh install        apt-get install Debian's slurmctld slurmd slurm-client munge
#   tests/slurm/cluster.sh start DIR      write DIR/slurm.conf, start munged (unless one answers),
#                                         slurmctld and slurmd; wait until the node is idle
#   tests/slurm/cluster.sh stop DIR       stop the daemons this script started, by their PIDs
#
# Needs root (slurmd runs jobs as their user; munged runs as user munge). After 'start',
# use the cluster with:  export SLURM_CONF=DIR/slurm.conf
# Everything the cluster writes (state, spool, logs, PID files) stays in DIR.
set -euo pipefail

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged need it)"
}

installed() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null
}

install_packages() {
    need_root
    if installed; then
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    installed || die "the SLURM packages did not install"
}

munge_works() {
    command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
    local dir=$1
    if munge_works; then
        echo "cluster.sh: using the munged that is already running"
        return 0
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$dir/munged.pid"
    for _ in $(seq 50); do
        munge_works && return 0
        sleep 0.1
    done
    die "munged did not answer"
}

write_conf() {
    local dir=$1
    local cpus
    cpus=$(nproc)
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    cat >"$dir/slurm.conf" <<EOF
ClusterName=simba-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=5
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    local dir=${1:?usage: cluster.sh start DIR}
    need_root
    installed || die "SLURM is not installed; run: $0 install"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    write_conf "$dir"
    export SLURM_CONF=$dir/slurm.conf
    start_munge "$dir"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF" -N localhost
    for _ in $(seq 300); do
        if [[ $(sinfo -h -N -o '%T' 2>/dev/null) == idle ]]; then
            echo "cluster.sh: node localhost is idle; export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.1
    done
    sinfo -N -l >&2 || true
    tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    die "the node did not become idle within 30 s"
}

stop_pids() {
    # SIGTERM to every daemon named by the PID files, then wait for all (SIGKILL after 10 s).
    local file pid pids=()
    for file in "$@"; do
        [[ -s $file ]] || continue
        pid=$(cat "$file")
        kill "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$file"
    done
    for _ in $(seq 100); do
        local alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [[ $alive -eq 0 ]] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
}

stop() {
    local dir=${1:?usage: cluster.sh stop DIR}
    if [[ -s $dir/slurm.conf ]]; then
        SLURM_CONF=$dir/slurm.conf scancel --quiet --user=root 2>/dev/null || true
    fi
    stop_pids "$dir/slurmd.pid" "$dir/slurmctld.pid"
    stop_pids "$dir/munged.pid"
}

case ${1:-} in
install) install_packages ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: $0 install | start DIR | stop DIR" ;;
esac
