#!/usr/bin/env bash
# MARKER=<text> no_stray_process.sh: fails when a process whose command line
# holds MARKER is running (a server process connfail left behind). It first
# shows that it sees one: a decoy whose command line holds MARKER must be
# found. (The marker comes in the environment: in an argument, this script's
# own command line would hold it.)
set -uo pipefail
marker=${MARKER:?set MARKER}
find_marked() {
  local f cmd
  for f in /proc/[0-9]*/cmdline; do
    cmd=$(tr '\0' ' ' < "$f" 2>/dev/null) || continue
    [[ "$cmd" == *"$marker"* ]] && { f=${f#/proc/}; echo "${f%/cmdline}: $cmd"; }
  done
}
(exec -a "decoy $marker" sleep 30) &
decoy=$!
sleep 0.2
seen=$(find_marked)
if ! grep -q "^$decoy:" <<< "$seen"; then
  echo "no_stray_process: the decoy $decoy was not found: the check cannot see a stray process"
  kill "$decoy"
  exit 1
fi
kill "$decoy"
wait "$decoy" 2>/dev/null
left=$(find_marked)
if [ -n "$left" ]; then
  echo "no_stray_process: left behind:"
  echo "$left"
  exit 1
fi
echo "no_stray_process: no process with '$marker' in its command line"
