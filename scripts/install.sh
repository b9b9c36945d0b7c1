#!/bin/sh
# usmp-edge installer: install, upgrade, uninstall. Run as root on the target (a Debian 12/13
# machine with Node.js >= 20), from a release tree (scripts/build-release.sh) or from a built
# checkout, which it turns into a release first.
#   sh scripts/install.sh install [--role appliance|responder|collector] [--no-start]
#                                 [--establishment NAME] [--establishment-code CODE]
#                                 [--usmp NAME] [--region NAME] [--hospital NAME] [--appliance-id ID]
#                                 [--image]  (image build: no key, no appliance id; first boot makes them)
#   sh scripts/install.sh upgrade [--no-start]    new code; configuration, keys and outboxes kept
#   sh scripts/install.sh uninstall [--keep-data] everything removed but, if asked, /etc/usmp-edge
#                                                 and /var/lib/usmp-edge{,-collector}
# Layout: /opt/usmp-edge/releases/<release>, /opt/usmp-edge/current -> it (swapped atomically;
# the previous release is kept for a roll-back), /usr/local/bin/usmp-edge, units in
# /etc/systemd/system, configuration in /etc/usmp-edge (root:usmp-edge 0750), state in
# /var/lib/usmp-edge (usmp-edge 0700).
set -eu
# The caller's Node options (a test runner's loader, say) must not reach the image's Node.
unset NODE_OPTIONS

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 2; }

OPT=/opt/usmp-edge
ETC=/etc/usmp-edge
STATE=/var/lib/usmp-edge
UNIT_DIR=/etc/systemd/system
BIN=/usr/local/bin/usmp-edge
USER_NAME=usmp-edge
APPLIANCE_UNITS="usmp-edge-capture.socket usmp-edge.service"

action=${1:-}
[ -n "$action" ] || die "usage: install.sh install|upgrade|uninstall [options] (see the head of this file)"
shift
role=appliance start=yes keep_data=no image=no
establishment="" establishment_code="" usmp="" region="" hospital="" appliance_id=""
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role=${2:?}; shift ;;
    --no-start) start=no ;;
    --keep-data) keep_data=yes ;;
    --image) image=yes; start=no ;;
    --establishment) establishment=${2:?}; shift ;;
    --establishment-code) establishment_code=${2:?}; shift ;;
    --usmp) usmp=${2:?}; shift ;;
    --region) region=${2:?}; shift ;;
    --hospital) hospital=${2:?}; shift ;;
    --appliance-id) appliance_id=${2:?}; shift ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
case "$role" in appliance|responder|collector) ;; *) die "--role is appliance, responder or collector" ;; esac

[ "$(id -u)" = 0 ] || die "run as root (it creates a system user, /opt/usmp-edge and systemd units)"
# systemd as PID 1: units are started; in a chroot or image build they are only enabled.
systemd_running() { [ -d /run/systemd/system ]; }
json() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

role_units() {
  case "$1" in
    appliance) echo "$APPLIANCE_UNITS" ;;
    responder) echo "usmp-edge-responder.service" ;;
    collector) echo "usmp-edge-collector.service" ;;
  esac
}

source_release() {
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -f "$here/RELEASE" ]; then echo "$here"; return; fi
  say "building a release from the checkout $here"
  (cd "$here" && sh scripts/build-release.sh) | tail -n 1 | sed "s#^#$here/#"
}

check_node() {
  command -v node >/dev/null || die "Node.js >= 20 is needed (Debian 13: apt-get install nodejs; Debian 12: NodeSource 20.x)"
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js >= 20 is needed, found $(node --version)"
  for tool in iperf3 nft ip setpriv; do command -v "$tool" >/dev/null || say "warning: $tool is missing (apt-get install iperf3 nftables iproute2 util-linux)"; done
}

create_user() {
  getent group "$USER_NAME" >/dev/null || groupadd --system "$USER_NAME"
  getent passwd "$USER_NAME" >/dev/null || useradd --system --gid "$USER_NAME" --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin --comment "usmp-edge service" "$USER_NAME"
}

