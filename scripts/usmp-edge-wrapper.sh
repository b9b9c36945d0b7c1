#!/bin/sh
# /usr/local/bin/usmp-edge, installed by scripts/install.sh. Run by root, the commands that
# write the service's state (device, report, qualify, qos, run, collector, responder-keys) run as the service
# user, so what they write stays the service's; qos and qualify get CAP_NET_ADMIN alone (tc,
# nftables, DSCP checks). Other commands (config check, check, probe, rtp) run as the caller.
# USMP_EDGE_WRAPPER_PRINT=1 prints the decision instead (test/unit/wrapper.test.ts).
set -eu
cli=/opt/usmp-edge/current/dist/cli.js
decide() {
  [ "$(id -u)" = 0 ] || { echo caller; return; }
  # the command is the first word that is neither an option nor an option's value
  command=""
  expect_value=no
  for arg in "$@"; do
    if [ "$expect_value" = yes ]; then expect_value=no; continue; fi
    case "$arg" in
      -c|--config|--log-level) expect_value=yes ;;
      -*) ;;
      *) command=$arg; break ;;
    esac
  done
  case "$command" in
    qos|qualify) echo service-user+net_admin ;;
    device|report|run|collector|responder-keys) echo service-user ;;
    *) echo caller ;;
  esac
}
decision=$(decide "$@")
if [ "${USMP_EDGE_WRAPPER_PRINT:-}" = 1 ]; then echo "$decision"; exit 0; fi
case "$decision" in
  service-user+net_admin) exec setpriv --reuid=usmp-edge --regid=usmp-edge --init-groups --inh-caps -all,+net_admin --ambient-caps -all,+net_admin --bounding-set -all,+net_admin /usr/bin/node "$cli" "$@" ;;
  service-user) exec setpriv --reuid=usmp-edge --regid=usmp-edge --init-groups --bounding-set -all /usr/bin/node "$cli" "$@" ;;
  *) exec /usr/bin/node "$cli" "$@" ;;
esac
