#!/bin/sh
# /usr/local/bin/usmp-edge, installed by scripts/install.sh. Run by root, the commands that
# write the service's state (device, report, qualify, qos, run) run as the service user, so
# what they write stays the service's; qos and qualify get CAP_NET_ADMIN alone (tc, nftables,
# DSCP checks). Other commands (config check, check, probe, rtp) run as the caller.
set -eu
cli=/opt/usmp-edge/current/dist/cli.js
[ "$(id -u)" = 0 ] || exec /usr/bin/node "$cli" "$@"
command=""
for arg in "$@"; do
  case "$arg" in
    -c|--config) command=next-is-value ;;
    -*) ;;
    *) if [ "$command" = next-is-value ]; then command=""; else command=$arg; break; fi ;;
  esac
done
case "$command" in
  qos|qualify) exec setpriv --reuid=usmp-edge --regid=usmp-edge --init-groups --inh-caps -all,+net_admin --ambient-caps -all,+net_admin --bounding-set -all,+net_admin /usr/bin/node "$cli" "$@" ;;
  device|report|run) exec setpriv --reuid=usmp-edge --regid=usmp-edge --init-groups --bounding-set -all /usr/bin/node "$cli" "$@" ;;
  *) exec /usr/bin/node "$cli" "$@" ;;
esac
