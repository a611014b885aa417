/*
 * Unit tests of src/x509/certio*.c and verify.c: parsing of every input
 * format and its failure modes, encoding round trips, the JSON
 * description, and the verification verdicts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "hkms/certio.h"
#include "certio_fixtures.h"

static struct tpki pki;

static int
setup(void **state)
{
	(void)state;
	tpki_make(&pki);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tpki_free(&pki);
	return 0;
}

/* PEM of the chain leaf, inter, root into a malloc'd string. */
static char *
pem_of(STACK_OF(X509) *st, size_t *len)
{
	unsigned char *out = NULL;
	struct hkms_err err;

	assert_int_equal(hkms_certio_encode(st, HKMS_CERTIO_FMT_PEM, NULL,
	    &out, len, &err), HKMS_OK);
	return (char *)out;
}

static void
assert_parse_fails(const void *data, size_t len, const char *password,
    const char *code)
{
	STACK_OF(X509) *out = NULL;
	struct hkms_err err;

	hkms_err_clear(&err);
	assert_int_not_equal(hkms_certio_parse(data, len, password, &out,
	    NULL, &err), HKMS_OK);
	assert_null(out);
	assert_string_equal(hkms_err_code(&err), code);
}

static void
assert_same(X509 *a, X509 *b)
{
	assert_int_equal(X509_cmp(a, b), 0);
}

static void
test_certio_parse_pem_chain(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, pki.inter, pki.root), *out = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;
	size_t len;
	char *pem = pem_of(in, &len);

	(void)state;
	assert_int_equal(hkms_certio_parse((unsigned char *)pem, len, NULL,
	    &out, &info, &err), HKMS_OK);
	assert_int_equal(sk_X509_num(out), 3);
	assert_int_equal(info.format, HKMS_CERTIO_FMT_PEM);
	assert_int_equal(info.has_private_key, 0);
	assert_same(sk_X509_value(out, 0), pki.leaf);
	assert_same(sk_X509_value(out, 2), pki.root);
	hkms_certio_chain_free(out);
	free(pem);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_pem_text_before_blocks(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, NULL, NULL), *out = NULL;
	struct hkms_err err;
	size_t len;
	char *pem = pem_of(in, &len);
	char *buf = malloc(len + 200);
	int n;

	(void)state;
	n = sprintf(buf, "Bag Attributes\n    friendlyName: x\n"
	    "subject=CN = www.example.com\n%s\n\n", pem);
	assert_int_equal(hkms_certio_parse((unsigned char *)buf, (size_t)n,
	    NULL, &out, NULL, &err), HKMS_OK);
	assert_int_equal(sk_X509_num(out), 1);
	hkms_certio_chain_free(out);
	free(buf);
	free(pem);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_pem_trailing_junk(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, NULL, NULL);
	size_t len;
	char *pem = pem_of(in, &len);
	char *buf = malloc(len + 64);
	int n;

	(void)state;
	n = sprintf(buf, "%sjunk after the end\n", pem);
	assert_parse_fails(buf, (size_t)n, NULL, "bad_certificate");
	free(buf);
	free(pem);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_pem_truncated(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, pki.root, NULL);
	size_t len;
	char *pem = pem_of(in, &len);

	(void)state;
	/* cut inside the second block */
	assert_parse_fails(pem, len - 100, NULL, "bad_certificate");
	/* cut inside the first block's base64 */
	assert_parse_fails(pem, 200, NULL, "bad_certificate");
	free(pem);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_pem_corrupt_base64(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, NULL, NULL);
	size_t len;
	char *pem = pem_of(in, &len);

	(void)state;
	memcpy(pem + 100, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 36);
	assert_parse_fails(pem, len, NULL, "bad_certificate");
	free(pem);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_garbage(void **state)
{
	unsigned char junk[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	assert_parse_fails(junk, sizeof(junk), NULL, "bad_certificate");
	assert_parse_fails("hello world\n", 12, NULL, "bad_certificate");
	assert_parse_fails("   \n", 4, NULL, "bad_certificate");
	assert_parse_fails("", 0, NULL, "bad_certificate");
}

static void
test_certio_parse_too_large(void **state)
{
	size_t len = HKMS_CERTIO_MAX_INPUT + 1;
	unsigned char *big = calloc(1, len);

	(void)state;
	assert_parse_fails(big, len, NULL, "too_large");
	free(big);
}

static void
test_certio_parse_der(void **state)
{
	unsigned char *der = NULL, *buf;
	int len = i2d_X509(pki.root, &der);
	STACK_OF(X509) *out = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;

	(void)state;
	assert_int_equal(hkms_certio_parse(der, (size_t)len, NULL, &out,
	    &info, &err), HKMS_OK);
	assert_int_equal(info.format, HKMS_CERTIO_FMT_DER);
	assert_same(sk_X509_value(out, 0), pki.root);
	hkms_certio_chain_free(out);
	/* one byte too many, one too few */
	buf = malloc((size_t)len + 1);
	memcpy(buf, der, (size_t)len);
	buf[len] = 0;
	assert_parse_fails(buf, (size_t)len + 1, NULL, "bad_certificate");
	assert_parse_fails(buf, (size_t)len - 1, NULL, "bad_certificate");
	free(buf);
	OPENSSL_free(der);
}

static void
test_certio_p7b_round_trip(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, pki.inter, pki.root), *out;
	enum hkms_certio_format f[] = { HKMS_CERTIO_FMT_P7B,
	    HKMS_CERTIO_FMT_P7B_DER };
	struct hkms_certio_info info;
	struct hkms_err err;
	unsigned char *buf;
	size_t len, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		buf = NULL;
		out = NULL;
		assert_int_equal(hkms_certio_encode(in, f[i], NULL, &buf, &len,
		    &err), HKMS_OK);
		assert_int_equal(hkms_certio_parse(buf, len, NULL, &out, &info,
		    &err), HKMS_OK);
		assert_int_equal(info.format, f[i]);
		assert_int_equal(sk_X509_num(out), 3);
		assert_same(sk_X509_value(out, 0), pki.leaf);
		hkms_certio_chain_free(out);
		free(buf);
	}
	hkms_certio_chain_free(in);
}