write_config_skeleton() {
  [ -f "$ETC/config.json" ] && { say "configuration kept: $ETC/config.json"; return; }
  site_id=$appliance_id
  [ -n "$site_id" ] || [ "$image" = yes ] || site_id=usmp-$(hostname)
  cat > "$ETC/config.json.new" <<JSON
{
  "site": {
    "establishment": $(json "$establishment"),
    "establishment_code": $(json "$establishment_code"),
    "usmp": $(json "$usmp"),
    "region": $(json "$region"),
    "hospital": $(json "$hospital"),
    "appliance_id": $(json "$site_id")
  },
  "qualify": { "target": "", "out_dir": "$STATE/reports" },
  "bridge": { "upstream": { "url": "" } },
  "report": { "collector_url": "" },
  "capture": { "interface": "", "helper_socket": "/run/usmp-edge-capture.sock" },
  "metrics": { "listen": "127.0.0.1:9469" }
}
JSON
  chown root:"$USER_NAME" "$ETC/config.json.new"
  chmod 0640 "$ETC/config.json.new"
  mv "$ETC/config.json.new" "$ETC/config.json"
  say "configuration skeleton written: $ETC/config.json"
}

do_install() {
  mode=$1
  check_node
  release=$(source_release)
  [ -f "$release/dist/cli.js" ] && [ -d "$release/node_modules" ] || die "$release is not a release tree (no dist/cli.js or node_modules)"
  release_id=$(cat "$release/RELEASE")
  previous=$(readlink "$OPT/current" 2>/dev/null || true)
  [ "$mode" = upgrade ] && [ -z "$previous" ] && die "nothing to upgrade: usmp-edge is not installed here (use install)"
  [ -f "$OPT/role" ] && role=$(cat "$OPT/role")
  say "$([ -n "$previous" ] && echo "upgrading ${previous#releases/} ->" || echo installing) $release_id (role $role)"
  create_user

  mkdir -p "$OPT/releases"
  rm -rf "$OPT/releases/$release_id.new"
  cp -R "$release" "$OPT/releases/$release_id.new"
  chown -R root:root "$OPT/releases/$release_id.new"
  chmod -R go-w,o+rX "$OPT/releases/$release_id.new"
  rm -rf "$OPT/releases/$release_id"
  mv "$OPT/releases/$release_id.new" "$OPT/releases/$release_id"
  echo "$role" > "$OPT/role"

  # The daemon stops cleanly (its outbox is on disk at every acknowledgement) before the swap.
  units=$(role_units "$role")
  if [ -n "$previous" ] && systemd_running; then systemctl stop $units 2>/dev/null || true; fi
  ln -sfn "releases/$release_id" "$OPT/current.new"
  mv -T "$OPT/current.new" "$OPT/current"
  install -m 0755 "$OPT/current/scripts/usmp-edge-wrapper.sh" "$BIN"
  for unit in "$OPT"/current/systemd/*; do install -m 0644 "$unit" "$UNIT_DIR/$(basename "$unit")"; done

  install -d -o root -g "$USER_NAME" -m 0750 "$ETC"
  install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$STATE" "$STATE/keys"
  chown -R "$USER_NAME:$USER_NAME" "$STATE" # kept data from an earlier install may carry an old uid
  write_config_skeleton
  if [ "$role" = appliance ]; then
    [ -f "$STATE/devices.json" ] || { printf '{"version":1,"devices":[]}\n' > "$STATE/devices.json"; chown "$USER_NAME:$USER_NAME" "$STATE/devices.json"; chmod 0600 "$STATE/devices.json"; }
    # An image must not carry one key for every site: there the first boot makes it (the unit's
    # ExecStartPre runs `report keygen --if-missing`).
    # The wrapper runs `report` as the service user, so the key is the service's.
    [ "$image" = yes ] || "$BIN" --config "$ETC/config.json" report keygen --if-missing >&2
    # the device broker's TLS certificate (its fingerprint is printed for the devices); an image makes it at first boot
    [ "$image" = yes ] || "$BIN" --config "$ETC/config.json" device tls-cert --if-missing >&2
  fi
  if [ "$role" = collector ]; then
    install -d -o root -g "$USER_NAME" -m 0750 "$ETC/collector"
    # the collector's database, written by the service and by `collector user|token` (as the service user)
    install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$STATE-collector"
  fi
  if [ "$role" = responder ]; then
    # the enrolled appliances' keys and the iperf3 RSA key, written by `responder-keys` (as the service user)
    install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$STATE-responder"
    chown -R "$USER_NAME:$USER_NAME" "$STATE-responder"
  fi

  # Keep the current and the previous release, for a roll-back by hand.
  for old in "$OPT"/releases/*; do
    case "releases/$(basename "$old")" in "releases/$release_id"|"$previous") ;; *) rm -rf "$old" ;; esac
  done

  if systemd_running; then
    systemctl daemon-reload
    systemctl enable $units >/dev/null 2>&1
    if [ "$start" = yes ]; then systemctl restart $units; say "started: $units"; fi
  else
    systemctl enable $units >/dev/null 2>&1 || say "warning: could not enable $units (no systemctl?)"
    say "systemd is not running here: $units enabled for the next boot"
  fi
  [ -n "$previous" ] && { say "upgrade done; configuration, keys and outboxes untouched"; return; }
  if [ "$role" = collector ]; then
    cat >&2 <<TEXT
install: done. To fill in before use ($ETC/config.json; docs/national-team.md):
  collector.tls_cert_file, collector.tls_key_file   its HTTPS certificate (it does not start without one)
  collector.listen, collector.intake_listen          the people's door (8443) and the appliances' door (8444); loopback until opened
  collector.oidc.*                                   the ministry's single sign-on, if any
Accounts: usmp-edge collector user add NAME --role national. Appliances: usmp-edge collector enroll …
TEXT
    return
  fi
  if [ "$role" = responder ]; then
    cat >&2 <<TEXT
install: done. Only enrolled appliances are answered (responder.auth required; docs/prison-it.md):
  usmp-edge responder-keys enroll NAME --out NAME.json   one per appliance; copy the file to it (mode 600)
  systemctl reload usmp-edge-responder                   after each enrolment or revocation
  responder.allow_from                                   the sites' prefixes, if known
TEXT
    return
  fi
  cat >&2 <<TEXT
install: done. To fill in before use ($ETC/config.json; \`usmp-edge config check\` lists problems):
  site.*              the establishment, its code, USMP, region, hospital, link, auditor
  qualify.target      the hospital responder's address
  bridge.upstream.*   the hospital broker (mqtts://...), its user, password_file, ca_file
  report.collector_url the national collector (then enrol the key printed above there)
  capture.interface   the interface the calls cross (empty: no passive analysis)
Devices: usmp-edge device add NAME (prints its credentials once). QoS: usmp-edge qos plan, then
systemctl enable --now usmp-edge-qos.service (and usmp-edge-qos-autorate.service with
qos.autorate.enabled). Logs: journalctl -u 'usmp-edge*'.
TEXT
}

do_uninstall() {
  units=""
  for unit in "$UNIT_DIR"/usmp-edge*; do [ -e "$unit" ] && units="$units $(basename "$unit")"; done
  if [ -n "$units" ]; then
    if systemd_running; then systemctl disable --now $units >/dev/null 2>&1 || true
    else systemctl disable $units >/dev/null 2>&1 || true; fi
    for unit in $units; do rm -f "$UNIT_DIR/$unit"; done
    systemd_running && systemctl daemon-reload
  fi
  rm -rf "$OPT" "$BIN"
  if [ "$keep_data" = yes ]; then
    say "kept: $ETC $STATE $STATE-collector $STATE-responder (remove them by hand when no longer needed)"
  else
    rm -rf "$ETC" "$STATE" "$STATE-collector" "$STATE-responder"
  fi
  getent passwd "$USER_NAME" >/dev/null && userdel "$USER_NAME"
  getent group "$USER_NAME" >/dev/null && groupdel "$USER_NAME"
  say "usmp-edge removed"
}

case "$action" in
  install) do_install install ;;
  upgrade) do_install upgrade ;;
  uninstall) do_uninstall ;;
  *) die "unknown action $action (install, upgrade, uninstall)" ;;
esac
