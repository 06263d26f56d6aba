# shellcheck shell=bash
# hack/lib/crd-wait.sh — crd_wait_established, the one way the project's
# scripts wait for CustomResourceDefinitions to be Established.
#
# Why not `kubectl wait --for=condition=Established`: kubectl fails at once,
# instead of waiting, on a CRD whose status has no conditions yet
# (".status.conditions accessor error: <nil> is of the type <nil>, expected
# []interface{}"), which is how a CRD looks for a moment right after it is
# created. integration.test_crds failed so in a CI run. This polls each
# CRD's Established condition instead, bounded. Sourced, not run; uses
# KUBECTL; tests/tools/test_crd_wait.sh checks it.

# crd_wait_established TIMEOUT-SECONDS CRD...: 0 once every CRD (NAME or
# crd/NAME) has Established True; 1 after TIMEOUT seconds, naming on stderr
# the first that has not.
crd_wait_established() {
    local timeout=$1 end c got
    shift
    end=$((SECONDS + timeout))
    for c in "$@"; do
        c=crd/${c#crd/}
        until got=$("$KUBECTL" get "$c" \
            -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) &&
            [ "$got" = True ]; do
            if [ $SECONDS -ge $end ]; then
                echo "crd_wait_established: $c not Established within ${timeout}s (Established: '${got:-}')" >&2
                return 1
            fi
            sleep 0.1
        done
    done
}