static void
test_certio_p12_round_trip(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, pki.inter, pki.root), *out;
	struct hkms_certio_info info;
	struct hkms_err err;
	unsigned char *buf = NULL;
	size_t len;

	(void)state;
	/* with a password */
	assert_int_equal(hkms_certio_encode_p12(in, "s3cret", "ca", &buf, &len,
	    &err), HKMS_OK);
	out = NULL;
	assert_int_equal(hkms_certio_parse(buf, len, "s3cret", &out, &info,
	    &err), HKMS_OK);
	assert_int_equal(info.format, HKMS_CERTIO_FMT_P12);
	assert_int_equal(info.has_private_key, 0);
	assert_int_equal(sk_X509_num(out), 3);
	hkms_certio_chain_free(out);
	assert_parse_fails(buf, len, "wrong", "bad_password");
	assert_parse_fails(buf, len, NULL, "password_required");
	free(buf);
	/* without */
	buf = NULL;
	assert_int_equal(hkms_certio_encode(in, HKMS_CERTIO_FMT_P12, NULL, &buf,
	    &len, &err), HKMS_OK);
	out = NULL;
	assert_int_equal(hkms_certio_parse(buf, len, NULL, &out, &info, &err),
	    HKMS_OK);
	assert_int_equal(sk_X509_num(out), 3);
	hkms_certio_chain_free(out);
	free(buf);
	hkms_certio_chain_free(in);
}

static unsigned char *
p12_with_key(const char *pass, size_t *len)
{
	STACK_OF(X509) *ca = tstack(pki.inter, pki.root, NULL);
	PKCS12 *p12 = PKCS12_create(pass, "leaf", pki.leaf_key, pki.leaf, ca,
	    0, 0, 0, 0, 0);
	unsigned char *der = NULL, *copy;
	int n;

	assert_non_null(p12);
	n = i2d_PKCS12(p12, &der);
	copy = malloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	PKCS12_free(p12);
	hkms_certio_chain_free(ca);
	return copy;
}

