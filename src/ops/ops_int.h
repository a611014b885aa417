/*
 * Internals shared by every operation file.
 */
#ifndef HKMS_OPS_INT_H
#define HKMS_OPS_INT_H

#include <openssl/x509.h>

#include "hkms/error.h"
#include "hkms/hsm.h"
#include "hkms/x509.h"

struct hkms_hsm;
struct hkms_ops_ctx;
struct hkms_key_info;

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

#endif
