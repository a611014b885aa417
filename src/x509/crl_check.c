/*
 * CRLs from outside (issue 14a): parse one strictly, check that it is a
 * complete CRL whose freshness can be judged, compare CRL numbers, describe
 * it and look a serial up. Used by the truststore's CRLs
 * (src/store/trust_crl.c); our own CRLs are built in crl.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/revocation.h"
#include "hkms/util.h"
#include "x509_int.h"

static int
blank_from(const unsigned char *p, const unsigned char *end)
{
	for (; p < end; p++)
		if (!isspace(*p))
			return 0;
	return 1;
}

enum hkms_rc
hkms_x509_crl_parse(const unsigned char *data, size_t len, X509_CRL **out,
    struct hkms_err *err)
{
	static const char begin[] = "-----BEGIN X509 CRL-----";
	static const char end_mark[] = "-----END X509 CRL-----";
	const unsigned char *p = data, *b, *e;
	X509_CRL *crl = NULL;
	BIO *bio = NULL;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no output given");
	*out = NULL;
	if (data == NULL || len == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_crl",
		    "crl is empty");
	if (len > HKMS_CRL_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "too_large",
		    "crl is larger than %d bytes", HKMS_CRL_MAX);
	b = memmem(data, len, begin, sizeof(begin) - 1);
	if (b != NULL) {
		e = memmem(b, len - (size_t)(b - data), end_mark,
		    sizeof(end_mark) - 1);
		if (e == NULL)
			goto bad;
		e += sizeof(end_mark) - 1;
		if (!blank_from(e, data + len) ||
		    memmem(e, len - (size_t)(e - data), "-----BEGIN", 10))
			goto bad;
		if ((bio = BIO_new_mem_buf(b, (int)(e - b))) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && p != data + len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	}
	if (crl == NULL)
		goto bad;
	*out = crl;
	return HKMS_OK;
bad:
	ERR_clear_error();
	return hkms_err_setc(err, HKMS_E_INVALID, "bad_crl", "crl does not "
	    "parse (one X.509 CRL, PEM or DER, and nothing after it)");
}

enum hkms_rc
hkms_x509_crl_check_form(X509_CRL *crl, struct hkms_err *err)
{
	STACK_OF(X509_REVOKED) *revs;
	const X509_EXTENSION *ext;
	int i, nid;

	if (crl == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no crl");
	for (i = 0; i < X509_CRL_get_ext_count(crl); i++) {
		ext = X509_CRL_get_ext(crl, i);
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(
		    (X509_EXTENSION *)ext));
		if (nid == NID_delta_crl)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "crl_delta_unsupported", "crl is a delta CRL: "
			    "only complete CRLs are taken");
		if (X509_EXTENSION_get_critical(ext) && nid != NID_crl_number &&
		    nid != NID_authority_key_identifier &&
		    nid != NID_issuing_distribution_point)
			return hkms_err_setc(err, HKMS_E_INVALID, "bad_crl",
			    "crl has an unknown critical extension");
	}
	/* removeFromCRL belongs in delta CRLs (RFC 5280 5.3.1); in a complete
	 * CRL it would read as "not revoked" for a listed serial */
	revs = X509_CRL_get_REVOKED(crl);
	for (i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		ASN1_ENUMERATED *code = X509_REVOKED_get_ext_d2i(
		    sk_X509_REVOKED_value(revs, i), NID_crl_reason, NULL, NULL);
		long r = code != NULL ? ASN1_ENUMERATED_get(code) : 0;

		ASN1_ENUMERATED_free(code);
		if (r == 8) {
			ERR_clear_error();
			return hkms_err_setc(err, HKMS_E_INVALID, "bad_crl",
			    "crl entry #%d has reason removeFromCRL, which only "
			    "a delta CRL may have", i + 1);
		}
	}
	ERR_clear_error();
	if (X509_CRL_get0_nextUpdate(crl) == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "crl_no_next_update",
		    "crl has no nextUpdate: its freshness cannot be judged");
	return HKMS_OK;
}

static int64_t
asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int64_t
hkms_x509_crl_this_update(const X509_CRL *crl)
{
	return crl ? asn1_unix(X509_CRL_get0_lastUpdate(crl)) : 0;
}

int64_t
hkms_x509_crl_next_update(const X509_CRL *crl)
{
	return crl ? asn1_unix(X509_CRL_get0_nextUpdate(crl)) : 0;
}

int
hkms_x509_crl_number_cmp(const X509_CRL *a, const X509_CRL *b)
{
	ASN1_INTEGER *na = X509_CRL_get_ext_d2i(a, NID_crl_number, NULL, NULL);
	ASN1_INTEGER *nb = X509_CRL_get_ext_d2i(b, NID_crl_number, NULL, NULL);
	int64_t ta, tb;
	int r;

	if (na != NULL && nb != NULL)
		r = ASN1_INTEGER_cmp(na, nb);
	else if (na != NULL || nb != NULL)
		r = na != NULL ? 1 : -1;
	else {
		ta = hkms_x509_crl_this_update(a);
		tb = hkms_x509_crl_this_update(b);
		r = ta < tb ? -1 : ta > tb;
	}
	ASN1_INTEGER_free(na);
	ASN1_INTEGER_free(nb);
	ERR_clear_error();
	return r < 0 ? -1 : r > 0;
}

static json_t *
time_or_null(const ASN1_TIME *t)
{
	char buf[32];

	if (t == NULL)
		return json_null();
	return json_string(hkms_time_str(asn1_unix(t), buf));
}

json_t *
hkms_x509_crl_describe(X509_CRL *crl)
{
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL);
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	char *name = hkms_certio_name_str(X509_CRL_get_issuer(crl)), *dec = NULL;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	unsigned int mdl = 0;
	BIGNUM *bn = NULL;
	json_t *o;
	int n;

	if (num != NULL && (bn = ASN1_INTEGER_to_BN(num, NULL)) != NULL)
		dec = BN_bn2dec(bn);
	if ((n = i2d_X509_CRL(crl, &der)) > 0 && EVP_Digest(der, (size_t)n,
	    md, &mdl, EVP_sha256(), NULL) == 1)
		hkms_hex(md, mdl, 0, hex);
	o = json_pack("{s:s?,s:s?,s:o,s:o,s:i,s:s,s:s}", "issuer", name,
	    "number", dec, "this_update", time_or_null(
	    X509_CRL_get0_lastUpdate(crl)), "next_update", time_or_null(
	    X509_CRL_get0_nextUpdate(crl)), "entries",
	    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)),
	    "signature_algorithm", OBJ_nid2sn(X509_CRL_get_signature_nid(crl)),
	    "sha256", hex);
	OPENSSL_free(der);
	OPENSSL_free(dec);
	BN_free(bn);
	ASN1_INTEGER_free(num);
	free(name);
	ERR_clear_error();
	return o;
}

int
hkms_x509_crl_lists(X509_CRL *crl, const ASN1_INTEGER *serial,
    int64_t *revoked_at, const char **reason)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *code;
	long r = 0;

	if (crl == NULL || serial == NULL ||
	    X509_CRL_get0_by_serial(crl, &rev, serial) != 1 || rev == NULL)
		return 0;
	if (revoked_at != NULL)
		*revoked_at = asn1_unix(X509_REVOKED_get0_revocationDate(rev));
	if (reason != NULL) {
		code = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
		if (code != NULL)
			r = ASN1_ENUMERATED_get(code);
		ASN1_ENUMERATED_free(code);
		*reason = hkms_x509_crl_reason_name(
		    (enum hkms_x509_crl_reason)r);
	}
	ERR_clear_error();
	return 1;
}