static void
test_certio_parse_p12_with_key(void **state)
{
	STACK_OF(X509) *out = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;
	size_t len;
	unsigned char *buf = p12_with_key("pw", &len);

	(void)state;
	assert_int_equal(hkms_certio_parse(buf, len, "pw", &out, &info, &err),
	    HKMS_OK);
	assert_int_equal(info.has_private_key, 1);
	assert_int_equal(sk_X509_num(out), 3);
	assert_same(sk_X509_value(out, 0), pki.leaf);
	hkms_certio_chain_free(out);
	free(buf);
}

static char *
key_pem(EVP_PKEY *k, const char *pass, int traditional)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	if (traditional)
		PEM_write_bio_PrivateKey_traditional(b, k,
		    pass ? EVP_aes_128_cbc() : NULL, (unsigned char *)pass,
		    pass ? (int)strlen(pass) : 0, NULL, NULL);
	else
		PEM_write_bio_PKCS8PrivateKey(b, k,
		    pass ? EVP_aes_256_cbc() : NULL, NULL, 0, NULL,
		    (void *)pass);
	n = BIO_get_mem_data(b, &p);
	s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

static void
test_certio_parse_private_key_refused(void **state)
{
	char *pem = key_pem(pki.leaf_key, NULL, 0);
	char *enc = key_pem(pki.leaf_key, "pw", 0);
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(pki.leaf_key, &der);

	(void)state;
	assert_parse_fails(pem, strlen(pem), NULL,
	    "private_key_not_certificate");
	assert_parse_fails(enc, strlen(enc), NULL,
	    "private_key_not_certificate");
	assert_parse_fails(der, (size_t)n, NULL,
	    "private_key_not_certificate");
	free(pem);
	free(enc);
	OPENSSL_free(der);
}

static void
test_certio_parse_pem_key_and_cert_notes_key(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, NULL, NULL), *out = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;
	size_t len;
	char *cert = pem_of(in, &len), *key = key_pem(pki.leaf_key, NULL, 0);
	char *both = malloc(len + strlen(key) + 1);

	(void)state;
	sprintf(both, "%s%s", key, cert);
	assert_int_equal(hkms_certio_parse((unsigned char *)both, strlen(both),
	    NULL, &out, &info, &err), HKMS_OK);
	assert_int_equal(info.has_private_key, 1);
	assert_int_equal(sk_X509_num(out), 1);
	hkms_certio_chain_free(out);
	free(both);
	free(cert);
	free(key);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_csr_refused(void **state)
{
	const char *csr = "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "MAA=\n-----END CERTIFICATE REQUEST-----\n";

	(void)state;
	assert_parse_fails(csr, strlen(csr), NULL, "bad_certificate");
}

