/*
 * Revocation checking (issue 14a): CRLs read from outside (parsed and
 * checked in src/x509/crl_check.c) and the CRLs imported into the
 * truststore (src/store/trust_crl.c, records of kind "trust/crls" beside
 * the truststore entries, changes in the trust journal). The operations
 * that use them (cert show/list, trust verify, trust crl ...) are in
 * src/ops/revocation.c; design: docs/truststore.md "Revocation".
 */
#ifndef HKMS_REVOCATION_H
#define HKMS_REVOCATION_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/error.h"

struct hkms_trust;

/* ------------------------------------------------------------------ */
/* x509: one CRL                                                        */
/* ------------------------------------------------------------------ */

/** The largest CRL accepted (bytes, PEM or DER). */
#define HKMS_CRL_MAX (32 * 1024 * 1024)

/** Parse one CRL, PEM ("X509 CRL", text before the block allowed, only
 *  blanks after it) or DER (no trailing data). HKMS_E_INVALID "bad_crl"
 *  otherwise, "too_large" above HKMS_CRL_MAX. *out: X509_CRL_free(). */
enum hkms_rc hkms_x509_crl_parse(const unsigned char *data, size_t len,
    X509_CRL **out, struct hkms_err *err);

/** The form checks of a CRL to rely on: a complete CRL (a delta CRL is
 *  HKMS_E_INVALID "crl_delta_unsupported"), no critical extension other
 *  than those RFC 5280 defines for CRLs and no removeFromCRL entry
 *  ("bad_crl"), a nextUpdate
 *  ("crl_no_next_update"). Freshness and signature are the caller's. */
enum hkms_rc hkms_x509_crl_check_form(X509_CRL *crl, struct hkms_err *err);

/** The CRL's thisUpdate / nextUpdate as Unix seconds (0 when absent). */
int64_t hkms_x509_crl_this_update(const X509_CRL *crl);
int64_t hkms_x509_crl_next_update(const X509_CRL *crl);

/** Compare the cRLNumbers of a and b: <0, 0, >0; a CRL without one is
 *  below every CRL with one (two without one compare by thisUpdate). */
int hkms_x509_crl_number_cmp(const X509_CRL *a, const X509_CRL *b);

/** The CRL as a new JSON object: issuer, number (decimal string, null
 *  without one), this_update, next_update (RFC 3339), entries (count),
 *  signature_algorithm, sha256 (hex of the DER). NULL if out of memory. */
json_t *hkms_x509_crl_describe(X509_CRL *crl);

/** 1 when crl lists serial; then *revoked_at (Unix seconds) and *reason
 *  (an RFC 5280 name, "unspecified" without a reasonCode; static) are
 *  set (each may be NULL). 0 when it does not. */
int hkms_x509_crl_lists(X509_CRL *crl, const ASN1_INTEGER *serial,
    int64_t *revoked_at, const char **reason);

/* ------------------------------------------------------------------ */
/* store: CRLs in the truststore                                        */
/* ------------------------------------------------------------------ */

/** Store kind of truststore CRLs: <data>/trust/crls/<id>.json + .pem. */
#define HKMS_TRUST_CRL_KIND "trust/crls"

/** The id of the CRLs a CA certificate signs: 32 hex digits of the
 *  SHA-256 of its subject name (DER) followed by its public key (DER).
 *  One CRL per id is kept. out: at least 33 bytes. */
enum hkms_rc hkms_trust_crl_id(X509 *ca, char out[33], struct hkms_err *err);

/**
 * Import a CRL (PEM or DER) into the truststore, under the data lock:
 * form checks (hkms_x509_crl_check_form); its signature must verify with
 * a CA certificate of the truststore whose subject is the CRL's issuer
 * (none by that name: HKMS_E_VERIFY "crl_issuer_unknown"; none whose key
 * verifies it: "crl_bad_signature"); it must be fresh at now (0 = the
 * current time): nextUpdate passed "crl_expired", thisUpdate in the
 * future "crl_not_yet_valid". A CRL of the same CA already stored is
 * replaced by one with a higher number; the same CRL again is a no-op
 * ("unchanged": true); an older or equal-numbered different one is
 * HKMS_E_EXISTS "crl_not_newer". Writes the record (the commit point) and
 * a journal line ("crl_added" / "crl_replaced", alias = the id).
 * *out (may be NULL): {id, signer {alias, subject, thumbprint}, replaced
 * (the old number or null), unchanged, crl: hkms_x509_crl_describe}.
 */
enum hkms_rc hkms_trust_crl_import(struct hkms_trust *tr,
    const unsigned char *data, size_t len, int64_t now, json_t **out,
    struct hkms_err *err);

/** Every stored CRL as a new JSON array (sorted by id) of {id, issuer,
 *  number, this_update, next_update, entries, signer, imported, status:
 *  "current" | "expired" (nextUpdate before now, 0 = the current time)}. */
enum hkms_rc hkms_trust_crl_list(struct hkms_trust *tr, int64_t now,
    json_t **out, struct hkms_err *err);

/** Delete CRL id (journal "crl_removed"). HKMS_E_NOT_FOUND "not_found". */
enum hkms_rc hkms_trust_crl_delete(struct hkms_trust *tr, const char *id,
    struct hkms_err *err);

/** The stored CRL of the CA certificate issuer (borrowed), its signature
 *  checked again with issuer's key: *crl (X509_CRL_free) and *meta (the
 *  record, json_decref; may be NULL). HKMS_E_NOT_FOUND when none is
 *  stored (or it no longer verifies with issuer's key). Lock-free. */
enum hkms_rc hkms_trust_crl_find(struct hkms_trust *tr, X509 *issuer,
    X509_CRL **crl, json_t **meta, struct hkms_err *err);

#endif
