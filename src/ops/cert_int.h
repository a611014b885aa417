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

#endif