static void
test_certio_parse_key_formats(void **state)
{
	STACK_OF(X509) *in = tstack(pki.leaf, NULL, NULL), *certs = NULL;
	EVP_PKEY *k = NULL;
	struct hkms_err err;
	size_t len, plen;
	char *cert = pem_of(in, &len);
	char *plain = key_pem(pki.leaf_key, NULL, 0);
	char *enc = key_pem(pki.leaf_key, "pw", 0);
	char *trad = key_pem(pki.leaf_key, "pw", 1);
	char *both = malloc(len + strlen(enc) + 1);
	unsigned char *p12 = p12_with_key("pw", &plen);

	(void)state;
	assert_int_equal(hkms_certio_parse_key((unsigned char *)plain,
	    strlen(plain), NULL, &k, &certs, &err), HKMS_OK);
	assert_int_equal(EVP_PKEY_eq(k, pki.leaf_key), 1);
	assert_int_equal(sk_X509_num(certs), 0);
	EVP_PKEY_free(k);
	hkms_certio_chain_free(certs);

	sprintf(both, "%s%s", cert, enc);
	assert_int_equal(hkms_certio_parse_key((unsigned char *)both,
	    strlen(both), "pw", &k, &certs, &err), HKMS_OK);
	assert_int_equal(sk_X509_num(certs), 1);
	EVP_PKEY_free(k);
	hkms_certio_chain_free(certs);
	assert_int_equal(hkms_certio_parse_key((unsigned char *)both,
	    strlen(both), "nope", &k, &certs, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_password");
	assert_int_equal(hkms_certio_parse_key((unsigned char *)both,
	    strlen(both), NULL, &k, &certs, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "password_required");

	assert_int_equal(hkms_certio_parse_key((unsigned char *)trad,
	    strlen(trad), "pw", &k, &certs, &err), HKMS_OK);
	EVP_PKEY_free(k);
	hkms_certio_chain_free(certs);
	assert_int_equal(hkms_certio_parse_key((unsigned char *)trad,
	    strlen(trad), "bad", &k, &certs, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_password");

	assert_int_equal(hkms_certio_parse_key(p12, plen, "pw", &k, &certs,
	    &err), HKMS_OK);
	assert_int_equal(sk_X509_num(certs), 3);
	assert_same(sk_X509_value(certs, 0), pki.leaf);
	EVP_PKEY_free(k);
	hkms_certio_chain_free(certs);
	assert_int_equal(hkms_certio_parse_key(p12, plen, "x", &k, &certs,
	    &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_password");

	/* a certificate alone is not a key */
	assert_int_equal(hkms_certio_parse_key((unsigned char *)cert, len,
	    NULL, &k, &certs, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "no_private_key");
	free(p12);
	free(both);
	free(trad);
	free(enc);
	free(plain);
	free(cert);
	hkms_certio_chain_free(in);
}

static void
test_certio_parse_key_mismatch(void **state)
{
	STACK_OF(X509) *in = tstack(pki.root, NULL, NULL), *certs = NULL;
	EVP_PKEY *k = NULL;
	struct hkms_err err;
	size_t len;
	char *cert = pem_of(in, &len);
	char *key = key_pem(pki.leaf_key, NULL, 0);
	char *both = malloc(len + strlen(key) + 1);

	(void)state;
	sprintf(both, "%s%s", key, cert);
	assert_int_equal(hkms_certio_parse_key((unsigned char *)both,
	    strlen(both), NULL, &k, &certs, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "key_certificate_mismatch");
	assert_null(k);
	free(both);
	free(key);
	free(cert);
	hkms_certio_chain_free(in);
}

/* d's fingerprints, thumbprint and pem are X509_digest's and
 * PEM_write_bio_X509's of cert. */
static void
describe_same_as_openssl(X509 *cert, json_t *d)
{
	static const char *const key[] = { "fingerprint_sha1",
	    "fingerprint_sha256" };
	unsigned char md[EVP_MAX_MD_SIZE];
	char want[3 * EVP_MAX_MD_SIZE + 1], thumb[HKMS_CERTIO_THUMB_SIZE];
	const EVP_MD *mds[2] = { EVP_sha1(), EVP_sha256() };
	unsigned int n, i, j;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long plen;

	for (i = 0; i < 2; i++) {
		assert_int_equal(X509_digest(cert, mds[i], md, &n), 1);
		for (j = 0; j < n; j++)
			snprintf(want + 3 * j, 4, j + 1 < n ? "%02X:" :
			    "%02X", md[j]);
		assert_string_equal(json_string_value(json_object_get(d,
		    key[i])), want);
	}
	assert_int_equal(hkms_certio_thumbprint(cert, thumb, NULL), HKMS_OK);
	assert_string_equal(json_string_value(json_object_get(d,
	    "thumbprint")), thumb);
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, cert), 1);
	plen = BIO_get_mem_data(b, &pem);
	assert_int_equal(json_string_length(json_object_get(d, "pem")),
	    (size_t)plen);
	assert_memory_equal(json_string_value(json_object_get(d, "pem")),
	    pem, (size_t)plen);
	BIO_free(b);
}

static void
test_certio_describe_fields(void **state)
{
	json_t *d = NULL;
	struct hkms_err err;
	const char *fp;

	(void)state;
	assert_int_equal(hkms_certio_describe(pki.leaf, 0, &d, &err), HKMS_OK);
	assert_string_equal(json_string_value(json_object_get(d,
	    "common_name")), "www.example.com");
	assert_string_equal(json_string_value(json_object_get(d, "subject")),
	    "CN=www.example.com,O=hkms test");
	assert_null(json_object_get(d, "dn"));
	assert_string_equal(json_string_value(json_object_get(d,
	    "organization")), "hkms test");
	assert_true(json_is_null(json_object_get(d, "country")));
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "san"), 0)), "DNS:www.example.com");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "san"), 1)), "IP:192.0.2.1");
	assert_string_equal(json_string_value(json_object_get(d, "key_type")),
	    "EC");
	assert_int_equal(json_integer_value(json_object_get(d, "key_bits")),
	    256);
	assert_null(json_object_get(d, "key_length"));
	assert_string_equal(json_string_value(json_object_get(d, "curve")),
	    "P-256");
	assert_string_equal(json_string_value(json_object_get(d,
	    "digest_algorithm")), "SHA256");
	assert_string_equal(json_string_value(json_object_get(d, "status")),
	    "valid");
	assert_false(json_is_true(json_object_get(d, "is_ca")));
	assert_false(json_is_true(json_object_get(d, "self_signed")));
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "extended_key_usage"), 0)), "serverAuth");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "key_usage"), 0)), "digitalSignature");
	fp = json_string_value(json_object_get(d, "fingerprint_sha256"));
	assert_int_equal(strlen(fp), 95);
	assert_int_equal(fp[2], ':');
	assert_int_equal(strncmp(json_string_value(json_object_get(d,
	    "thumbprint")), "sha256:", 7), 0);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "lifetime_days")), 366);
	/* issued from now for a year and a day: 365 whole days left */
	assert_true(json_integer_value(json_object_get(d, "days_left")) >= 364 &&
	    json_integer_value(json_object_get(d, "days_left")) <= 366);
	assert_non_null(strstr(json_string_value(json_object_get(d, "pem")),
	    "BEGIN CERTIFICATE"));
	/* digests and PEM (made from one encoding) are OpenSSL's own */
	describe_same_as_openssl(pki.leaf, d);
	json_decref(d);

	assert_int_equal(hkms_certio_describe(pki.inter, 0, &d, &err),
	    HKMS_OK);
	assert_true(json_is_true(json_object_get(d, "is_ca")));
	assert_int_equal(json_integer_value(json_object_get(d, "path_len")),
	    0);
	json_decref(d);
	assert_int_equal(hkms_certio_describe(pki.root, 0, &d, &err), HKMS_OK);
	assert_true(json_is_true(json_object_get(d, "self_signed")));
	assert_true(json_is_null(json_object_get(d, "path_len")));
	json_decref(d);
	/* status relative to a given time */
	assert_int_equal(hkms_certio_describe(pki.leaf, (int64_t)time(NULL) +
	    400 * 86400, &d, &err), HKMS_OK);
	assert_string_equal(json_string_value(json_object_get(d, "status")),
	    "expired");
	assert_true(json_integer_value(json_object_get(d, "days_left")) < 0);
	json_decref(d);
	assert_int_equal(hkms_certio_describe(pki.leaf, (int64_t)time(NULL) -
	    2 * 86400, &d, &err), HKMS_OK);
	assert_string_equal(json_string_value(json_object_get(d, "status")),
	    "not-yet-valid");
	json_decref(d);
}

