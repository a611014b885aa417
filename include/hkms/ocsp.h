/*
 * OCSP (RFC 6960) in the x509 layer: the request parser, the response
 * builder and the signature through a token key (issue 14a). The
 * responder itself (issuer lookup, status, cache) is an operation,
 * src/ops/ocsp.c; the routes are src/http/routes_ocsp.c.
 */
#ifndef HKMS_OCSP_H
#define HKMS_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ocsp.h>

#include "hkms/error.h"
#include "hkms/x509.h"

/* single requests in one OCSP request; more is malformedRequest */
#define HKMS_OCSP_MAX_SINGLE 16
/* a request larger than this is malformedRequest (RFC 6960 requests are
 * a few hundred bytes) */
#define HKMS_OCSP_MAX_REQUEST 8192
/* nonce bytes accepted (RFC 8954: 1..32) */
#define HKMS_OCSP_MAX_NONCE 32

/** Parse a DER OCSPRequest strictly: the whole input is one request
 *  (no trailing bytes), 1..HKMS_OCSP_MAX_SINGLE single requests, each
 *  CertID with a digest OpenSSL knows (SHA-1, SHA-256, ...) and hashes of
 *  that digest's length, a nonce (if any) of 1..HKMS_OCSP_MAX_NONCE bytes.
 *  A signature on the request is ignored. *out: OCSP_REQUEST_free.
 *  HKMS_E_INVALID "ocsp_malformed" otherwise. Thread-safe. */
enum hkms_rc hkms_x509_ocsp_request_parse(const unsigned char *der,
    size_t len, OCSP_REQUEST **out, struct hkms_err *err);

/** 1 if the request carries a nonce. */
int hkms_x509_ocsp_request_has_nonce(OCSP_REQUEST *req);

/** One answer of a basic response. */
struct hkms_x509_ocsp_status {
	OCSP_CERTID *id;	/* the request's CertID (borrowed, copied
				 * into the response) */
	int status;		/* V_OCSP_CERTSTATUS_GOOD, _REVOKED,
				 * _UNKNOWN */
	int reason;		/* revoked: enum hkms_x509_crl_reason, or -1
				 * for none (unspecified is left out, as the
				 * CA/Browser Forum asks) */
	int64_t revoked_at;	/* revoked: unix seconds */
};

/** An unsigned basic response with n answers, thisUpdate/nextUpdate
 *  (unix seconds; next_update 0 = none) and the nonce of nonce_from
 *  (may be NULL: none). *out: OCSP_BASICRESP_free. */
enum hkms_rc hkms_x509_ocsp_basic_build(const struct hkms_x509_ocsp_status *st,
    size_t n, OCSP_REQUEST *nonce_from, int64_t this_update,
    int64_t next_update, OCSP_BASICRESP **out, struct hkms_err *err);

/** Sign bs (unsigned, from hkms_x509_ocsp_basic_build) with signer (the
 *  private half of signer_cert's key, usually a token key): producedAt
 *  now, responderID by key hash, no certificates. Like the other sign
 *  functions (x509.h, "Signing") the signer is checked against
 *  signer_cert first and the signature verified after; unlike them, sign
 *  a response once: a token retry builds a new one (OpenSSL 3.0's
 *  OCSP_basic_sign_ctx sets the responder ID again without freeing the
 *  first, so a second call on the same object leaks it). */
enum hkms_rc hkms_x509_ocsp_sign(OCSP_BASICRESP *bs, EVP_PKEY *signer,
    X509 *signer_cert, enum hkms_x509_digest digest, struct hkms_err *err);

/** The DER OCSPResponse: status OCSP_RESPONSE_STATUS_SUCCESSFUL with bs
 *  (borrowed), or an error status (malformedRequest, internalError,
 *  tryLater, unauthorized) with bs NULL. *der malloc'd (free). */
enum hkms_rc hkms_x509_ocsp_response_der(int status, OCSP_BASICRESP *bs,
    unsigned char **der, size_t *len, struct hkms_err *err);

#endif
