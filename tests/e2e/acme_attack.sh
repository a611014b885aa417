#!/bin/bash
# Attacks on the ACME server (tests/e2e/acme_attack.py): forged JWSs (alg
# none, HS256 keyed with the public key, a jwk with private parts, short
# ES256 signatures, a 1024-bit RSA key, an unprotected header, duplicate
# header members, crit/b64 extensions), one account reaching into
# another's order, authorization, challenge, certificate, account and key,
# eight finalizes of one order at once, ids with path characters, and
# http-01 responders that redirect in a loop, send too much or trickle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
hkms_setup
cd "$T"
printf '{"allow_dns": [".acme.test"]}\n' > acme-policy.json
acme_setup web --policy acme-policy.json
attack() { python3 "$HKMS_SRC/tests/e2e/acme_attack.py" "$DIR" "$T/service.pem" "$HTTP01" "$@"; }

attack forged-jws > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "forged JWS"; }
[ "$(issued_count web)" = 0 ] || fail "a forged JWS issued a certificate"
pass "forged JWSs are refused with their problem types"

attack cross-account > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "cross account"; }
[ "$(issued_count web)" = 1 ] || fail "cross account: not exactly the owner's certificate"
pass "another account can neither read, change, finalize, fetch nor revoke"

attack finalize-race > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "finalize race"; }
[ "$(issued_count web)" = 2 ] || fail "eight finalizes at once issued $(($(issued_count web) - 1))"
pass "eight finalizes of one order at once: one certificate"

attack path-ids > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "path ids"; }
pass "ids with path characters name nothing"

attack hostile-http01 > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "hostile http-01"; }
cat a.out
pass "http-01 redirect loops, huge and trickling answers fail within the deadline"

attack deactivate-during-validation > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "deactivate during validation"; }
[ "$(issued_count web)" = 2 ] || fail "a deactivated authorization issued"
pass "an authorization deactivated while validated stays deactivated"

attack csr-extensions > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "csr extensions"; }
grep -E '^(refused|issued)' a.out
pass "a CSR asking for CA:TRUE, keyCertSign, codeSigning gets a leaf of the profile"

DNS_PORT=$DNS_PORT attack dns-spoof > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "dns spoof"; }
pass "a dns-01 answer from another address than the resolver's is not taken"

# last: the queue stays full of trickling validations until the stop
attack queue-fill > a.out 2>&1 || { cat a.out; tail -20 serve.log; fail "queue fill"; }
grep '^refused after' a.out
pass "a full validation queue is rateLimited, leaves the challenge pending, the server answers"