/* Verify leaf with chain extra against the anchors; expect code or ok. */
static void
check_verify(STACK_OF(X509) *anchors, STACK_OF(X509) *extra, X509 *leaf,
    enum hkms_certio_purpose purpose, const char *host, int64_t at,
    const char *code)
{
	json_t *res = NULL;
	struct hkms_err err;
	enum hkms_rc rc;

	hkms_err_clear(&err);
	rc = hkms_certio_verify(anchors, extra, leaf, purpose, host, at, &res,
	    &err);
	assert_non_null(res);
	if (code == NULL) {
		if (rc != HKMS_OK)
			fprintf(stderr, "unexpected: %s\n", err.detail);
		assert_int_equal(rc, HKMS_OK);
		assert_true(json_is_true(json_object_get(res, "ok")));
	} else {
		if (rc != HKMS_E_VERIFY)
			fprintf(stderr, "expected %s, got %s\n", code,
			    rc == HKMS_OK ? "ok" : hkms_err_code(&err));
		assert_int_equal(rc, HKMS_E_VERIFY);
		assert_false(json_is_true(json_object_get(res, "ok")));
		assert_string_equal(hkms_err_code(&err), code);
		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(res, "error"), "code")), code);
	}
	json_decref(res);
}

static void
test_certio_verify_matrix(void **state)
{
	STACK_OF(X509) *roots = tstack(pki.root, NULL, NULL);
	STACK_OF(X509) *inter = tstack(pki.inter, NULL, NULL);
	STACK_OF(X509) *both = tstack(pki.inter, pki.root, NULL);
	int64_t now = (int64_t)time(NULL);
	json_t *res = NULL;
	struct hkms_err err;
	EVP_PKEY *k = tkey(), *k2 = tkey();
	struct tcert t = { "client", pki.inter, pki.int_key, 0, -1,
	    "DNS:client.example.com", "clientAuth", NULL, -1, 30 };
	struct tcert sub = { "Sub CA", pki.inter, pki.int_key, 1, -1, NULL,
	    NULL, NULL, -1, 30 };
	X509 *client = tcert_make(&t, k), *subca = tcert_make(&sub, k2);

	(void)state;
	/* good, with the path reported leaf first */
	assert_int_equal(hkms_certio_verify(roots, inter, pki.leaf,
	    HKMS_CERTIO_PURPOSE_SERVER, "www.example.com", 0, &res, &err),
	    HKMS_OK);
	assert_int_equal(json_array_size(json_object_get(res, "path")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(res, "path"), 2), "subject")),
	    "CN=Test Root,O=hkms test");
	json_decref(res);
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER,
	    "192.0.2.1", 0, NULL);
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_ANY, NULL, 0,
	    NULL);
	/* expired / not yet valid */
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER, NULL,
	    now + 400 * 86400, "certificate_expired");
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER, NULL,
	    now - 2 * 86400, "certificate_not_yet_valid");
	/* wrong host / IP */
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER,
	    "evil.example.org", 0, "hostname_mismatch");
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER,
	    "192.0.2.2", 0, "ip_address_mismatch");
	/* server cert as client and client cert as server */
	check_verify(roots, inter, pki.leaf, HKMS_CERTIO_PURPOSE_CLIENT, NULL,
	    0, "invalid_purpose");
	check_verify(roots, inter, client, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0,
	    "invalid_purpose");
	check_verify(roots, inter, client, HKMS_CERTIO_PURPOSE_CLIENT, NULL, 0,
	    NULL);
	/* missing intermediate; untrusted root offered in the chain */
	check_verify(roots, NULL, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0,
	    "unable_to_get_issuer");
	check_verify(NULL, both, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0,
	    "self_signed_in_chain");
	/* self-signed leaf, untrusted then trusted */
	check_verify(NULL, NULL, pki.root, HKMS_CERTIO_PURPOSE_ANY, NULL, 0,
	    "self_signed_certificate");
	check_verify(roots, NULL, pki.root, HKMS_CERTIO_PURPOSE_ANY, NULL, 0,
	    NULL);
	/* intermediate as anchor: refused unless partial chains are on */
	check_verify(inter, NULL, pki.leaf, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0,
	    "unable_to_get_issuer");
	{
		struct hkms_certio_verify_opts o = { 0 };

		o.purpose = HKMS_CERTIO_PURPOSE_SERVER;
		o.partial_chain = 1;
		assert_int_equal(hkms_certio_verify_ex(inter, NULL, pki.leaf,
		    &o, &res, &err), HKMS_OK);
		json_decref(res);
	}
	/* path length: the intermediate has pathlen 0, so a sub CA below it
	 * may exist but may not issue */
	check_verify(roots, inter, subca, HKMS_CERTIO_PURPOSE_ANY, NULL, 0,
	    NULL);
	{
		struct tcert lt = { "deep.example.com", subca, k2, 0, -1,
		    "DNS:deep.example.com", "serverAuth", NULL, -1, 10 };
		EVP_PKEY *k3 = tkey();
		X509 *deep = tcert_make(&lt, k3);
		STACK_OF(X509) *mid = tstack(subca, pki.inter, NULL);

		check_verify(roots, mid, deep, HKMS_CERTIO_PURPOSE_SERVER,
		    NULL, 0, "path_length_exceeded");
		hkms_certio_chain_free(mid);
		X509_free(deep);
		EVP_PKEY_free(k3);
	}
	X509_free(client);
	X509_free(subca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	hkms_certio_chain_free(roots);
	hkms_certio_chain_free(inter);
	hkms_certio_chain_free(both);
}

