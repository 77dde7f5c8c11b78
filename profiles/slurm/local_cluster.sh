#!/usr/bin/env bash
# A one-node Slurm on this machine, to try the Slurm profile (and for its test, tests/test_slurm.py):
# Debian's Slurm and munge, two fake GPUs as gres, no systemd, no cgroups, no accounting.
#
#   sudo profiles/slurm/local_cluster.sh install   # apt packages (slurmctld, slurmd, munge)
#   sudo profiles/slurm/local_cluster.sh start     # configure, start the daemons, wait for the node
#   sudo profiles/slurm/local_cluster.sh stop      # stop the daemons by their PIDs
#   profiles/slurm/local_cluster.sh status         # exit status 0 while the controller runs
#
# Once Slurm is installed, keep it running (or uninstall it) while you use Snakemake here: with
# snakemake-executor-plugin-slurm installed, every Snakemake start asks `scontrol show config` (the
# plugin's help text), which waits about 9 s for a controller that is down.
#
# Root, Debian or Ubuntu. Everything it writes is under /etc/slurm, /etc/munge, /var/spool/slurm*,
# /var/log/slurm, /run/xstilts-slurm; `stop` leaves the packages installed.
set -euo pipefail

RUN=/run/xstilts-slurm
CONF=/etc/slurm/slurm.conf  # where every Slurm command looks: the plugin's job steps drop SLURM_CONF
GPUS=2

install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    fi
}

configure() {
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    # Slurm refuses a node that claims more memory than it has: stay under what is free.
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN"
    # Fake GPUs: gres files must be device nodes (Slurm then sets CUDA_VISIBLE_DEVICES per job);
    # these are /dev/null's numbers, so nothing can use them as a GPU.
    for index in $(seq 0 $((GPUS - 1))); do
        [ -c "$RUN/gpu$index" ] || mknod "$RUN/gpu$index" c 1 3
    done
    cat > "$CONF" <<CONFIG
ClusterName=xstilts
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# No cgroups, no systemd: processes tracked by their parents, tasks unconfined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without accounting sacct has nothing to say: the profile asks squeue (slurm-status-command),
# which keeps a finished job for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
# A job without --mem would otherwise take the whole node.
DefMemPerCPU=1024
GresTypes=gpu
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerParameters=defer_batch=0
NodeName=$host CPUs=$cpus RealMemory=$memory Gres=gpu:$GPUS State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFIG
    echo "NodeName=$host Name=gpu File=$RUN/gpu[0-$((GPUS - 1))]" > /etc/slurm/gres.conf
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
}

running() {
    [ -s "$RUN/slurmctld.pid" ] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null
}

start() {
    if running; then
        echo "slurm: already running"
        return 0
    fi
    configure
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    /usr/sbin/slurmctld
    /usr/sbin/slurmd
    # The node comes up idle within seconds; a minute without it is a broken start.
    for _ in $(seq 1 60); do
        if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
            echo "slurm: node $(hostname -s) idle ($(nproc) CPUs, gpu:$GPUS)"
            return 0
        fi
        sleep 1
    done
    echo "slurm: the node did not come up; see /var/log/slurm/" >&2
    sinfo -N -l >&2 || true
    return 1
}

stop() {
    for daemon in slurmd slurmctld; do
        if [ -s "$RUN/$daemon.pid" ]; then
            kill "$(cat "$RUN/$daemon.pid")" 2>/dev/null || true
        fi
    done
    if [ -s /run/munge/munged.pid ]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) running ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
