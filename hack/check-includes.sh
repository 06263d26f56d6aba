#!/usr/bin/env bash
# Enforces the include directions of controller/, so the layering stays what
# docs/architecture.md draws: a file may include headers of its own layer
# and of the layers to its left, never to its right:
#
#     util  <-  kube  <-  ctrl  <-  app          (main.c may include anything)
#
# and inside app/, one folder per concern, the same way:
#
#     sched  <-  api  <-  { db, scratch }  <-  { backup, schedule, restore, verify }
#
# The controller folders must not include each other: what they share
# (index names, VolumeSnapshot keys, target resolution, ownership rules)
# lives in app/api/. db (the MariaDB side) and scratch (the objects of a
# scratch server) are siblings too: neither includes the other. A new layer or app/ folder must be added to the tables
# below (an unknown one is an error), so the rule is decided, not drifted
# into. Only quoted includes are read; <system> headers are not ours.
#
# Usage: hack/check-includes.sh [REPO_ROOT]   (checks REPO_ROOT/controller)
# Exit 0 when every include follows the arrows; 1 with one line per
# forbidden include (file:line: from -> to: the include, and the rule);
# 2 when there is no controller/ tree.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
src=$root/controller
if [ ! -d "$src" ]; then
    echo "check-includes: no directory $src" >&2
    exit 2
fi

# Position from the left; a file may include its own position or less.
declare -A layer=([util]=0 [kube]=1 [ctrl]=2 [app]=3)
# The app/ folders; equal positions are siblings that must not meet.
declare -A folder=([sched]=0 [api]=1 [db]=2 [scratch]=2
    [backup]=3 [schedule]=3 [restore]=3 [verify]=3)
layer_rule='util <- kube <- ctrl <- app'
folder_rule='sched <- api <- {db, scratch} <- {backup, schedule, restore, verify}'

bad=0
files=0
includes=0

# report FILE LINE FROM TO INCLUDE WHY
report() {
    echo "$1:$2: $3 -> $4: #include \"$5\" ($6)"
    bad=$((bad + 1))
}

# check_one REL LINE INC: one quoted include of controller/REL.
check_one() {
    local rel=$1 line=$2 inc=$3 where="controller/$1"
    local from_layer to_layer from_dir to_dir

    includes=$((includes + 1))
    [ "$rel" = main.c ] && return 0          # main.c wires everything
    case $inc in */*) ;; *) return 0 ;; esac # "x.h": its own directory
    from_layer=${rel%%/*}
    case $rel in */*) ;; *) from_layer=. ;; esac
    to_layer=${inc%%/*}
    if [ "$from_layer" = . ]; then
        report "$where" "$line" . "$to_layer" "$inc" \
            "only main.c sits in controller/ itself; other files belong in a layer's directory"
        return 0
    fi
    if [ -z "${layer[$from_layer]+set}" ]; then
        report "$where" "$line" "$from_layer" "$to_layer" "$inc" \
            "controller/$from_layer/ is in no layer; add it to hack/check-includes.sh"
        return 0
    fi
    if [ -z "${layer[$to_layer]+set}" ]; then
        report "$where" "$line" "$from_layer" "$to_layer" "$inc" \
            "$to_layer/ is in no layer of controller/"
        return 0
    fi
    if [ "${layer[$to_layer]}" -gt "${layer[$from_layer]}" ]; then
        report "$where" "$line" "$from_layer" "$to_layer" "$inc" \
            "$from_layer may not include $to_layer: $layer_rule"
        return 0
    fi
    [ "$from_layer" = app ] && [ "$to_layer" = app ] || return 0

    # Both in app/: app/<folder>/<file> on each side.
    case $rel in
    app/*/*) from_dir=${rel#app/} from_dir=${from_dir%%/*} ;;
    *)
        report "$where" "$line" app "${inc%/*}" "$inc" \
            "a file of app/ belongs in one of its folders: $folder_rule"
        return 0
        ;;
    esac
    case $inc in
    app/*/*) to_dir=${inc#app/} to_dir=${to_dir%%/*} ;;
    *)
        report "$where" "$line" "app/$from_dir" app "$inc" \
            "app/ headers live in its folders: $folder_rule"
        return 0
        ;;
    esac
    if [ -z "${folder[$from_dir]+set}" ]; then
        report "$where" "$line" "app/$from_dir" "app/$to_dir" "$inc" \
            "app/$from_dir/ is in no row of the folder table; add it to hack/check-includes.sh"
        return 0
    fi
    if [ -z "${folder[$to_dir]+set}" ]; then
        report "$where" "$line" "app/$from_dir" "app/$to_dir" "$inc" \
            "app/$to_dir/ is no folder of app/: $folder_rule"
        return 0
    fi
    [ "$from_dir" = "$to_dir" ] && return 0
    if [ "${folder[$to_dir]}" -eq "${folder[$from_dir]}" ] && [ "${folder[$to_dir]}" -eq 2 ]; then
        report "$where" "$line" "app/$from_dir" "app/$to_dir" "$inc" \
            "db and scratch must not include each other; move what they share into app/api/"
    elif [ "${folder[$to_dir]}" -eq "${folder[$from_dir]}" ]; then
        report "$where" "$line" "app/$from_dir" "app/$to_dir" "$inc" \
            "the controllers backup, schedule, restore and verify must not include each other; move what they share into app/api/"
    elif [ "${folder[$to_dir]}" -gt "${folder[$from_dir]}" ]; then
        report "$where" "$line" "app/$from_dir" "app/$to_dir" "$inc" \
            "app/$from_dir may not include app/$to_dir: $folder_rule"
    fi
}

while IFS= read -r -d '' file; do
    rel=${file#"$src"/}
    files=$((files + 1))
    # "LINE:INCLUDE" for each #include "..." (any spacing around # and include).
    while IFS=: read -r line inc; do
        check_one "$rel" "$line" "$inc"
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
        sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
done < <(find "$src" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if [ "$bad" -gt 0 ]; then
    echo "check-includes: $bad forbidden include(s) in controller/ (see hack/check-includes.sh)"
    exit 1
fi
echo "check-includes: $includes includes in $files files of controller/ follow $layer_rule and, in app/, $folder_rule"