static void
test_certio_verify_name_constraints(void **state)
{
	EVP_PKEY *ck = tkey(), *lk = tkey(), *bk = tkey();
	struct tcert c = { "NC CA", pki.root, pki.root_key, 1, -1, NULL, NULL,
	    "critical,permitted;DNS:.example.com", -1, 30 };
	struct tcert good = { "in.example.com", NULL, NULL, 0, -1,
	    "DNS:in.example.com", "serverAuth", NULL, -1, 10 };
	struct tcert bad = { "out.example.org", NULL, NULL, 0, -1,
	    "DNS:out.example.org", "serverAuth", NULL, -1, 10 };
	STACK_OF(X509) *roots = tstack(pki.root, NULL, NULL), *mid;
	X509 *ca, *g, *b;

	(void)state;
	ca = tcert_make(&c, ck);
	good.issuer = bad.issuer = ca;
	good.issuer_key = bad.issuer_key = ck;
	g = tcert_make(&good, lk);
	b = tcert_make(&bad, bk);
	mid = tstack(ca, NULL, NULL);
	check_verify(roots, mid, g, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0, NULL);
	check_verify(roots, mid, b, HKMS_CERTIO_PURPOSE_SERVER, NULL, 0,
	    "name_constraints_violation");
	hkms_certio_chain_free(mid);
	hkms_certio_chain_free(roots);
	X509_free(ca);
	X509_free(g);
	X509_free(b);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(bk);
}

