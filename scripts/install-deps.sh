#!/bin/sh
# Install every Debian package hkms needs to build, run and test.
# Idempotent: packages already present are left alone.
set -eu

PKGS="build-essential cmake pkg-config git ca-certificates clang libclang-rt-14-dev
libssl-dev openssl libp11-dev libengine-pkcs11-openssl libp11-kit-dev
libmicrohttpd-dev libgnutls28-dev gnutls-bin libjansson-dev libinih-dev
libcmocka-dev softhsm2 opensc curl procps psmisc util-linux jq python3 python3-yaml
swtpm swtpm-tools tpm2-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd
libtss2-tcti-tabrmd0 dbus fiu-utils libfiu-dev valgrind
certbot lego dehydrated pebble golang-go python3-cryptography
libqrencode-dev oathtool chromium chromium-driver python3-selenium libnss3-tools
fonts-dejavu-core golang-cfssl wrk libcurl4-openssl-dev libxml2-utils"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
