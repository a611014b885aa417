/*
 * Internals of the ACME server (src/ops/acme*.c, RFC 8555): the JWS and
 * JWK handling (acme_jws.c, no state: the fuzz target calls it), the
 * nonces (acme_nonce.c), the validation of challenges (acme_validate.c)
 * and the state machine (acme.c). Not installed, not public.
 * Design: docs/acme.md.
 */
#ifndef HKMS_OPS_ACME_INT_H
#define HKMS_OPS_ACME_INT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "hkms/error.h"

struct hkms_ops_ctx;
struct hkms_service;
struct hkms_config;

/* ---- base64url (RFC 4648 §5, no padding) ---- */

/* Decode s[0..n) into a malloc'd buffer (NUL-terminated for text use;
 * *len excludes it). Padding, '+', '/' and whitespace are refused. 0 on
 * success, -1 otherwise (*out NULL). */
int acme_b64url_decode(const char *s, size_t n, unsigned char **out,
    size_t *len);

/* Encode into a malloc'd NUL-terminated string, NULL if out of memory. */
char *acme_b64url_encode(const unsigned char *d, size_t n);

/* ---- JWS (RFC 7515 flattened JSON serialization, RFC 8555 §6.2) ---- */

struct acme_jws {
	json_t *doc;			/* the parsed body */
	json_t *hdr;			/* the decoded protected header */
	const char *alg, *nonce, *url, *kid;	/* into hdr (NULL: absent) */
	json_t *jwk;			/* into hdr (borrowed), or NULL */
	unsigned char *payload;		/* decoded payload, NUL-terminated */
	size_t payload_len;		/* 0: POST-as-GET ("") */
	json_t *body;			/* payload as JSON (NULL: empty) */
	char *signing_input;		/* protected "." payload (ASCII) */
	unsigned char *sig;
	size_t sig_len;
};

/* Parse a flattened JWS: exactly the members protected, payload and
 * signature (no unprotected "header"), each base64url; the protected
 * header a JSON object with alg, url (strings), jwk (object) or kid
 * (string), nonce when need_nonce. A payload that is not empty must be a
 * JSON object. Errors: HKMS_E_INVALID "acme_malformed" (and
 * "acme_bad_signature_algorithm" for an alg other than ES256, ES384,
 * RS256 — HS256 when mac). out is filled on success; acme_jws_free()
 * always. */
enum hkms_rc acme_jws_parse(const unsigned char *body, size_t len,
    int need_nonce, int mac, struct acme_jws *out, struct hkms_err *err);
void acme_jws_free(struct acme_jws *j);

/* The public key of a JWK (RSA of 2048..8192 bits with n, e; EC P-256 or
 * P-384 with x, y): *out (EVP_PKEY_free). A private member (d, p, ...) is
 * refused. HKMS_E_INVALID "acme_malformed", "acme_bad_public_key". */
enum hkms_rc acme_jwk_key(json_t *jwk, EVP_PKEY **out, struct hkms_err *err);

/* The RFC 7638 thumbprint (SHA-256, base64url: 43 characters). */
enum hkms_rc acme_jwk_thumbprint(json_t *jwk, char out[48],
    struct hkms_err *err);

/* The canonical public JWK of key (a new object). */
json_t *acme_jwk_canonical(json_t *jwk);

/* Verify j's signature with key; alg must fit the key (ES256: P-256,
 * ES384: P-384, RS256: RSA). HKMS_E_VERIFY "acme_bad_signature" or
 * HKMS_E_INVALID "acme_bad_signature_algorithm". */
enum hkms_rc acme_jws_verify(const struct acme_jws *j, EVP_PKEY *key,
    struct hkms_err *err);

/* Verify an HS256 JWS with the MAC key (external account binding). */
enum hkms_rc acme_jws_verify_mac(const struct acme_jws *j,
    const unsigned char *key, size_t keylen, struct hkms_err *err);

/* Whether two JWKs are the same public key (canonical members equal). */
int acme_jwk_equal(json_t *a, json_t *b);

/* ---- nonces (acme_nonce.c): in memory, single use, bounded ---- */

/* A fresh nonce (base64url of 16 random bytes) into out. */
enum hkms_rc acme_nonce_new(char out[32], struct hkms_err *err);

/* 1 if nonce was issued by this process and not used yet (it is used
 * now), 0 otherwise. */
int acme_nonce_use(const char *nonce);

/* ---- validation (acme_validate.c) ---- */

/* Queue the validation of challenge chall of authorization authz under
 * ca (record ids); a bounded pool of worker threads runs it with its own
 * context and writes the result into the store. HKMS_E_IN_USE
 * "acme_busy" when the queue is full. */
enum hkms_rc acme_validate_queue(struct hkms_service *svc, const char *ca,
    const char *authz, struct hkms_err *err);

/* Run one validation now (the worker's body; also for tests): type
 * "http-01", "dns-01" or "tls-alpn-01" for identifier name with key
 * authorization ka. On failure err holds the ACME problem code
 * (acme_connection, acme_incorrect_response, acme_dns, acme_tls,
 * acme_rejected_target). */
enum hkms_rc acme_validate_run(const struct hkms_config *cfg,
    const char *type, const char *name, const char *token, const char *ka,
    struct hkms_err *err);

/* acme.c: the worker writes a validation's outcome (called without any
 * lock held). */
void acme_validation_done(struct hkms_service *svc, const char *ca,
    const char *authz);

/* ---- external account binding keys, sealed (acme_eab.c) ---- */

struct hkms_secret;

/* Seal MAC key (klen bytes) of EAB key kid of CA ca with the token's seal
 * key; *sealed: base64url of the blob (malloc'd), for "hmac_key_sealed". */
enum hkms_rc acme_eab_seal(struct hkms_ops_ctx *c, const char *ca,
    const char *kid, const unsigned char *key, size_t klen, char **sealed,
    struct hkms_err *err);

/* Open rec's "hmac_key_sealed" (record of kid under CA ca) into *key. A
 * record without one, or a blob sealed for another record:
 * HKMS_E_VERIFY "seal_invalid". */
enum hkms_rc acme_eab_unseal(struct hkms_ops_ctx *c, const char *ca,
    const char *kid, const json_t *rec, struct hkms_secret **key,
    struct hkms_err *err);

#endif