static void
test_certio_format_names(void **state)
{
	enum hkms_certio_format f;
	struct hkms_err err;

	(void)state;
	assert_int_equal(hkms_certio_format_parse("PFX", &f, &err), HKMS_OK);
	assert_int_equal(f, HKMS_CERTIO_FMT_P12);
	assert_string_equal(hkms_certio_format_name(HKMS_CERTIO_FMT_P7B),
	    "p7b");
	assert_int_equal(hkms_certio_format_parse("zip", &f, &err),
	    HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_format");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certio_parse_pem_chain),
		cmocka_unit_test(test_certio_parse_pem_text_before_blocks),
		cmocka_unit_test(test_certio_parse_pem_trailing_junk),
		cmocka_unit_test(test_certio_parse_pem_truncated),
		cmocka_unit_test(test_certio_parse_pem_corrupt_base64),
		cmocka_unit_test(test_certio_parse_garbage),
		cmocka_unit_test(test_certio_parse_too_large),
		cmocka_unit_test(test_certio_parse_der),
		cmocka_unit_test(test_certio_p7b_round_trip),
		cmocka_unit_test(test_certio_p12_round_trip),
		cmocka_unit_test(test_certio_parse_p12_with_key),
		cmocka_unit_test(test_certio_parse_private_key_refused),
		cmocka_unit_test(test_certio_parse_pem_key_and_cert_notes_key),
		cmocka_unit_test(test_certio_parse_csr_refused),
		cmocka_unit_test(test_certio_parse_key_formats),
		cmocka_unit_test(test_certio_parse_key_mismatch),
		cmocka_unit_test(test_certio_describe_fields),
		cmocka_unit_test(test_certio_verify_matrix),
		cmocka_unit_test(test_certio_verify_name_constraints),
		cmocka_unit_test(test_certio_format_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
