/*
 * The JWS of ACME requests (RFC 8555 §6.2, RFC 7515, RFC 7517, RFC 7638):
 * strict parsing of the flattened JSON serialization, account keys from
 * JWKs (RSA, EC P-256/P-384), signature checks (ES256, ES384, RS256; HS256
 * only for an external account binding) and key thumbprints. No state:
 * every function here is pure and thread-safe, which is what the fuzz
 * target (tests/fuzz/fuzz_acme_jws.c) relies on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "acme_int.h"

#define JWS_MAX (256 * 1024)

static const char b64u[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64u_val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

int
acme_b64url_decode(const char *s, size_t n, unsigned char **out, size_t *len)
{
	unsigned char *d;
	size_t i, k = 0;
	unsigned acc = 0;
	int bits = 0, v;

	*out = NULL;
	*len = 0;
	if (n % 4 == 1 || n > JWS_MAX)
		return -1;
	if ((d = malloc(n * 3 / 4 + 2)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64u_val((unsigned char)s[i])) < 0) {
			free(d);
			return -1;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* the unused low bits of the last character must be zero */
	if (acc != 0) {
		free(d);
		return -1;
	}
	d[k] = '\0';
	*out = d;
	*len = k;
	return 0;
}

char *
acme_b64url_encode(const unsigned char *d, size_t n)
{
	char *s = malloc(n * 4 / 3 + 4);
	size_t i, k = 0;
	unsigned acc = 0;
	int bits = 0;

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | d[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			s[k++] = b64u[(acc >> bits) & 63];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		s[k++] = b64u[(acc << (6 - bits)) & 63];
	s[k] = '\0';
	return s;
}

static enum hkms_rc
malformed(struct hkms_err *err, const char *what)
{
	return hkms_err_setc(err, HKMS_E_INVALID, "acme_malformed",
	    "malformed request: %s", what);
}

void
acme_jws_free(struct acme_jws *j)
{
	if (j == NULL)
		return;
	json_decref(j->doc);
	json_decref(j->hdr);
	json_decref(j->body);
	free(j->payload);
	free(j->signing_input);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

static const char *
hdr_str(json_t *hdr, const char *key, int *bad)
{
	json_t *v = json_object_get(hdr, key);

	if (v == NULL)
		return NULL;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 2048) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

enum hkms_rc
acme_jws_parse(const unsigned char *body, size_t len, int need_nonce,
    int mac, struct acme_jws *j, struct hkms_err *err)
{
	json_error_t je;
	json_t *p, *pl, *sg;
	const char *ps, *pls, *sgs, *key;
	unsigned char *hb = NULL;
	size_t hlen, n;
	json_t *v;
	int bad = 0;

	memset(j, 0, sizeof(*j));
	if (body == NULL || len == 0)
		return malformed(err, "the body must be a JWS");
	if (len > JWS_MAX)
		return malformed(err, "the body is too large");
	j->doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
	    &je);
	if (j->doc == NULL || !json_is_object(j->doc))
		return malformed(err, "the body is not a JSON object");
	json_object_foreach(j->doc, key, v)
		if (strcmp(key, "protected") != 0 &&
		    strcmp(key, "payload") != 0 &&
		    strcmp(key, "signature") != 0)
			return malformed(err, "only the flattened JWS members "
			    "protected, payload and signature are accepted");
	p = json_object_get(j->doc, "protected");
	pl = json_object_get(j->doc, "payload");
	sg = json_object_get(j->doc, "signature");
	if (!json_is_string(p) || !json_is_string(pl) || !json_is_string(sg))
		return malformed(err, "protected, payload and signature must "
		    "be strings");
	ps = json_string_value(p);
	pls = json_string_value(pl);
	sgs = json_string_value(sg);
	if (acme_b64url_decode(ps, json_string_length(p), &hb, &hlen) != 0)
		return malformed(err, "protected is not base64url");
	j->hdr = json_loadb((const char *)hb, hlen, JSON_REJECT_DUPLICATES,
	    &je);
	free(hb);
	if (j->hdr == NULL || !json_is_object(j->hdr))
		return malformed(err, "the protected header is not a JSON "
		    "object");
	if (acme_b64url_decode(pls, json_string_length(pl), &j->payload,
	    &j->payload_len) != 0)
		return malformed(err, "payload is not base64url");
	if (acme_b64url_decode(sgs, json_string_length(sg), &j->sig,
	    &j->sig_len) != 0 || j->sig_len == 0)
		return malformed(err, "signature is not base64url");
	if (j->payload_len > 0) {
		j->body = json_loadb((const char *)j->payload, j->payload_len,
		    JSON_REJECT_DUPLICATES, &je);
		if (j->body == NULL || !json_is_object(j->body))
			return malformed(err, "the payload is not a JSON "
			    "object");
	}
	n = json_string_length(p) + json_string_length(pl) + 2;
	if ((j->signing_input = malloc(n)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	memcpy(j->signing_input, ps, json_string_length(p));
	j->signing_input[json_string_length(p)] = '.';
	memcpy(j->signing_input + json_string_length(p) + 1, pls,
	    json_string_length(pl) + 1);
	j->alg = hdr_str(j->hdr, "alg", &bad);
	j->nonce = hdr_str(j->hdr, "nonce", &bad);
	j->url = hdr_str(j->hdr, "url", &bad);
	j->kid = hdr_str(j->hdr, "kid", &bad);
	j->jwk = json_object_get(j->hdr, "jwk");
	if (bad)
		return malformed(err, "a protected header member is not a "
		    "string");
	/* RFC 7515 §4.1.11: crit names extensions the recipient must
	 * understand; this server understands none (b64 of RFC 7797
	 * neither: the payload is always base64url) */
	if (json_object_get(j->hdr, "crit") != NULL ||
	    json_object_get(j->hdr, "b64") != NULL)
		return malformed(err, "the protected header names extensions "
		    "(crit, b64) this server does not support");
	if (j->alg == NULL)
		return malformed(err, "the protected header has no alg");
	if (mac ? strcmp(j->alg, "HS256") != 0 :
	    (strcmp(j->alg, "ES256") != 0 && strcmp(j->alg, "ES384") != 0 &&
	    strcmp(j->alg, "RS256") != 0))
		return hkms_err_setc(err, HKMS_E_INVALID,
		    "acme_bad_signature_algorithm", "unsupported signature "
		    "algorithm '%.32s' (%s)", j->alg, mac ? "HS256" :
		    "ES256, ES384, RS256");
	if (j->url == NULL)
		return malformed(err, "the protected header has no url");
	if (!mac) {
		if (j->jwk != NULL && !json_is_object(j->jwk))
			return malformed(err, "jwk must be an object");
		if ((j->jwk != NULL) == (j->kid != NULL))
			return malformed(err, "the protected header needs "
			    "exactly one of jwk and kid");
	}
	if (need_nonce && j->nonce == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_nonce",
		    "the protected header has no nonce");
	return HKMS_OK;
}

/* ---- JWK ----------------------------------------------------------- */

static BIGNUM *
jwk_bn(json_t *jwk, const char *member, size_t *nbytes)
{
	json_t *v = json_object_get(jwk, member);
	unsigned char *d = NULL;
	size_t n;
	BIGNUM *bn;

	if (!json_is_string(v) || acme_b64url_decode(json_string_value(v),
	    json_string_length(v), &d, &n) != 0 || n == 0) {
		free(d);
		return NULL;
	}
	bn = BN_bin2bn(d, (int)n, NULL);
	if (nbytes != NULL)
		*nbytes = n;
	free(d);
	return bn;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

enum hkms_rc
acme_jwk_key(json_t *jwk, EVP_PKEY **out, struct hkms_err *err)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi",
	    "oth", "k" };
	enum hkms_rc rc = HKMS_E_INVALID;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL;
	BIGNUM *n = NULL, *e = NULL, *x = NULL, *y = NULL;
	unsigned char pt[1 + 2 * 66];
	const char *kty, *crv;
	size_t i, xl = 0, yl = 0, cl;
	int ec;

	*out = NULL;
	if (!json_is_object(jwk))
		return malformed(err, "jwk must be an object");
	for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		if (json_object_get(jwk, priv[i]) != NULL)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_public_key", "the jwk holds private "
			    "key material ('%s')", priv[i]);
	kty = jstr(jwk, "kty");
	if (kty == NULL)
		return malformed(err, "jwk has no kty");
	ec = strcmp(kty, "EC") == 0;
	if (!ec && strcmp(kty, "RSA") != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_public_key",
		    "unsupported key type '%.16s' (RSA, EC)", kty);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (ec) {
		crv = jstr(jwk, "crv");
		if (crv != NULL && strcmp(crv, "P-256") == 0)
			cl = 32;
		else if (crv != NULL && strcmp(crv, "P-384") == 0)
			cl = 48;
		else {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_public_key", "unsupported curve "
			    "(P-256, P-384)");
			goto out;
		}
		x = jwk_bn(jwk, "x", &xl);
		y = jwk_bn(jwk, "y", &yl);
		if (x == NULL || y == NULL || xl != cl || yl != cl) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_public_key", "jwk x and y must be %zu "
			    "bytes", cl);
			goto out;
		}
		pt[0] = 4;
		BN_bn2binpad(x, pt + 1, (int)cl);
		BN_bn2binpad(y, pt + 1 + cl, (int)cl);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, cl == 32 ? "P-256" : "P-384",
		    0) || !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * cl))
			goto crypto;
	} else {
		n = jwk_bn(jwk, "n", NULL);
		e = jwk_bn(jwk, "e", NULL);
		if (n == NULL || e == NULL || BN_num_bits(n) < 2048 ||
		    BN_num_bits(n) > 8192 || !BN_is_odd(e) ||
		    BN_num_bits(e) > 33 || BN_is_one(e)) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_public_key", "an RSA account key needs "
			    "2048..8192 bits and an odd exponent");
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto crypto;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pc = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA",
	    NULL)) == NULL || EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto crypto;
	if (ec) {
		/* the point must be on the curve */
		EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out,
		    NULL);
		int ok = chk != NULL && EVP_PKEY_public_check(chk) == 1;

		EVP_PKEY_CTX_free(chk);
		if (!ok) {
			EVP_PKEY_free(*out);
			*out = NULL;
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_public_key", "the jwk point is not on "
			    "its curve");
			goto out;
		}
	}
	rc = HKMS_OK;
	goto out;
