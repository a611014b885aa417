#!/bin/bash
# Nothing under the data dir is used through a symlink (docs/store.md,
# "The data dir is ours"). The list of entries is GENERATED: after a run
# of operations that touches every kind (key, CSR, self-signed cert, CA,
# issued/revoked index, CRL and its counter, truststore and its journal,
# audit), every file and directory under the data dir is enumerated with
# find, plus a staged PEM and a temp file like a crash leaves. Excluded:
# the files SoftHSM2 keeps under token/tokens/ (its own object store,
# opened by the module, not by hkms; token/tokens itself is checked).
#
# For each entry, on a fresh copy of that data dir: the entry is replaced
# by a symlink to a copy outside the data dir, then a fixed battery of
# reading and mutating commands runs. It must hold that
#   - `store check` fails and names the entry,
#   - some command of the battery is refused with code unsafe_path naming
#     the entry (temp and staged files: recovery removes the link instead,
#     which writes nothing through it),
#   - every command that fails prints a JSON error,
#   - the link target is byte-identical afterwards (nothing written
#     through the link), and the link is still there unless recovery
#     removed it as a temp/staged file.
. "$(dirname "$0")/lib.sh"
need python3 sha256sum find
hkms_setup
cd "$T"
D=$T/data

# --- 1. a data dir that has every kind -----------------------------------
hkms key generate k --type ec:p256 >/dev/null || fail "key generate"
hkms csr create c1 --key k --subject /CN=c1 >c1.csr || fail "csr create"
hkms cert self-sign s1 --key k --subject /CN=s1 >/dev/null || fail "self-sign"
hkms ca create root --key-type ec:p256 --subject /CN=Root >/dev/null ||
	fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout l.key -subj /CN=l.example.com \
	-addext subjectAltName=DNS:l.example.com -out l.csr 2>/dev/null ||
	fail "leaf csr"
hkms --json ca sign --ca root --profile tls-server --csr l.csr \
	--out-file l.pem >l.json || fail "ca sign"
serial=$(jget serial <l.json)
hkms ca revoke --ca root --serial "$serial" >/dev/null || fail "ca revoke"
hkms ca crl --ca root --out-file crl.pem >/dev/null || fail "ca crl"
openssl x509 -in l.pem -out l1.pem || fail "split"
hkms trust import t1 --file l1.pem >/dev/null || fail "trust import"
hkms --json profile show tls-server | jq '.profile // . | del(.name, .builtin, .used_by, .in_use)' > prof.json 2>/dev/null
hkms profile create p1 --file prof.json >/dev/null || fail "profile create: $(hkms profile create p1 --file prof.json 2>&1)"
hkms audit verify >/dev/null || fail "audit verify"
hkms store check >/dev/null || fail "store check"
# what a crash leaves: a staged PEM and a temp file of an atomic write
cp "$D/certs/s1.pem" "$D/certs/s1.pem.next"
cp "$D/certs/s1.json" "$D/certs/s1.json.tmp.1.0badf00d"
cp -a "$D" "$T/pristine"

mapfile -t entries < <(cd "$D" && find . -mindepth 1 \
	\( -path ./token/tokens/\* -prune \) -o -print | sed 's#^\./##' | sort)
[ ${#entries[@]} -ge 35 ] || fail "only ${#entries[@]} entries generated"

mapfile -t keynames < <(cd "$D/keys" && ls | sed -n 's/\.json$//p')
# The battery: every command reads or writes some part of the store.
battery() {
	local n=$1
	echo "# audit verify" >&2; hkms audit verify
	echo "# cert list" >&2; hkms cert list
	echo "# cert show s1" >&2; hkms cert show s1
	echo "# cert export s1" >&2; hkms cert export s1
	echo "# cert export c1" >&2; hkms cert export c1
	echo "# cert self-sign" >&2; hkms cert self-sign "n$n" --key k --subject /CN=n
	echo "# key generate" >&2; hkms key generate "k$n" --type ec:p256
	for kn in "${keynames[@]}"; do	# an existing name reads its record
		echo "# key generate $kn" >&2; hkms key generate "$kn" --type ec:p256
	done
	echo "# key list" >&2; hkms key list
	echo "# ca show" >&2; hkms ca show root
	echo "# ca issued" >&2; hkms ca issued --ca root
	echo "# ca sign" >&2; hkms ca sign --ca root --profile tls-server --csr l.csr
	echo "# ca revoke" >&2; hkms ca revoke --ca root --serial "$serial"
	echo "# ca crl" >&2; hkms ca crl --ca root
	echo "# trust list" >&2; hkms trust list
	echo "# trust show" >&2; hkms trust show t1
	echo "# trust import" >&2; hkms trust import "t$n" --file l1.pem
	echo "# trust delete" >&2; hkms trust delete t1
	echo "# profile list" >&2; hkms profile list
	echo "# profile show" >&2; hkms profile show p1
	echo "# profile create" >&2; hkms profile create "p$n" --file prof.json
}

sum() {	# sum PATH: checksum of a file or of every file of a dir, with names
	if [ -d "$1" ]; then
		(cd "$1" && find . -type f -print0 | sort -z |
			xargs -0r sha256sum; find . | sort)
	else
		sha256sum <"$1"
	fi
}

mkdir "$T/outside"
checked=0 i=0
for e in "${entries[@]}"; do
	i=$((i + 1))
	rm -rf "$D"
	cp -a "$T/pristine" "$D"
	tgt=$T/outside/$i
	cp -a "$D/$e" "$tgt"
	rm -rf "${D:?}/$e"
	ln -s "$tgt" "$D/$e"
	before=$(sum "$tgt")

	# store check first: read-only, it sees the link before any recovery
	sc=$(hkms store check 2>&1 >/dev/null)
	log=$T/battery.$i
	battery "$i" 2>"$log" >/dev/null

	# every failing command printed a JSON error (stderr lines that are
	# not our own "# command" labels are JSON objects)
	grep -v '^# ' "$log" | grep -Ev '^{"(error|warning)":{"code":"' |
		grep -q . && fail "$e: non-JSON error output: $(head -c 400 "$log")"
	after=$(sum "$tgt")
	[ "$before" = "$after" ] || fail "$e: link target changed (written through the link)"

	case $e in
	*.tmp.* | *.pem.next)
		# recovery on the first normal open removes a stray link
		[ -L "$D/$e" ] && fail "$e: stray temp/staged link not removed by recovery"
		;;
	*)
		[ -L "$D/$e" ] || fail "$e: the link was replaced or removed"
		echo "$sc" | grep -Eq "\"code\":\"(store_inconsistent|unsafe_path)\".*$e" ||
			fail "$e: store check did not refuse it: $sc"
		grep '"code":"unsafe_path"' "$log" | grep -q -- "$e" ||
			fail "$e: no command refused it with unsafe_path: $(head -c 600 "$log")"
		;;
	esac
	checked=$((checked + 1))
done
pass "$checked data-dir entries replaced by symlinks: each refused, nothing written through"

# a FIFO in place of a record is refused without blocking
rm -rf "$D"
cp -a "$T/pristine" "$D"
rm "$D/certs/s1.json"
mkfifo "$D/certs/s1.json"
expect_fail unsafe_path timeout 10 "$HKMS_BIN" cert show s1
pass "a FIFO in place of a record is refused without blocking"
