/*
 * Internals shared by every operation file.
 */
#ifndef HKMS_OPS_INT_H
#define HKMS_OPS_INT_H

#include <openssl/x509.h>

#include "hkms/error.h"
#include "hkms/x509.h"

struct hkms_hsm;

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
