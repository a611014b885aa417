/*
 * PKCS#10 requests: build one for a key (signed later, through the token,
 * by sign.c), parse what outsiders send us strictly (size limit, one
 * object, canonical DER, nothing around it), and check a received CSR's
 * proof of possession. CSRs are hostile input: their extensions are only
 * read for the SAN request (cert.c), never copied.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "x509_int.h"

enum hkms_rc
hkms_x509_csr_build(EVP_PKEY *pub, const char *subject, const char *san,
    const STACK_OF(X509_EXTENSION) *extra, X509_REQ **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	int i, j, nid;

	if (pub == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "CSR build");
		goto out;
	}
	if ((rc = hkms_x509_check_key(pub, err)) != HKMS_OK ||
	    (rc = hkms_x509_name_parse(subject, &name, err)) != HKMS_OK)
		goto out;
	if ((exts = sk_X509_EXTENSION_new_null()) == NULL)
		goto oom;
	if (san != NULL && *san != '\0') {
		if ((rc = hkms_x509_san_parse(san, &gens, err)) != HKMS_OK)
			goto out;
		if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) ==
		    NULL || !sk_X509_EXTENSION_push(exts, ext))
			goto crypto;
		ext = NULL; /* transferred */
	}
	for (i = 0; extra != NULL && i < sk_X509_EXTENSION_num(extra); i++) {
		const X509_EXTENSION *e = sk_X509_EXTENSION_value(extra, i);
		const ASN1_OBJECT *obj = e == NULL ? NULL :
		    X509_EXTENSION_get_object((X509_EXTENSION *)e);

		if (e == NULL || obj == NULL) {
			rc = hkms_err_set(err, HKMS_E_INVALID, "empty entry "
			    "in requested extensions");
			goto out;
		}
		nid = OBJ_obj2nid(obj);
		for (j = 0; j < sk_X509_EXTENSION_num(exts); j++)
			if (OBJ_cmp(obj, X509_EXTENSION_get_object(
			    sk_X509_EXTENSION_value(exts, j))) == 0) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "bad_csr", "requested extension %s given "
				    "twice", nid != NID_undef ?
				    OBJ_nid2sn(nid) : "(unknown)");
				goto out;
			}
		if ((ext = X509_EXTENSION_dup(e)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ext))
			goto oom;
		ext = NULL; /* transferred */
	}
	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1)
		goto crypto;
	if (sk_X509_EXTENSION_num(exts) > 0 &&
	    X509_REQ_add_extensions(req, exts) != 1)
		goto crypto;
	*out = req;
	req = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	goto out;
crypto:
	rc = hkms_err_crypto(err, "cannot build CSR");
out:
	X509_REQ_free(req);
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* The digest of a signature algorithm must be SHA-2 256/384/512. */
static enum hkms_rc
check_sig_digest(int sig_nid, const char *what, struct hkms_err *err)
{
	int md_nid = NID_undef, pk_nid = NID_undef;

	if (sig_nid == NID_undef ||
	    !OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid))
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_digest",
		    "%s uses an unsupported signature algorithm", what);
	if (md_nid == NID_sha256 || md_nid == NID_sha384 ||
	    md_nid == NID_sha512)
		return HKMS_OK;
	return hkms_err_setc(err, HKMS_E_POLICY, "weak_digest",
	    "%s is signed with %s: only SHA-256/384/512 are accepted", what,
	    md_nid != NID_undef ? OBJ_nid2sn(md_nid) : OBJ_nid2sn(sig_nid));
}

