/*
 * Signing: the one step that uses a private key, usually inside the HSM
 * through a libp11-backed EVP_PKEY. Each function may run again on the same
 * object (the token layer retries after a reconnect); OpenSSL's *_sign_ctx
 * replaces the algorithm identifiers and the signature every time. Before
 * the token is touched we check the signer key and that it is the key we
 * expect; afterwards we verify the new signature with the expected public
 * key, which is cheap and catches a token that signs garbage.
 *
 * RSA signs with PKCS#1 v1.5 (sha*WithRSAEncryption): PSS in X.509 is still
 * poorly supported by relying parties and some tokens. EC signs ECDSA.
 */
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "x509_int.h"

/* Check signer against expected, then a digest-sign context for it. */
static enum hkms_rc
sign_ctx(EVP_PKEY *signer, EVP_PKEY *expected, enum hkms_x509_digest digest,
    EVP_MD_CTX **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md;

	if ((rc = hkms_x509_check_key(signer, err)) != HKMS_OK)
		goto out;
	if (expected == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no public key to "
		    "check the signature with");
		goto out;
	}
	/* 0 = different keys; < 0 = cannot compare (some engine keys):
	 * then the verification after signing decides */
	if (EVP_PKEY_eq(signer, expected) == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "signing key does not match the expected public key");
		goto out;
	}
	ERR_clear_error();
	md = x509_digest_md(hkms_x509_digest_resolve(digest, signer));
	if (md == NULL) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "weak_digest",
		    "unsupported digest %d", (int)digest);
		goto out;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestSignInit(mctx, &pctx, md, NULL, signer) != 1 ||
	    (x509_key_is_rsa(signer) &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
		rc = hkms_err_crypto(err, "cannot set up signing");
		goto out;
	}
	*out = mctx;
	mctx = NULL; /* transferred */
	rc = HKMS_OK;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

enum hkms_rc
hkms_x509_sign_req(X509_REQ *req, EVP_PKEY *signer,
    enum hkms_x509_digest digest, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub;

	if (req == NULL || signer == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "CSR signing");
		goto out;
	}
	pub = X509_REQ_get0_pubkey(req);
	if ((rc = sign_ctx(signer, pub, digest, &mctx, err)) != HKMS_OK)
		goto out;
	if (X509_REQ_sign_ctx(req, mctx) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign CSR");
		goto out;
	}
	if (X509_REQ_verify(req, pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_CRYPTO,
		    "signature_check_failed", "new CSR signature does not "
		    "verify with the CSR's public key");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return rc;
}

enum hkms_rc
hkms_x509_sign_cert(X509 *cert, EVP_PKEY *signer, const X509 *issuer,
    enum hkms_x509_digest digest, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub;

	if (cert == NULL || signer == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "certificate signing");
		goto out;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(cert), issuer ?
	    X509_get_subject_name(issuer) : X509_get_subject_name(cert)) !=
	    0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "certificate's issuer name is not the %s subject",
		    issuer ? "issuer's" : "certificate's own");
		goto out;
	}
	pub = issuer ? X509_get0_pubkey(issuer) : X509_get0_pubkey(cert);
	if ((rc = sign_ctx(signer, pub, digest, &mctx, err)) != HKMS_OK)
		goto out;
	if (X509_sign_ctx(cert, mctx) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign certificate");
		goto out;
	}
	if (X509_verify(cert, pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_CRYPTO,
		    "signature_check_failed", "new certificate signature "
		    "does not verify with the issuer's public key");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return rc;
}

enum hkms_rc
hkms_x509_sign_crl(X509_CRL *crl, EVP_PKEY *signer, const X509 *ca,
    enum hkms_x509_digest digest, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub;

	if (crl == NULL || signer == NULL || ca == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "CRL signing");
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(ca)) != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "CRL issuer name is not the CA's subject");
		goto out;
	}
	pub = X509_get0_pubkey(ca);
	if ((rc = sign_ctx(signer, pub, digest, &mctx, err)) != HKMS_OK)
		goto out;
	if (X509_CRL_sign_ctx(crl, mctx) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign CRL");
		goto out;
	}
	if (X509_CRL_verify(crl, pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_CRYPTO,
		    "signature_check_failed", "new CRL signature does not "
		    "verify with the CA's public key");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return rc;
}

enum hkms_rc
x509_sign_ctx(EVP_PKEY *signer, EVP_PKEY *expected,
    enum hkms_x509_digest digest, EVP_MD_CTX **out, struct hkms_err *err)
{
	return sign_ctx(signer, expected, digest, out, err);
}
