#!/bin/bash
# Attack (issue 16): cmake/EmbedUi.cmake embeds ui/ in the binary every
# client may download from. A symbolic link in ui/ (to a file or a
# directory outside the tree: /etc/shadow, a home directory) fails the
# build instead of embedding what it points at; names the router would
# not serve (a quote, a backslash, non-ASCII, a space, a dot file) are
# left out and the generated C compiles.
. "$(dirname "$0")/lib.sh"
need cmake cc
T=$(mktemp -d /tmp/hkms-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
EMBED=$HKMS_SRC/cmake/EmbedUi.cmake

embed() { cmake -DUI_DIR="$T/ui" -DOUT="$T/out.c" -P "$EMBED" >"$T/embed.log" 2>&1; }

mkdir -p "$T/ui/screens" "$T/outside"
printf 'export const x = 1;\n' > "$T/ui/app.js"
printf 'the build host secret\n' > "$T/outside/secret.txt"
printf 'the build host secret too\n' > "$T/outside/b.js"

ln -s "$T/outside/secret.txt" "$T/ui/leak.css"
embed && fail "a link to a file outside ui/ was embedded: $(grep -c 0x "$T/out.c") lines"
grep -q 'symbolic link' "$T/embed.log" || fail "no reason given: $(cat "$T/embed.log")"
[ -e "$T/out.c" ] && fail "the table was written anyway"
rm "$T/ui/leak.css"
pass "a link to a file outside ui/ fails the build, nothing written"

ln -s "$T/outside" "$T/ui/screens/linked"
embed && fail "a linked directory was embedded: $(grep '{ "' "$T/out.c")"
grep -q 'symbolic link' "$T/embed.log" || fail "no reason given: $(cat "$T/embed.log")"
rm "$T/ui/screens/linked"
pass "a link to a directory outside ui/ fails the build"

for n in 'q"uote.js' 'b\ack.js' "$(printf 'n\xc3\xa4me.js')" 'sp ace.js' '.hidden.js' \
    'st*ar.js' 'semi;colon.js'; do
	printf '/* %s */\n' x > "$T/ui/$n"
done
embed || fail "odd names broke the embedding: $(cat "$T/embed.log")"
grep '{ "' "$T/out.c" | grep -v '{ "app.js"' && fail "an odd name was embedded"
cc -std=c11 -Wall -Werror -c -I"$HKMS_SRC/src/http" -o "$T/out.o" "$T/out.c" ||
	fail "the generated table does not compile"
pass "names the router does not serve are left out; the table compiles"
