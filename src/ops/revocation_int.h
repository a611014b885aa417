/*
 * Revocation lookups shared by the operations (issue 14a; src/ops/
 * revocation.c): the hkms CAs and their revocation indexes, and the
 * revocation check of a verified path. Not installed, not public.
 */
#ifndef HKMS_OPS_REVOCATION_INT_H
#define HKMS_OPS_REVOCATION_INT_H

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/error.h"
#include "hkms/ops.h"

struct hkms_trust;

/* The active hkms CAs, loaded once per operation. */
struct ops_rev_cas;

/* Load every active CA of the store (a CA that does not load is left
 * out). Free with ops_rev_cas_free(). */
enum hkms_rc ops_rev_cas_load(struct hkms_ops_ctx *c,
    struct ops_rev_cas **out, struct hkms_err *err);
void ops_rev_cas_free(struct ops_rev_cas *cas);

/* For a certificate object o (docs/certificates.md "JSON shape"): when an
 * hkms CA of cas issued it (issuer = the CA's subject and, where both are
 * given, authority key id = the CA's subject key id) and that CA's
 * revocation index has its serial, set status "revoked", revoked_at,
 * reason and revoked_by (the CA's name). One stat when not revoked. */
void ops_rev_annotate(struct hkms_ops_ctx *c, const struct ops_rev_cas *cas,
    json_t *o);

/* ops_rev_annotate() with cas, or (cas NULL) with the CAs loaded for
 * this one object. */
void ops_rev_mark(struct hkms_ops_ctx *c, const struct ops_rev_cas *cas,
    json_t *o);

/* Revocation modes of trust verify. */
enum ops_rev_mode { OPS_REV_OFF = 0, OPS_REV_PREFER = 1, OPS_REV_REQUIRE = 2 };

/* After a verification that held (res: hkms_trust_verify's result),
 * check every certificate of res's path but the anchor: an hkms CA's
 * certificates in its revocation index, the others in the truststore's
 * CRL of their issuer, by mode (hkms CAs / others). Each path element
 * gets "revocation" {status good|revoked|unknown|not_checked, source
 * index|crl, ...}; res gets "revocation" {hkms_cas, other_cas, warnings}.
 * A revoked certificate, or an unknown status under require, turns res
 * into a failure (ok false, error {code certificate_revoked |
 * revocation_unknown, message, depth, subject, revocation}) and returns
 * HKMS_E_VERIFY with err set the same way. chain: the presented
 * certificates (borrowed). */
enum hkms_rc ops_rev_check_path(struct hkms_ops_ctx *c, struct hkms_trust *tr,
    STACK_OF(X509) *chain, enum ops_rev_mode hkms_mode,
    enum ops_rev_mode other_mode, int64_t at, json_t *res,
    struct hkms_err *err);

/* Parse a revocation mode ("require", "prefer", "off"); NULL or "" keeps
 * the defaults (require for hkms CAs, prefer for the others).
 * HKMS_E_INVALID "invalid_field" otherwise. */
enum hkms_rc ops_rev_mode_parse(const char *s, enum ops_rev_mode *hkms_mode,
    enum ops_rev_mode *other_mode, struct hkms_err *err);

#endif
