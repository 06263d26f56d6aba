# shellcheck shell=bash
# hack/lib/procs.sh — the process handling hack/cluster.sh and
# hack/mariadb-local.sh share: a daemon started in a session of its own
# with a pid file, "alive" checks that see through zombies and recycled
# pids, TERM to the process group and KILL after a bound, a sweep of what
# is left that names the state directory, and tearing down a failed `up`.
#
# Sourced, not run. Before calling anything, the sourcing script sets:
#   DIR                 its state directory (absolute): pid files in
#                       DIR/pids/NAME.pid, logs in DIR/logs/
#   PROCS_SCRIPT        its own file name ("cluster.sh"): a process whose
#                       command line names it (the script, its callers) is
#                       never swept
#   PROCS_LOG_SUFFIX    what follows NAME in a daemon's log file (".log")
#   PROCS_TERM_SECONDS  how long TERM may take before KILL (procs_stop) and
#                       before the sweep's KILL
#   PROCS_TERM_NOTE     what "NAME did not stop on TERM" says next ("" or
#                       " within 30 s")
#   PROCS_MARK          what the command line of a process of ours contains
#                       ("$DIR/"); a recorded pid whose command line lacks it
#                       is taken for a recycled pid and never signalled
#   PROCS_NAME_MARKS    1: a daemon's name in its command line marks it as
#                       ours too (cluster.sh, whose later tools add pid
#                       files of their own); 0: only PROCS_MARK does
# and defines log MESSAGE (to the user) and, for procs_up_failed, cmd_down.
#
# Invariants: a signal goes only to a pid recorded in DIR/pids whose
# command line still marks it as ours (and to its process group), or, in
# the sweep, to a process whose command line names "$DIR/"; nothing here
# removes DIR. Every wait is bounded.

procs_pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }

# Running and not a zombie: a crashed daemon may linger in state Z
# (nothing reaps it in a container) until its parent does.
procs_pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# True if pid $2 is still the process recorded as $1, not a recycled pid:
# its command line contains PROCS_MARK (or, with PROCS_NAME_MARKS, $1).
procs_ours() { # name pid
    local cmd
    cmd=$({ tr '\0' ' ' <"/proc/$2/cmdline"; } 2>/dev/null) || return 1
    case "$cmd" in *"$PROCS_MARK"*) return 0 ;; esac
    [ "$PROCS_NAME_MARKS" = 1 ] || return 1
    case "$cmd" in *"$1"*) return 0 ;; *) return 1 ;; esac
}

procs_alive() { # name
    local pid
    pid=$(procs_pid_of "$1")
    procs_pid_alive "$pid" && procs_ours "$1" "$pid"
}

# Starts NAME in its own session with its log and pid file. Every fd above 2
# is closed first, so no daemon keeps a caller's pipe (fd 3, ctest) open.
procs_spawn() { # name command...
    local name=$1
    shift
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done
        exec setsid "$@" </dev/null >"$DIR/logs/$name$PROCS_LOG_SUFFIX" 2>&1
    ) &
    echo $! >"$DIR/pids/$name.pid"
}

# Pids of processes started for DIR that outlived their parent or lost
# their pid file (a mariadbd whose node agent was SIGKILLed, install-db
# helpers): anything alive whose command line names "$DIR/", except the
# script, its callers and its ancestors.
procs_leftover_pids() {
    local p ancestors=" " cmd
    p=$$
    while [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != 1 ]; do
        ancestors+="$p "
        p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
    done
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        case "$ancestors" in *" $p "*) continue ;; esac
        [ "$p" = "$BASHPID" ] && continue
        procs_pid_alive "$p" || continue
        cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in *"$PROCS_SCRIPT"*) continue ;; *"$DIR/"*) echo "$p" ;; esac
    done
}

# TERM to every leftover, KILL after PROCS_TERM_SECONDS; fails if any is
# still there after that.
procs_sweep_leftovers() {
    local pids i
    pids=$(procs_leftover_pids)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086,SC2116 # the pids as one line
    log "stopping leftover processes: $(echo $pids)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < PROCS_TERM_SECONDS * 5; i++)); do
        pids=$(procs_leftover_pids)
        [ -z "$pids" ] && return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
    pids=$(procs_leftover_pids)
    # shellcheck disable=SC2086,SC2116
    [ -z "$pids" ] || { log "still running after SIGKILL: $(echo $pids)"; return 1; }
}

# Stops daemon NAME if it is still ours: TERM to its process group (a clean
# shutdown), KILL after PROCS_TERM_SECONDS, then it must be gone within 5 s.
# Removes its pid file once it is; fails if it is not.
procs_stop() { # name
    local name=$1 pid i
    pid=$(procs_pid_of "$name")
    [ -n "$pid" ] || return 0
    if procs_pid_alive "$pid" && procs_ours "$name" "$pid"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < PROCS_TERM_SECONDS * 5; i++)); do
            procs_pid_alive "$pid" || break
            sleep 0.2
        done
        if procs_pid_alive "$pid"; then
            log "$name did not stop on TERM$PROCS_TERM_NOTE; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 25; i++)); do
                procs_pid_alive "$pid" || break
                sleep 0.2
            done
        fi
        if procs_pid_alive "$pid"; then
            log "$name (pid $pid) is still running after SIGKILL"
            return 1
        fi
    fi
    rm -f "$DIR/pids/$name.pid"
}

# The EXIT trap of `up`: while UP_DONE is 0 (set before the first daemon
# starts, 1 once up is complete), tears down what was started. set -e
# exits from inside functions run no ERR trap; EXIT runs.
procs_up_failed() {
    local rc=$?
    if [ "${UP_DONE:-1}" = 0 ]; then
        log "up failed; tearing down"
        cmd_down || true
    fi
    exit $((rc ? rc : 1))
}