crypto:
	rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_public_key",
	    "the jwk is not a usable public key");
	EVP_PKEY_free(*out);
	*out = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	BN_free(x);
	BN_free(y);
	return rc;
}

json_t *
acme_jwk_canonical(json_t *jwk)
{
	const char *kty = jstr(jwk, "kty");

	if (kty != NULL && strcmp(kty, "EC") == 0)
		return json_pack("{s:s?,s:s,s:s?,s:s?}", "crv", jstr(jwk,
		    "crv"), "kty", "EC", "x", jstr(jwk, "x"), "y", jstr(jwk,
		    "y"));
	if (kty != NULL && strcmp(kty, "RSA") == 0)
		return json_pack("{s:s?,s:s,s:s?}", "e", jstr(jwk, "e"),
		    "kty", "RSA", "n", jstr(jwk, "n"));
	return NULL;
}

enum hkms_rc
acme_jwk_thumbprint(json_t *jwk, char out[48], struct hkms_err *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	json_t *c = acme_jwk_canonical(jwk);
	char *s = NULL, *b = NULL;

	out[0] = '\0';
	/* RFC 7638: the required members in lexicographic order, no
	 * whitespace (jansson sorts keys with JSON_SORT_KEYS) */
	if (c == NULL || (s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL) {
		json_decref(c);
		return malformed(err, "jwk has no usable members");
	}
	SHA256((const unsigned char *)s, strlen(s), md);
	b = acme_b64url_encode(md, sizeof(md));
	free(s);
	json_decref(c);
	if (b == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	snprintf(out, 48, "%s", b);
	free(b);
	return HKMS_OK;
}

int
acme_jwk_equal(json_t *a, json_t *b)
{
	json_t *ca = acme_jwk_canonical(a), *cb = acme_jwk_canonical(b);
	int eq = ca != NULL && cb != NULL && json_equal(ca, cb);

	json_decref(ca);
	json_decref(cb);
	return eq;
}

/* ---- signatures ---------------------------------------------------- */

static enum hkms_rc
bad_sig(struct hkms_err *err)
{
	ERR_clear_error();
	return hkms_err_setc(err, HKMS_E_VERIFY, "acme_bad_signature",
	    "the JWS signature does not verify");
}

enum hkms_rc
acme_jws_verify(const struct acme_jws *j, EVP_PKEY *key, struct hkms_err *err)
{
	EVP_MD_CTX *mc = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	const unsigned char *sig = j->sig;
	size_t siglen = j->sig_len, half = 0;
	const EVP_MD *md;
	int dlen, ok = 0, bits = EVP_PKEY_get_bits(key);

	if (strcmp(j->alg, "RS256") == 0) {
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
			goto alg;
		md = EVP_sha256();
	} else if (strcmp(j->alg, "ES256") == 0) {
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || bits != 256)
			goto alg;
		md = EVP_sha256();
		half = 32;
	} else if (strcmp(j->alg, "ES384") == 0) {
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || bits != 384)
			goto alg;
		md = EVP_sha384();
		half = 48;
	} else
		goto alg;
	if (half != 0) {
		/* JWS carries r || s (RFC 7518 §3.4); OpenSSL wants DER */
		if (siglen != 2 * half)
			return bad_sig(err);
		if ((es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(j->sig, (int)half, NULL)) == NULL ||
		    (s = BN_bin2bn(j->sig + half, (int)half, NULL)) == NULL ||
		    !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		}
		if ((dlen = i2d_ECDSA_SIG(es, &der)) <= 0) {
			ECDSA_SIG_free(es);
			return bad_sig(err);
		}
		ECDSA_SIG_free(es);
		sig = der;
		siglen = (size_t)dlen;
	}
	if ((mc = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(mc, NULL, md, NULL, key) == 1 &&
	    EVP_DigestVerify(mc, sig, siglen,
	    (const unsigned char *)j->signing_input,
	    strlen(j->signing_input)) == 1)
		ok = 1;
	EVP_MD_CTX_free(mc);
	OPENSSL_free(der);
	return ok ? HKMS_OK : bad_sig(err);
alg:
	return hkms_err_setc(err, HKMS_E_INVALID,
	    "acme_bad_signature_algorithm", "alg '%.16s' does not fit the "
	    "account key", j->alg);
}

enum hkms_rc
acme_jws_verify_mac(const struct acme_jws *j, const unsigned char *key,
    size_t keylen, struct hkms_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (strcmp(j->alg, "HS256") != 0)
		return hkms_err_setc(err, HKMS_E_INVALID,
		    "acme_bad_signature_algorithm", "the external account "
		    "binding must use HS256");
	if (HMAC(EVP_sha256(), key, (int)keylen,
	    (const unsigned char *)j->signing_input,
	    strlen(j->signing_input), md, &mdlen) == NULL ||
	    mdlen != j->sig_len || CRYPTO_memcmp(md, j->sig, mdlen) != 0) {
		OPENSSL_cleanse(md, sizeof(md));
		return hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "the external account binding does not verify");
	}
	OPENSSL_cleanse(md, sizeof(md));
	return HKMS_OK;
}
