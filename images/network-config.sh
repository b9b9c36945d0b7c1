#!/bin/sh
# The appliance's network and firewall for its deployment mode, as files: DIR/nftables.conf
# (from images/firewall.nft.in) and DIR/network/*.network|*.netdev (systemd-networkd).
# images/build-image.sh installs them in the image; test/unit/image-network.test.ts checks them.
#   sh images/network-config.sh --out DIR [--mode one-armed|inline-bridge|inline-router]
#        [--lan-if NAME --wan-if NAME] [--lan-address CIDR] [--address CIDR --gateway IP]
#        [--admin-nets LIST] [--device-nets LIST] [--monitoring-nets LIST]
# one-armed: DHCP (or --address) on every Ethernet port; the appliance forwards nothing.
# inline-bridge: --lan-if and --wan-if are ports of br0, which holds the management address;
#   the unit's frames cross as they did through the cable (the forward chain lets br0 to br0
#   pass, for hosts where br_netfilter shows bridged frames to it), and the appliance's own
#   address keeps the flow matrix.
# inline-router: --lan-if holds --lan-address (the unit's gateway), --wan-if the management
#   address; forwarding on, and the firewall forwards the unit's traffic to the site's router.
set -eu
cd "$(dirname "$0")/.."
die() { printf 'network-config: error: %s\n' "$*" >&2; exit 2; }
out="" mode=one-armed lan_if="" wan_if="" lan_address="" address="" gateway=""
private=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16
admin_nets=$private device_nets=$private monitoring_nets=$private
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift ;;
    --mode) mode=${2:?}; shift ;;
    --lan-if) lan_if=${2-}; shift ;;
    --wan-if) wan_if=${2-}; shift ;;
    --lan-address) lan_address=${2-}; shift ;;
    --address) address=${2-}; shift ;;
    --gateway) gateway=${2-}; shift ;;
    --admin-nets) admin_nets=${2:?}; shift ;;
    --device-nets) device_nets=${2:?}; shift ;;
    --monitoring-nets) monitoring_nets=${2:?}; shift ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
[ -n "$out" ] || die "--out DIR is required"
case "$mode" in
  one-armed) ;;
  inline-bridge|inline-router)
    [ -n "$lan_if" ] && [ -n "$wan_if" ] || die "--mode $mode needs --lan-if and --wan-if (the unit's side and the site router's side)"
    [ "$lan_if" != "$wan_if" ] || die "--lan-if and --wan-if are the same interface"
    [ "$mode" = inline-bridge ] || [ -n "$lan_address" ] || die "--mode inline-router needs --lan-address (the unit's gateway address, e.g. 192.168.10.1/24)" ;;
  *) die "unknown --mode $mode (one-armed, inline-bridge, inline-router)" ;;
esac
for name in "$lan_if" "$wan_if"; do
  [ -z "$name" ] || printf '%s' "$name" | grep -qE '^[A-Za-z0-9_.@-]{1,15}$' || die "\"$name\" is not an interface name"
done
mkdir -p "$out/network"
# The forward chain: nothing in one-armed mode; in inline-router mode the unit's traffic to the
# site's router and its replies; bridged traffic (inline-bridge) never reaches the inet family.
forward_rules=""
if [ "$mode" = inline-bridge ]; then
  # With br_netfilter loaded (container hosts often have it), bridged frames also cross the inet
  # forward hook, as br0 to br0: the unit's traffic must pass there as it does on the wire.
  forward_rules="iifname \"br0\" oifname \"br0\" accept comment \"the unit's frames across the bridge (seen here when br_netfilter is loaded)\""
fi
if [ "$mode" = inline-router ]; then
  forward_rules="ct state established,related accept\\n    ct state invalid drop\\n    iifname \"$lan_if\" oifname \"$wan_if\" accept comment \"the unit's traffic to the site's router (inline-router)\""
fi
sed -e "s#@ADMIN_NETS@#$(echo "$admin_nets" | sed 's/,/, /g')#" \
    -e "s#@DEVICE_NETS@#$(echo "$device_nets" | sed 's/,/, /g')#" \
    -e "s#@MONITORING_NETS@#$(echo "$monitoring_nets" | sed 's/,/, /g')#" \
    -e "s#@FORWARD_RULES@#$forward_rules#" images/firewall.nft.in > "$out/nftables.conf"
management() { # [Network] lines of the management address (command substitution drops the last newline)
  if [ -n "$address" ]; then printf 'Address=%s\n' "$address"; [ -z "$gateway" ] || printf 'Gateway=%s\n' "$gateway"
  else printf 'DHCP=yes\n'; fi
}
case "$mode" in
  one-armed)
    printf '[Match]\nType=ether\n\n[Network]\n%s\n' "$(management)" > "$out/network/10-ethernet.network" ;;
  inline-bridge)
    # A bump in the wire: both ports in br0, which holds the management address.
    printf '[NetDev]\nName=br0\nKind=bridge\n' > "$out/network/10-br0.netdev"
    printf '[Match]\nName=%s %s\n\n[Network]\nBridge=br0\nLinkLocalAddressing=no\n' "$lan_if" "$wan_if" > "$out/network/20-ports.network"
    printf '[Match]\nName=br0\n\n[Network]\n%s\n' "$(management)" > "$out/network/30-br0.network" ;;
  inline-router)
    printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\nIPv4Forwarding=yes\n' "$lan_if" "$lan_address" > "$out/network/20-lan.network"
    printf '[Match]\nName=%s\n\n[Network]\n%s\nIPv4Forwarding=yes\n' "$wan_if" "$(management)" > "$out/network/30-wan.network" ;;
esac
