/*
 * fuzz_acme_jws: the body of every ACME request (RFC 8555 §6.2) through
 * what hkms does to it before any state is touched (src/ops/acme_jws.c):
 * the flattened-JWS parse, the protected header's members, the payload
 * as JSON, the JWK to a public key (RSA, EC P-256/P-384), its RFC 7638
 * thumbprint, the signature check with that key, and, for keyChange, the
 * payload parsed again as the inner JWS. The first byte picks the mode
 * (bit 0: nonce required, bit 1: the HS256 of an external account
 * binding, bit 2: parse the payload as an inner JWS too).
 *
 * Invariants: a refusal is one of the ACME codes with a 4xx status and
 * leaves nothing behind (acme_jws_free on the zeroed struct); an accepted
 * JWS has alg and url, exactly one of jwk and kid (not for HS256), a
 * nonce when one was required, and a payload that is empty or an object;
 * a JWK that gives a key also gives a 43-character thumbprint.
 */
#include <string.h>

#include <openssl/err.h>

#include "acme_int.h"
#include "fuzz.h"

static void
check_refusal(const struct hkms_err *err)
{
	int st = hkms_err_http_status(err);

	FUZZ_CHECK(strncmp(hkms_err_code(err), "acme_", 5) == 0 ||
	    strcmp(hkms_err_code(err), "out_of_memory") == 0);
	FUZZ_CHECK(st >= 400 && st < 500);
}

static void
one(const uint8_t *data, size_t size, int need_nonce, int mac, int inner)
{
	struct acme_jws j;
	struct hkms_err err = { 0 };
	EVP_PKEY *key = NULL;
	char tp[48];

	if (acme_jws_parse(data, size, need_nonce, mac, &j, &err) != HKMS_OK) {
		check_refusal(&err);
		acme_jws_free(&j);
		return;
	}
	FUZZ_CHECK(j.alg != NULL && j.url != NULL);
	FUZZ_CHECK(!need_nonce || j.nonce != NULL);
	FUZZ_CHECK(mac || ((j.jwk != NULL) != (j.kid != NULL)));
	FUZZ_CHECK(j.payload_len == 0 || json_is_object(j.body));
	if (mac) {
		static const unsigned char k[32];

		(void)acme_jws_verify_mac(&j, k, sizeof(k), &err);
	} else if (j.jwk != NULL) {
		if (acme_jwk_key(j.jwk, &key, &err) == HKMS_OK) {
			FUZZ_CHECK(key != NULL);
			FUZZ_CHECK(acme_jwk_thumbprint(j.jwk, tp, &err) ==
			    HKMS_OK && strlen(tp) == 43);
			FUZZ_CHECK(acme_jwk_equal(j.jwk, j.jwk));
			if (acme_jws_verify(&j, key, &err) != HKMS_OK)
				check_refusal(&err);
			EVP_PKEY_free(key);
		} else {
			FUZZ_CHECK(key == NULL);
			check_refusal(&err);
		}
	}
	if (inner && j.payload_len > 0)
		one(j.payload, j.payload_len, 0, 0, 0);
	acme_jws_free(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	one(data + 1, size - 1, data[0] & 1, (data[0] >> 1) & 1,
	    (data[0] >> 2) & 1);
	ERR_clear_error();
	return 0;
}
