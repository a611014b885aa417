/*
 * Internals shared by every operation file.
 */
#ifndef HKMS_OPS_INT_H
#define HKMS_OPS_INT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/clients.h"
#include "hkms/error.h"
#include "hkms/hsm.h"
#include "hkms/x509.h"

struct hkms_hsm;
struct hkms_ops_ctx;
struct hkms_key_info;
struct hkms_service;

/* The service's cache of parsed CAs (ca_util.c, ca_load): made and freed
 * with the service; ops_service_ca_cache() is NULL without a service. */
struct ops_ca_cache;
struct ops_ca_cache *ops_ca_cache_new(void);
void ops_ca_cache_free(struct ops_ca_cache *cc);
struct ops_ca_cache *ops_service_ca_cache(struct hkms_service *svc);

/* The first statement of every operation: may the context's principal
 * do op (its audit name) on ca with profile (hkms_ops_authorize, authz.c)?
 * A refusal is audited there and returned. */
#define OPS_AUTHORIZE(c, op, ca, profile, err) do {			\
	enum hkms_rc authz_rc_ = hkms_ops_authorize((c), (op), (ca),	\
	    (profile), (err));						\
	if (authz_rc_ != HKMS_OK)					\
		return authz_rc_;					\
} while (0)

/* Who uses certificate record name (inuse.c, issue 13b): computed now
 * (the service, config, registered clients, the record's used_by); a new
 * array. ops_cert_set_users sets in_use and used_by of o from it. */
json_t *ops_cert_users(struct hkms_ops_ctx *c, const char *name,
    json_t *meta);
void ops_cert_set_users(struct hkms_ops_ctx *c, const char *name,
    json_t *meta, json_t *o);
/* Who uses CA name now (ca_delete.c): its unexpired, unrevoked issued
 * certificates, child CAs, the server's client CA; a new array. */
json_t *ops_ca_users(struct hkms_ops_ctx *c, const char *name);

/* Thumbprints as names (thumbref.c, issue 13b): when *name is
 * "sha256:<64 hex>", it is replaced by the name of the one certificate
 * record (certs, cas) or truststore alias holding that certificate (kept
 * in buf); not found: cert_not_found / not_found; several records:
 * ambiguous_thumbprint. Anything else is left as it is. */
#define HKMS_OPS_REF_SIZE 80
int ops_is_thumbprint(const char *ref);
enum hkms_rc ops_cert_ref(struct hkms_ops_ctx *c, const char **name,
    char buf[HKMS_OPS_REF_SIZE], struct hkms_err *err);
enum hkms_rc ops_trust_ref(struct hkms_ops_ctx *c, const char **alias,
    char buf[HKMS_OPS_REF_SIZE], struct hkms_err *err);

/* The request's extension switches on *prof (issue 13b): replaced by the
 * narrowed copy when ch sets any (hkms_x509_profile_narrow); *prof is
 * kept (and still the caller's to free) on failure. */
enum hkms_rc ops_profile_narrow(const struct hkms_x509_ext_choice *ch,
    struct hkms_x509_profile **prof, struct hkms_err *err);

/* Make key name in the token — generated with type, or import (when not
 * NULL, borrowed) written in — under a key record: reserved in the store
 * first (key_exists when the name is taken by a record, a live
 * reservation or a token key), committed after the token work. Every
 * operation that makes a key goes through here (docs/hsm.md). */
enum hkms_rc ops_key_create(struct hkms_ops_ctx *c, const char *name,
    enum hkms_key_type type, EVP_PKEY *import, struct hkms_key_info *ki,
    struct hkms_err *err);

/* Find the token key ref (a name or "id:<hex>") into ki. A name with a
 * key record is the key of the recorded CKA_ID (and that label): another
 * application's key taking the same label does not make ours ambiguous. */
enum hkms_rc ops_key_find(struct hkms_ops_ctx *c, const char *ref,
    struct hkms_key_info *ki, struct hkms_err *err);

/* Destroy the key pair ki describes (exact id and label) and its record. */
enum hkms_rc ops_key_remove(struct hkms_ops_ctx *c,
    const struct hkms_key_info *ki, struct hkms_err *err);

/* Sign an already built CSR, certificate (issuer NULL: self-signed) or CRL
 * with token key keyref (a name or "id:<hex>"). Idempotent: the token
 * layer may run it twice after a reconnect. */
enum hkms_rc ops_sign_req(struct hkms_hsm *h, const char *keyref,
    X509_REQ *req, enum hkms_x509_digest digest, struct hkms_err *err);
enum hkms_rc ops_sign_cert(struct hkms_hsm *h, const char *keyref, X509 *cert,
    const X509 *issuer, enum hkms_x509_digest digest, struct hkms_err *err);
enum hkms_rc ops_sign_crl(struct hkms_hsm *h, const char *keyref,
    X509_CRL *crl, const X509 *ca, enum hkms_x509_digest digest,
    struct hkms_err *err);

/* days is 0 (default) or 1..max (HKMS_OPS_DAYS_MAX, HKMS_OPS_CRL_DAYS_MAX):
 * else HKMS_E_INVALID "days must be 1..max". Every operation that takes a
 * lifetime checks it here (bounds.c). */
enum hkms_rc ops_days_check(int days, int max, struct hkms_err *err);

/* The one JSON shape of a certificate (cert_json.c, docs/certificates.md
 * "JSON shape"): the facts of x (or of the CSR req; both NULL: facts null)
 * from hkms_certio_describe plus the context of record meta (borrowed,
 * may be NULL): name, type (NULL: meta's, else "certificate"/"csr"),
 * status ("revoked" if meta says so), source, profile, key, key_uri,
 * created, used_by, and the CA context keys meta has. pem is x's (or
 * req's) PEM, last. now 0: time(NULL). */
enum hkms_rc ops_cert_object(X509 *x, X509_REQ *req, json_t *meta,
    const char *name, const char *type, int64_t now, json_t **out,
    struct hkms_err *err);

/* The same from a record's PEM (certificate + chain, or a CSR), with
 * chain_length for certificates; an unreadable PEM gives null facts. */
enum hkms_rc ops_cert_object_pem(const char *pem, json_t *meta,
    const char *name, const char *type, int64_t now, json_t **out,
    struct hkms_err *err);

/* The facts a record keeps beside its PEM, under the same names:
 * common_name, subject, san, issuer, serial, not_before, not_after,
 * digest_algorithm, key_type, key_bits, curve, thumbprint, self_signed,
 * is_ca. NULL if out of memory. */
json_t *ops_cert_record(X509 *x, X509_REQ *req);

/* The same two from facts a caller got from hkms_certio_describe() of a
 * certificate (borrowed), so one issuance describes its certificate once
 * for its record and its result. */
json_t *ops_cert_record_facts(json_t *facts);
enum hkms_rc ops_cert_object_facts(json_t *facts, json_t *meta,
    const char *name, const char *type, json_t **out,
    struct hkms_err *err);

/* The additional data that binds a sealed blob to its use: purpose NUL
 * a NUL b (e.g. "hkms/acme-eab", the CA, the key id) into buf; its
 * length, 0 if it does not fit in cap. */
size_t ops_seal_aad(const char *purpose, const char *a, const char *b,
    char *buf, size_t cap);

#endif