enum hkms_rc
hkms_x509_csr_verify(X509_REQ *csr, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	EVP_PKEY *pub;
	int i, j;

	if (csr == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no CSR given");
	if (X509_REQ_get_version(csr) != X509_REQ_VERSION_1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR version %ld is not supported",
		    X509_REQ_get_version(csr) + 1);
		goto out;
	}
	if ((pub = X509_REQ_get0_pubkey(csr)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR public key cannot be decoded");
		goto out;
	}
	if ((rc = hkms_x509_check_key(pub, err)) != HKMS_OK ||
	    (rc = check_sig_digest(X509_REQ_get_signature_nid(csr), "CSR",
	    err)) != HKMS_OK)
		goto out;
	exts = X509_REQ_get_extensions(csr);
	for (i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++)
		for (j = 0; j < i; j++)
			if (OBJ_cmp(X509_EXTENSION_get_object(
			    sk_X509_EXTENSION_value(exts, i)),
			    X509_EXTENSION_get_object(
			    sk_X509_EXTENSION_value(exts, j))) == 0) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "bad_csr", "CSR requests an extension "
				    "twice");
				goto out;
			}
	if (X509_REQ_verify(csr, pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "bad_csr_signature",
		    "CSR signature does not verify (no proof of possession)");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* Decode exactly one canonical DER request from der/len. */
static enum hkms_rc
csr_from_der(const unsigned char *der, long len, X509_REQ **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	const unsigned char *p = der;
	unsigned char *re = NULL;
	X509_REQ *req;
	int relen;

	/* most CSRs (RSA, P-256/384/521) without OpenSSL's per-call
	 * decoder context; the same verdicts (pubkey.c) */
	if ((*out = x509_csr_d2i_fast(der, len)) != NULL)
		return HKMS_OK;
	if ((req = d2i_X509_REQ(NULL, &p, len)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR cannot be decoded (truncated or not a CSR)");
		goto out;
	}
	if (p != der + len) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "%ld bytes of trailing data after the CSR",
		    (long)(der + len - p));
		goto out;
	}
	/* BER or non-minimal DER would be re-encoded differently; refuse
	 * it rather than sign over bytes we did not parse */
	if ((relen = i2d_X509_REQ(req, &re)) != len ||
	    memcmp(re, der, (size_t)len) != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR is not in canonical DER");
		goto out;
	}
	*out = req;
	req = NULL; /* transferred */
	rc = HKMS_OK;
out:
	ERR_clear_error();
	OPENSSL_free(re);
	X509_REQ_free(req);
	return rc;
}

static int
only_space(const unsigned char *p, size_t n)
{
	while (n-- > 0)
		if (!isspace(*p++))
			return 0;
	return 1;
}

enum hkms_rc
hkms_x509_csr_parse(const unsigned char *buf, size_t len, X509_REQ **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	size_t skip = 0;
	char rest[64];
	int n;

	if (buf == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no CSR given");
		goto out;
	}
	if (len == 0 || len > HKMS_X509_CSR_MAX) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR of %zu bytes: 1 to %u are accepted", len,
		    HKMS_X509_CSR_MAX);
		goto out;
	}
	if (buf[0] == 0x30) {
		rc = csr_from_der(buf, (long)len, out, err);
		goto out;
	}
	while (skip < len && isspace(buf[skip]))
		skip++;
	/* PEM_read_bio skips text before the BEGIN line; we refuse it */
	if (len - skip < 11 || memcmp(buf + skip, "-----BEGIN ", 11) != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR is neither DER nor PEM");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf + skip, (int)(len - skip))) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (PEM_read_bio(bio, &name, &header, &der, &derlen) != 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR PEM cannot be decoded (truncated or damaged)");
		goto out;
	}
	if (strcmp(name, PEM_STRING_X509_REQ) != 0 &&
	    strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "PEM holds a '%.40s', not a CERTIFICATE REQUEST", name);
		goto out;
	}
	if (header != NULL && header[0] != '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "PEM headers are not allowed in a CSR");
		goto out;
	}
	while ((n = BIO_read(bio, rest, sizeof(rest))) > 0)
		if (!only_space((unsigned char *)rest, (size_t)n)) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
			    "trailing data after the CSR");
			goto out;
		}
	rc = csr_from_der(der, derlen, out, err);
out:
	ERR_clear_error();
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	return rc;
}

enum hkms_rc
hkms_x509_csr_get_san(X509_REQ *csr, GENERAL_NAMES **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *found = NULL;
	int i;

	if (csr == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no CSR given");
	*out = NULL;
	exts = X509_REQ_get_extensions(csr);
	for (i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) !=
		    NID_subject_alt_name)
			continue;
		if (found != NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
			    "CSR requests subjectAltName twice");
			goto out;
		}
		found = e;
	}
	if (found != NULL &&
	    (*out = X509V3_EXT_d2i(found)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_csr",
		    "CSR subjectAltName cannot be decoded");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

enum hkms_rc
hkms_x509_csr_pem(X509_REQ *req, char **out, struct hkms_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *p = NULL;
	long n;

	if (bio == NULL || !PEM_write_bio_X509_REQ(bio, req)) {
		rc = hkms_err_crypto(err, "cannot encode CSR");
		goto out;
	}
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || (*out = malloc((size_t)n + 1)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	rc = HKMS_OK;
out:
	BIO_free(bio);
	return rc;
}
