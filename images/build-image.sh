#!/bin/sh
# Builds the appliance image: a Debian 13 (trixie) root file system from Debian's packages
# (Node.js 20 is Debian's own there), with the project installed by its own installer, its
# units enabled, no password for anyone, SSH by key only, fresh SSH host keys and report key
# at first boot, and the firewall of images/firewall.nft.in. Run as root on Debian.
#   sh images/build-image.sh --out DIR --ssh-key FILE [--tar FILE]
#        [--address CIDR --gateway IP]      static management address (default: DHCP)
#        [--mode one-armed|inline-bridge|inline-router]  where it sits (docs/prison-it.md; default one-armed)
#        [--lan-if NAME --wan-if NAME]      the unit's side and the site router's side (inline modes)
#        [--lan-address CIDR]               inline-router: the unit's gateway address on --lan-if
#        [--admin-nets LIST] [--device-nets LIST] [--monitoring-nets LIST]   (comma-separated CIDRs;
#         default: the RFC 1918 ranges)
#        [--mirror URL] [--release DIR]     (default: deb.debian.org; a release built here)
# The result boots in systemd-nspawn (test/install/appliance-image.test.ts does), or is
# unpacked onto a disk by the national team's imaging process.
set -eu
cd "$(dirname "$0")/.."
# The caller's Node options (a test runner's loader, say) must not reach the image's Node.
unset NODE_OPTIONS
die() { printf 'build-image: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'build-image: %s\n' "$*" >&2; }

out="" ssh_key="" tar="" address="" gateway="" release="" mirror=http://deb.debian.org/debian
mode=one-armed lan_if="" wan_if="" lan_address=""
private=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16
admin_nets=$private device_nets=$private monitoring_nets=$private
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift ;;
    --ssh-key) ssh_key=${2:?}; shift ;;
    --tar) tar=${2:?}; shift ;;
    --address) address=${2:?}; shift ;;
    --gateway) gateway=${2:?}; shift ;;
    --admin-nets) admin_nets=${2:?}; shift ;;
    --device-nets) device_nets=${2:?}; shift ;;
    --monitoring-nets) monitoring_nets=${2:?}; shift ;;
    --mirror) mirror=${2:?}; shift ;;
    --mode) mode=${2:?}; shift ;;
    --lan-if) lan_if=${2:?}; shift ;;
    --wan-if) wan_if=${2:?}; shift ;;
    --lan-address) lan_address=${2:?}; shift ;;
    --release) release=${2:?}; shift ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
[ -n "$out" ] || die "--out DIR is required"
[ -f "$ssh_key" ] || die "--ssh-key FILE (an OpenSSH public key) is required: the image has no password"
grep -qE '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) ' "$ssh_key" || die "$ssh_key is not an OpenSSH public key"
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
[ -n "$release" ] || release=$(sh scripts/build-release.sh | tail -n 1)
release=$(cd "$release" && pwd)
[ -f "$release/RELEASE" ] || die "$release is not a release tree"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sh images/network-config.sh --out "$work" --mode "$mode" --lan-if "$lan_if" --wan-if "$wan_if" --lan-address "$lan_address" \
  --address "$address" --gateway "$gateway" --admin-nets "$admin_nets" --device-nets "$device_nets" --monitoring-nets "$monitoring_nets"
cp "$ssh_key" "$work/authorized_keys"

packages=systemd,systemd-sysv,dbus,nodejs,iperf3,nftables,openssl,iproute2,iputils-ping,ethtool,libpcap0.8t64,openssh-server,ca-certificates,util-linux,passwd
say "building $out from $mirror (trixie) with $(cat "$release/RELEASE")"
rm -rf "$out"
mmdebstrap --variant=minbase --mode=root --include="$packages" \
  --customize-hook="cp -R '$release' \"\$1/tmp/usmp-edge-release\"" \
  --customize-hook='chroot "$1" sh /tmp/usmp-edge-release/scripts/install.sh install --image' \
  --customize-hook='rm -rf "$1/tmp/usmp-edge-release"' \
  --customize-hook="install -m 0644 '$work/nftables.conf' \"\$1/etc/nftables.conf\"" \
  --customize-hook="cp '$work'/network/* \"\$1/etc/systemd/network/\"" \
  --customize-hook="install -d -m 0700 \"\$1/root/.ssh\" && install -m 0600 '$work/authorized_keys' \"\$1/root/.ssh/authorized_keys\"" \
  --customize-hook='chroot "$1" systemctl enable nftables.service systemd-networkd.service ssh.service' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='mkdir -p "$1/etc/systemd/system/ssh.service.d" && printf "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n" > "$1/etc/systemd/system/ssh.service.d/host-keys.conf"' \
  --customize-hook='printf "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n" > "$1/etc/ssh/sshd_config.d/keys-only.conf"' \
  --customize-hook='passwd --root "$1" --lock root >/dev/null && echo usmp-edge > "$1/etc/hostname" && : > "$1/etc/machine-id"' \
  --customize-hook="node -e 'const [f, mode, lan, wan] = process.argv.slice(1); const fs = require(\"fs\"); const c = JSON.parse(fs.readFileSync(f)); c.metrics.listen = \"0.0.0.0:9469\"; c.deployment = { mode }; if (lan) c.qos = { ...c.qos, linux: { ...(c.qos ?? {}).linux, lan_interface: lan, wan_interface: wan } }; fs.writeFileSync(f, JSON.stringify(c, null, 2) + \"\\n\")' \"\$1/etc/usmp-edge/config.json\" '$mode' '$lan_if' '$wan_if'" \
  trixie "$out" "$mirror" >&2
[ -z "$tar" ] || tar -C "$out" --numeric-owner -cf "$tar" .
say "image ready ($mode): $out${tar:+ and $tar}"
