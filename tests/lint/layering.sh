#!/bin/sh
# Layering rules (docs/design.md): face -> ops/service -> x509/store -> hsm.
#  - only hsm/ includes the PKCS#11 headers;
#  - the CLI face includes neither hkms/hsm.h nor hkms/store.h: it reaches
#    the token and the store through the service and the operations;
#  - src/ops never prints (fprintf/printf/puts/perror): it returns errors
#    and logs through hkms/log.h.
# Usage: layering.sh SRCDIR. Exit 1 naming the files that break a rule.
cd "${1:-.}" || exit 1
bad=0
if grep -rlE '#include *[<"](libp11\.h|p11-kit/pkcs11\.h|pkcs11\.h)' src include; then
	echo "layering: PKCS#11 headers included outside hsm/ (files above)"; bad=1
fi
if grep -rlE '#include *"hkms/(hsm|store)\.h"' src/cli; then
	echo "layering: the CLI includes hsm.h or store.h (files above)"; bad=1
fi
if grep -rnE '\b(fprintf|printf|puts|fputs|perror|vfprintf)\s*\(' src/ops; then
	echo "layering: src/ops prints (lines above); use hkms/log.h or the error"; bad=1
fi
[ $bad = 0 ] && echo "layering: ok"
exit $bad
