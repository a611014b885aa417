/*
 * Internals shared by the certificate operations (src/ops/certs.c and
 * src/ops/cert_import.c). Not installed, not public.
 */
#ifndef HKMS_OPS_CERT_INT_H
#define HKMS_OPS_CERT_INT_H

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/error.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"

/* The store kind of certificate and CSR records. */
#define CERT_KIND "certs"

/* HKMS_E_INVALID "no token open" unless c->hsm is set. */
enum hkms_rc cert_need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err);

/* name is a valid record name not taken yet: "bad_name", "cert_exists". */
enum hkms_rc cert_name_free(struct hkms_ops_ctx *c, const char *name,
    struct hkms_err *err);

/* A new meta object for a certificate record describing x (borrowed):
 * type, key/key_uri (ki may be NULL), the facts of ops_cert_record() under
 * the names of the one JSON shape, created, used_by []. NULL if out of
 * memory. */
json_t *cert_meta(X509 *x, const char *type,
    const struct hkms_key_info *ki);

/* Write record name under the data lock. It must not exist yet, except
 * that a "csr" record for the same key may be replaced when replace_csr
 * is set (applying the certificate a CSR asked for). */
enum hkms_rc cert_put(struct hkms_ops_ctx *c, const char *name,
    json_t *meta, const char *pem, int replace_csr, struct hkms_err *err);

/* ---- history, the service certificate (issue 13a) ---- */

/* Archive the current record name (if it is a certificate) as the next
 * version of certs/<name>, reason e.g. "renew"; skipped when the newest
 * version already holds the same PEM. Takes the data lock (the caller
 * holds it already, after its write-ahead line). */
enum hkms_rc cert_history_archive(struct hkms_ops_ctx *c, const char *name,
    const char *reason, struct hkms_err *err);

/* Replace record name by meta + pem: archive the current one (reason),
 * keep its used_by and created, then write. Without a current record it
 * is a plain put. Under the data lock. */
enum hkms_rc cert_history_replace(struct hkms_ops_ctx *c, const char *name,
    json_t *meta, const char *pem, const char *reason, struct hkms_err *err);

/* The history rows of name (hkms_ops_cert_history without authz) into
 * obj's "history"; nothing when it cannot be read. */
void cert_history_attach(struct hkms_ops_ctx *c, const char *name,
    json_t *obj);

/* Delete (a deleted certificate) or move (a renamed one) the history of
 * name; best effort after the record change: a failure leaves versions
 * behind (store check lists them), never a broken record. */
void cert_history_drop(struct hkms_ops_ctx *c, const char *name);
void cert_history_move(struct hkms_ops_ctx *c, const char *from,
    const char *to);

/* Restore version (0 = newest; pick = NULL) or the newest version for
 * which pick(meta, arg) is non-zero, audited as op; *version_out the
 * version restored. HKMS_E_NOT_FOUND "history_not_found" when none. */
enum hkms_rc cert_history_restore(struct hkms_ops_ctx *c, const char *name,
    int version, int (*pick)(struct hkms_ops_ctx *, json_t *, void *),
    void *arg, const char *op, int *version_out, struct hkms_err *err);

/* hkms_ops_cert_import, audited as op (cert.import, service.cert_apply). */
enum hkms_rc cert_import_as(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_import_req *req, const char *op,
    json_t **out, struct hkms_err *err);

/* A self-signed certificate for token key ki under leaf profile (NULL =
 * tls-server): subject and san in hkms_x509_name_parse / san_parse
 * syntax, days 0 = the profile's default. *pem: its PEM (malloc'd),
 * *meta: a new certificate record meta (source self-signed, profile). */
enum hkms_rc cert_self_signed_make(struct hkms_ops_ctx *c,
    const struct hkms_key_info *ki, const char *profile, const char *subject,
    const char *san, int days, char **pem, json_t **meta,
    struct hkms_err *err);

#endif
