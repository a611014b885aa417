/*
 * Unit tests for the certificate engine (src/x509) with software keys:
 * names and SANs, digests and key policy, profiles, CSRs, certificates,
 * serials, lifetimes, CRLs and signing. Where the openssl CLI is present,
 * issued objects are also checked with `openssl verify` / `x509 -text` /
 * `crl -text`.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "hkms/x509.h"

static EVP_PKEY *k_rsa, *k_rsa2, *k_p256, *k_p384;
static char tmpdir[] = "/tmp/hkms-x509-XXXXXX";
static int have_openssl;

/* --- helpers ------------------------------------------------------ */

static int
setup(void **state)
{
	k_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k_rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k_p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (!k_rsa || !k_rsa2 || !k_p256 || !k_p384 || !mkdtemp(tmpdir))
		return -1;
	have_openssl = system("openssl version >/dev/null 2>&1") == 0;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	EVP_PKEY_free(k_rsa);
	EVP_PKEY_free(k_rsa2);
	EVP_PKEY_free(k_p256);
	EVP_PKEY_free(k_p384);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct hkms_x509_profile *
profile(const char *name)
{
	struct hkms_x509_profile *p = NULL;
	struct hkms_err err = { 0 };

	assert_int_equal(hkms_x509_profile_get(name, HKMS_X509_FIXTURES, &p,
	    &err), HKMS_OK);
	return p;
}

/* A signed self-signed certificate; fails the test on error. */
static X509 *
self_signed(EVP_PKEY *key, const char *prof, const char *subject,
    const char *san, int days)
{
	struct hkms_x509_profile *p = profile(prof);
	struct hkms_x509_cert_opts o = { 0 };
	struct hkms_err err = { 0 };
	X509 *x = NULL;

	o.subject = subject;
	o.san = san;
	o.days = days;
	if (hkms_x509_cert_build(key, NULL, p, &o, &x, &err) != HKMS_OK)
		fail_msg("build: %s", err.detail);
	if (hkms_x509_sign_cert(x, key, NULL, hkms_x509_profile_digest(p),
	    &err) != HKMS_OK)
		fail_msg("sign: %s", err.detail);
	hkms_x509_profile_free(p);
	return x;
}

static X509_REQ *
make_csr(EVP_PKEY *key, const char *subject, const char *san,
    STACK_OF(X509_EXTENSION) *extra)
{
	struct hkms_err err = { 0 };
	X509_REQ *req = NULL;

	if (hkms_x509_csr_build(key, subject, san, extra, &req, &err) !=
	    HKMS_OK)
		fail_msg("csr build: %s", err.detail);
	if (hkms_x509_sign_req(req, key, HKMS_X509_DIGEST_AUTO, &err) !=
	    HKMS_OK)
		fail_msg("csr sign: %s", err.detail);
	return req;
}

/* Issue from csr by ca (key cakey) under prof; rc returned, *out set. */
static enum hkms_rc
issue(X509_REQ *csr, X509 *ca, EVP_PKEY *cakey, const char *prof,
    struct hkms_x509_cert_opts *o, X509 **out, struct hkms_err *err)
{
	struct hkms_x509_profile *p = profile(prof);
	struct hkms_x509_cert_opts zero = { 0 };
	enum hkms_rc rc;

	*out = NULL;
	rc = hkms_x509_cert_build_from_csr(csr, ca, p, o ? o : &zero, out,
	    err);
	if (rc == HKMS_OK)
		rc = hkms_x509_sign_cert(*out, cakey, ca,
		    hkms_x509_profile_digest(p), err);
	hkms_x509_profile_free(p);
	return rc;
}

static void
write_pem(const char *name, X509 *x, X509_CRL *crl)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "w"));
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (crl != NULL)
		assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
}

/* Run a shell command in tmpdir, return its stdout (malloc'd). */
static char *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
run(const char *fmt, ...)
{
	char cmd[1024], *buf = calloc(1, 65536);
	size_t n = 0, r;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_non_null(buf);
	assert_non_null(p = popen(cmd, "r"));
	while ((r = fread(buf + n, 1, 65535 - n, p)) > 0)
		n += r;
	pclose(p);
	return buf;
}

static int
ext_crit(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void
assert_code(const struct hkms_err *err, const char *code)
{
	if (strcmp(hkms_err_code(err), code) != 0)
		fail_msg("expected code %s, got %s (%s)", code,
		    hkms_err_code(err), err->detail);
}

/* --- names -------------------------------------------------------- */

static void
test_name_parse_good(void **state)
{
	struct hkms_err err = { 0 };
	X509_NAME *n = NULL, *n2 = NULL;
	char *s = NULL, buf[128];

	assert_int_equal(hkms_x509_name_parse("/CN=a/O=b/OU=c/OU=d/C=de/"
	    "ST=x/L=y/emailAddress=z@example.com", &n, &err), HKMS_OK);
	assert_int_equal(X509_NAME_entry_count(n), 8);
	X509_NAME_get_text_by_NID(n, NID_countryName, buf, sizeof(buf));
	assert_string_equal(buf, "DE");
	assert_int_equal(hkms_x509_name_format(n, &s, &err), HKMS_OK);
	assert_string_equal(s, "/CN=a/O=b/OU=c/OU=d/C=DE/ST=x/L=y/"
	    "emailAddress=z@example.com");
	free(s);
	X509_NAME_free(n);
	n = NULL;

	/* escapes, UTF-8, email= alias, case-insensitive keys */
	assert_int_equal(hkms_x509_name_parse("/cn=a\\/b\\\\c/O=Gr\xc3\xbc\xc3"
	    "\x9f" "e \xe6\x97\xa5/email=x@y.example", &n, &err), HKMS_OK);
	X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "a/b\\c");
	assert_int_equal(hkms_x509_name_format(n, &s, &err), HKMS_OK);
	assert_int_equal(hkms_x509_name_parse(s, &n2, &err), HKMS_OK);
	assert_int_equal(X509_NAME_cmp(n, n2), 0);
	assert_int_equal(hkms_x509_name_check(n, &err), HKMS_OK);
	free(s);
	X509_NAME_free(n);
	X509_NAME_free(n2);

	/* CN of exactly 64 characters (multi-byte) is fine */
	{
		char cn[4 + 64 * 2 + 1] = "/CN=";
		int i;

		for (i = 0; i < 64; i++)
			strcat(cn, "\xc3\xa9");
		assert_int_equal(hkms_x509_name_parse(cn, &n, &err), HKMS_OK);
		X509_NAME_free(n);
	}
}

static void
test_name_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "CN=a", "/", "/CN=", "/CN", "/=a", "/XX=a", "/DC=com",
		"/C=DEU", "/C=1A", "/C=D", "/CN=a/CN=b", "/CN=a\x01" "b",
		"/CN=\xff", "/CN=\xc0\xaf", "/CN=\xed\xa0\x80", "/CN=a\\x",
		"/CN=a/", "/CN=a//O=b", "/emailAddress=nope",
		"/emailAddress=a@b@c", "/CN=a\x7f",
		"/CN=0123456789012345678901234567890123456789012345678901234"
		"5678901234",
		NULL
	};
	struct hkms_err err = { 0 };
	X509_NAME *n = NULL;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		hkms_err_clear(&err);
		if (hkms_x509_name_parse(bad[i], &n, &err) != HKMS_E_INVALID)
			fail_msg("accepted bad subject '%s'", bad[i]);
		assert_null(n);
		assert_code(&err, "invalid_subject");
	}
	assert_int_equal(hkms_x509_name_parse(NULL, &n, &err),
	    HKMS_E_INVALID);
}

static void
test_name_check_embedded_nul(void **state)
{
	struct hkms_err err = { 0 };
	X509_NAME *n = X509_NAME_new();

	assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_commonName,
	    V_ASN1_UTF8STRING, (unsigned char *)"good\0.evil.com", 14, -1, 0),
	    1);
	assert_int_equal(hkms_x509_name_check(n, &err), HKMS_E_INVALID);
	assert_non_null(strstr(err.detail, "NUL"));
	X509_NAME_free(n);

	n = X509_NAME_new();
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "DC", MBSTRING_ASC,
	    (unsigned char *)"com", -1, -1, 0), 1);
	assert_int_equal(hkms_x509_name_check(n, &err), HKMS_E_INVALID);
	assert_code(&err, "invalid_subject");
	X509_NAME_free(n);
}

static void
test_san_parse_good(void **state)
{
	struct hkms_err err = { 0 };
	GENERAL_NAMES *g = NULL, *g2 = NULL;
	char *s = NULL;

	assert_int_equal(hkms_x509_san_parse("DNS:a.example.com,IP:10.0.0.1,"
	    "IP:::1, email:x@y.example ,URI:https://u.example/p\\,q,"
	    "DNS:*.Example.com,dns:localhost", &g, &err), HKMS_OK);
	assert_int_equal(sk_GENERAL_NAME_num(g), 7);
	assert_int_equal(hkms_x509_san_check(g, &err), HKMS_OK);
	assert_int_equal(hkms_x509_san_format(g, &s, &err), HKMS_OK);
	assert_string_equal(s, "DNS:a.example.com,IP:10.0.0.1,IP:::1,"
	    "email:x@y.example,URI:https://u.example/p\\,q,"
	    "DNS:*.example.com,DNS:localhost");
	assert_int_equal(hkms_x509_san_parse(s, &g2, &err), HKMS_OK);
	assert_int_equal(sk_GENERAL_NAME_num(g2), 7);
	free(s);
	GENERAL_NAMES_free(g);
	GENERAL_NAMES_free(g2);
}

static void
test_san_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "DNS:", "DNS:*.com", "DNS:a.*.com", "DNS:*", "DNS:-a.com",
		"DNS:a-.com", "DNS:a..b", "DNS:a.b.", "DNS:a_b.com",
		"DNS:a b.com", "IP:1.2.3", "IP:1.2.3.4.5", "IP:::g",
		"IP:10.0.0.1/8", "email:nope", "email:@x.com", "email:a@",
		"email:a@b@c.com", "URI:noscheme", "URI:1http://x", "URI:http:",
		"FOO:x", "x", "DNS:a,DNS:a", "DNS:a,,DNS:b", "DNS:a,",
		"DNS:a\\x", "DNS:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaa.com",
		NULL
	};
	struct hkms_err err = { 0 };
	GENERAL_NAMES *g = NULL;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		hkms_err_clear(&err);
		if (hkms_x509_san_parse(bad[i], &g, &err) != HKMS_E_INVALID)
			fail_msg("accepted bad SAN '%s'", bad[i]);
		assert_null(g);
		assert_code(&err, "invalid_san");
	}
}

static void
test_san_check_embedded_nul(void **state)
{
	struct hkms_err err = { 0 };
	GENERAL_NAMES *g = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	ASN1_STRING_set(s, "good.com\0.evil.com", 18);
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	sk_GENERAL_NAME_push(g, gn);
	assert_int_equal(hkms_x509_san_check(g, &err), HKMS_E_INVALID);
	assert_code(&err, "invalid_san");
	GENERAL_NAMES_free(g);
}

/* --- digests and keys --------------------------------------------- */

static void
test_digest_parse(void **state)
{
	struct hkms_err err = { 0 };
	enum hkms_x509_digest d;

	assert_int_equal(hkms_x509_digest_parse("sha256", &d, &err), HKMS_OK);
	assert_int_equal(d, HKMS_X509_SHA256);
	assert_int_equal(hkms_x509_digest_parse("SHA384", &d, &err), HKMS_OK);
	assert_int_equal(d, HKMS_X509_SHA384);
	assert_int_equal(hkms_x509_digest_parse("sha512", &d, &err), HKMS_OK);
	assert_int_equal(hkms_x509_digest_parse(NULL, &d, &err), HKMS_OK);
	assert_int_equal(d, HKMS_X509_DIGEST_AUTO);
	assert_int_equal(hkms_x509_digest_parse("sha1", &d, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "weak_digest");
	assert_int_equal(hkms_x509_digest_parse("md5", &d, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "weak_digest");
	assert_int_equal(hkms_x509_digest_parse("whirlpool", &d, &err),
	    HKMS_E_INVALID);
	assert_int_equal(hkms_x509_digest_resolve(HKMS_X509_DIGEST_AUTO,
	    k_p384), HKMS_X509_SHA384);
	assert_int_equal(hkms_x509_digest_resolve(HKMS_X509_DIGEST_AUTO,
	    k_rsa), HKMS_X509_SHA256);
	assert_int_equal(hkms_x509_digest_resolve(HKMS_X509_SHA512, k_p256),
	    HKMS_X509_SHA512);
}

static void
test_check_key(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_x509_key_info ki;
	EVP_PKEY *k;
	EVP_PKEY_CTX *ctx;
	BIGNUM *e;

	assert_int_equal(hkms_x509_check_key(k_rsa, &err), HKMS_OK);
	assert_int_equal(hkms_x509_check_key(k_p256, &err), HKMS_OK);
	assert_int_equal(hkms_x509_check_key(k_p384, &err), HKMS_OK);
	assert_int_equal(hkms_x509_check_key(NULL, &err), HKMS_E_INVALID);

	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)1024));
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	EVP_PKEY_free(k);

	/* RSA-2047: one bit short */
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2047));
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	EVP_PKEY_free(k);

	/* e = 3 */
	assert_non_null(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL));
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
	e = BN_new();
	BN_set_word(e, 3);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e), 1);
	BN_free(e);
	k = NULL;
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	EVP_PKEY_free(k);

	/* P-192 and secp256k1 */
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-192")) != NULL) {
		assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
		assert_code(&err, "weak_key");
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"));
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	EVP_PKEY_free(k);

	/* Ed25519 and DSA: not supported types */
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	EVP_PKEY_free(k);
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL)) != NULL) {
		EVP_PKEY *params = NULL;

		k = NULL;
		if (EVP_PKEY_paramgen_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_dsa_paramgen_bits(ctx, 2048) == 1 &&
		    EVP_PKEY_paramgen(ctx, &params) == 1) {
			EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new(params, NULL);

			if (EVP_PKEY_keygen_init(kctx) == 1 &&
			    EVP_PKEY_keygen(kctx, &k) == 1) {
				assert_int_equal(hkms_x509_check_key(k, &err),
				    HKMS_E_POLICY);
				assert_non_null(strstr(err.detail, "DSA"));
			}
			EVP_PKEY_CTX_free(kctx);
		}
		EVP_PKEY_free(k);
		EVP_PKEY_free(params);
		EVP_PKEY_CTX_free(ctx);
	}

	assert_int_equal(hkms_x509_key_describe(k_rsa, &ki, &err), HKMS_OK);
	assert_string_equal(ki.type, "RSA");
	assert_int_equal(ki.bits, 2048);
	assert_string_equal(ki.curve, "");
	assert_int_equal(hkms_x509_key_describe(k_p384, &ki, &err), HKMS_OK);
	assert_string_equal(ki.type, "EC");
	assert_int_equal(ki.bits, 384);
	assert_string_equal(ki.curve, "P-384");
}

static void
test_weak_key_refused_everywhere(void **state)
{
	struct hkms_x509_profile *p = profile("tls-server");
	struct hkms_x509_cert_opts o = { .subject = "/CN=weak" };
	struct hkms_err err = { 0 };
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	X509 *x = NULL;
	X509_REQ *req = NULL;

	assert_non_null(k);
	assert_int_equal(hkms_x509_cert_build(k, NULL, p, &o, &x, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	assert_null(x);
	assert_int_equal(hkms_x509_csr_build(k, "/CN=weak", NULL, NULL, &req,
	    &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	/* a weak signer is refused before it is used */
	assert_int_equal(hkms_x509_cert_build(k_rsa, NULL, p, &o, &x, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_sign_cert(x, k, NULL,
	    HKMS_X509_SHA256, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	X509_free(x);
	EVP_PKEY_free(k);
	hkms_x509_profile_free(p);
}

/* --- CSRs --------------------------------------------------------- */

static void
csr_round_trip(EVP_PKEY *key)
{
	struct hkms_err err = { 0 };
	X509_REQ *req = make_csr(key, "/CN=host.example.com/O=hkms",
	    "DNS:host.example.com,IP:192.0.2.1", NULL), *back = NULL;
	GENERAL_NAMES *g = NULL;
	unsigned char *der = NULL;
	char *pem;
	long plen;
	int len;
	BIO *b = BIO_new(BIO_s_mem());

	/* PEM */
	assert_int_equal(PEM_write_bio_X509_REQ(b, req), 1);
	plen = BIO_get_mem_data(b, &pem);
	assert_int_equal(hkms_x509_csr_parse((unsigned char *)pem,
	    (size_t)plen, &back, &err), HKMS_OK);
	assert_int_equal(hkms_x509_csr_verify(back, &err), HKMS_OK);
	assert_int_equal(hkms_x509_csr_get_san(back, &g, &err), HKMS_OK);
	assert_int_equal(sk_GENERAL_NAME_num(g), 2);
	GENERAL_NAMES_free(g);
	X509_REQ_free(back);
	back = NULL;
	/* DER */
	assert_true((len = i2d_X509_REQ(req, &der)) > 0);
	assert_int_equal(hkms_x509_csr_parse(der, (size_t)len, &back, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_csr_verify(back, &err), HKMS_OK);
	/* signing again (token retry) gives a valid CSR too */
	assert_int_equal(hkms_x509_sign_req(req, key, HKMS_X509_SHA512,
	    &err), HKMS_OK);
	assert_int_equal(hkms_x509_csr_verify(req, &err), HKMS_OK);
	OPENSSL_free(der);
	BIO_free(b);
	X509_REQ_free(back);
	X509_REQ_free(req);
}

static void
test_csr_round_trip(void **state)
{
	csr_round_trip(k_rsa);
	csr_round_trip(k_p256);
	csr_round_trip(k_p384);
}

static void
test_csr_tampered_fails(void **state)
{
	struct hkms_err err = { 0 };
	X509_REQ *req = make_csr(k_p256, "/CN=honest", NULL, NULL);
	X509_REQ *back = NULL;
	unsigned char *der = NULL;
	unsigned char *hit;
	int len = i2d_X509_REQ(req, &der);

	assert_non_null(hit = memmem(der, (size_t)len, "honest", 6));
	memcpy(hit, "hacked", 6);
	assert_int_equal(hkms_x509_csr_parse(der, (size_t)len, &back, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_csr_verify(back, &err), HKMS_E_VERIFY);
	assert_code(&err, "bad_csr_signature");
	X509_REQ_free(back);
	OPENSSL_free(der);
	X509_REQ_free(req);

	/* signed by another key than the one in the CSR */
	req = NULL;
	assert_int_equal(hkms_x509_csr_build(k_rsa, "/CN=x", NULL, NULL, &req,
	    &err), HKMS_OK);
	assert_int_equal(hkms_x509_sign_req(req, k_rsa2,
	    HKMS_X509_SHA256, &err), HKMS_E_INVALID);
	assert_code(&err, "key_mismatch");
	X509_REQ_sign(req, k_rsa2, EVP_sha256());
	assert_int_equal(hkms_x509_csr_verify(req, &err), HKMS_E_VERIFY);
	/* SHA-1 signature */
	X509_REQ_sign(req, k_rsa, EVP_sha1());
	assert_int_equal(hkms_x509_csr_verify(req, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_digest");
	X509_REQ_free(req);
}

/* A CSR of any key (no policy), signed with md (NULL for Ed25519). */
static int
raw_csr_der(EVP_PKEY *key, const EVP_MD *md, unsigned char **der)
{
	X509_REQ *r = X509_REQ_new();
	int len;

	assert_non_null(r);
	assert_int_equal(X509_REQ_set_version(r, X509_REQ_VERSION_1), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(
	    r), "CN", MBSTRING_ASC, (const unsigned char *)"k", -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, key), 1);
	assert_true(X509_REQ_sign(r, key, md) > 0);
	*der = NULL;
	assert_true((len = i2d_X509_REQ(r, der)) > 0);
	X509_REQ_free(r);
	return len;
}

/*
 * The CSR key decode without OpenSSL's decoder context (pubkey.c): an
 * RSA or named-curve EC key comes out as a legacy key equal to what
 * d2i_X509_REQ decodes, and every CSR gets the verdict (rc and message)
 * it got through d2i_X509_REQ alone: a weak RSA key, a curve outside the
 * policy, an unsupported key type (which keeps the ordinary path), a
 * point not on the curve.
 */
static void
csr_same_verdict(const unsigned char *der, int len, int fast,
    enum hkms_rc want, const char *code)
{
	struct hkms_err err = { 0 }, err_old = { 0 };
	const unsigned char *p = der;
	X509_REQ *back = NULL, *old;
	EVP_PKEY *k, *k_old;
	unsigned char *re = NULL;

	assert_int_equal(hkms_x509_csr_parse(der, (size_t)len, &back, &err),
	    HKMS_OK);
	assert_non_null(old = d2i_X509_REQ(NULL, &p, len));
	k = X509_REQ_get0_pubkey(back);
	k_old = X509_REQ_get0_pubkey(old);
	ERR_clear_error();
	if (fast) {
		assert_non_null(k);
		assert_null(EVP_PKEY_get0_provider(k));	/* the new path */
		assert_int_equal(EVP_PKEY_eq(k, k_old), 1);
	} else if (k_old == NULL) {
		assert_null(k);
	} else {
		assert_non_null(k);
		assert_non_null(EVP_PKEY_get0_provider(k));	/* ordinary */
	}
	assert_int_equal(i2d_X509_REQ(back, &re), len);
	assert_memory_equal(re, der, (size_t)len);
	assert_int_equal(hkms_x509_csr_verify(back, &err), want);
	assert_int_equal(hkms_x509_csr_verify(old, &err_old), want);
	assert_string_equal(err.detail, err_old.detail);
	if (code != NULL)
		assert_code(&err, code);
	OPENSSL_free(re);
	X509_REQ_free(back);
	X509_REQ_free(old);
}

static void
test_csr_key_decode(void **state)
{
	unsigned char *der, *pt = NULL, *hit;
	EVP_PKEY *k;
	size_t ptlen;
	int len;

	len = raw_csr_der(k_rsa, EVP_sha256(), &der);
	csr_same_verdict(der, len, 1, HKMS_OK, NULL);
	OPENSSL_free(der);
	len = raw_csr_der(k_p256, EVP_sha256(), &der);
	csr_same_verdict(der, len, 1, HKMS_OK, NULL);
	OPENSSL_free(der);
	len = raw_csr_der(k_p384, EVP_sha384(), &der);
	csr_same_verdict(der, len, 1, HKMS_OK, NULL);
	OPENSSL_free(der);

	/* RSA with a tiny modulus: decoded, then refused by the policy */
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)1024));
	len = raw_csr_der(k, EVP_sha256(), &der);
	csr_same_verdict(der, len, 1, HKMS_E_POLICY, "weak_key");
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	/* a named curve outside the policy */
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"));
	len = raw_csr_der(k, EVP_sha256(), &der);
	csr_same_verdict(der, len, 1, HKMS_E_POLICY, "weak_key");
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	/* an unsupported key type keeps the ordinary path */
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	len = raw_csr_der(k, NULL, &der);
	csr_same_verdict(der, len, 0, HKMS_E_POLICY, "weak_key");
	OPENSSL_free(der);
	EVP_PKEY_free(k);

	/* a P-256 point off the curve: the key cannot be decoded */
	len = raw_csr_der(k_p256, EVP_sha256(), &der);
	assert_true((ptlen = EVP_PKEY_get1_encoded_public_key(k_p256,
	    &pt)) == 65);
	assert_non_null(hit = memmem(der, (size_t)len, pt, ptlen));
	hit[64] ^= 0x01;
	csr_same_verdict(der, len, 0, HKMS_E_INVALID, "bad_csr");
	/* a point of the wrong length (the type byte says uncompressed) */
	hit[64] ^= 0x01;
	hit[0] = 0x02;
	csr_same_verdict(der, len, 0, HKMS_E_INVALID, "bad_csr");
	OPENSSL_free(pt);
	OPENSSL_free(der);
}

/*
 * A CSR whose P-256 point is compressed (0x02/0x03) or hybrid (0x06/0x07,
 * a form RFC 5480 tells relying parties to reject): the certificate
 * issued from it carries the point uncompressed (0x04), as it did before
 * the fast CSR key decode (which kept the CSR's form: hybrid points went
 * into certificates).
 */
static void
test_csr_point_form_cert(void **state)
{
	static const char *const forms[] = { "compressed", "hybrid" };
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_p256, "ca", "/CN=Root", NULL, 0), *x = NULL;
	const ASN1_BIT_STRING *bits;
	X509_REQ *req, *back = NULL;
	const unsigned char *pt;
	unsigned char *der = NULL, first;
	EVP_PKEY *k;
	size_t i;
	int len, ptlen;

	assert_non_null(ca);
	for (i = 0; i < 2; i++) {
		assert_non_null(k = EVP_PKEY_dup(k_p256));
		assert_int_equal(EVP_PKEY_set_utf8_string_param(k,
		    "point-format", forms[i]), 1);
		req = make_csr(k, "/CN=form.example", "DNS:form.example",
		    NULL);
		der = NULL;
		assert_true((len = i2d_X509_REQ(req, &der)) > 0);
		assert_int_equal(hkms_x509_csr_parse(der, (size_t)len, &back,
		    &err), HKMS_OK);
		/* the CSR itself holds the point in that form */
		assert_int_equal(X509_PUBKEY_get0_param(NULL, &pt, &ptlen,
		    NULL, X509_REQ_get_X509_PUBKEY(back)), 1);
		first = pt[0] & 0xfe;
		assert_int_equal(first, i == 0 ? 0x02 : 0x06);
		assert_int_equal(hkms_x509_csr_verify(back, &err), HKMS_OK);
		assert_int_equal(issue(back, ca, k_p256, "tls-server", NULL,
		    &x, &err), HKMS_OK);
		bits = X509_get0_pubkey_bitstr(x);
		assert_int_equal(ASN1_STRING_length(bits), 65);
		assert_int_equal(ASN1_STRING_get0_data(bits)[0], 0x04);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
		X509_free(x);
		x = NULL;
		X509_REQ_free(back);
		back = NULL;
		X509_REQ_free(req);
		OPENSSL_free(der);
		EVP_PKEY_free(k);
	}
	X509_free(ca);
}

/* hkms_x509_csr_build of key (NULL when refused) */
static X509_REQ *
make_csr_nocheck_probe(EVP_PKEY *k)
{
	struct hkms_err err = { 0 };
	X509_REQ *r = NULL;

	if (hkms_x509_csr_build(k, "/CN=probe.example", NULL, NULL, &r,
	    &err) != HKMS_OK)
		return NULL;
	return r;
}

/* A P-256 key with explicit curve parameters: refused (RFC 5480 2.1.1,
 * namedCurve only), the CSR and a certificate for it alike; the same
 * curve named is fine. */
static void
test_csr_explicit_curve(void **state)
{
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_p256, "ca", "/CN=Root", NULL, 0), *x = NULL;
	X509_REQ *req, *back = NULL;
	unsigned char *der = NULL;
	EVP_PKEY *k;
	int len;

	assert_non_null(ca);
	assert_non_null(k = EVP_PKEY_dup(k_p256));
	assert_int_equal(EVP_PKEY_set_utf8_string_param(k,
	    "encoding", "explicit"), 1);
	/* hkms's own CSR builder refuses the key: OpenSSL makes the CSR */
	assert_null(make_csr_nocheck_probe(k));
	assert_non_null(req = X509_REQ_new());
	assert_int_equal(X509_NAME_add_entry_by_txt(
	    X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
	    (const unsigned char *)"explicit.example", -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_REQ(req, &der)) > 0);
	assert_int_equal(hkms_x509_csr_parse(der, (size_t)len, &back, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_csr_verify(back, &err), HKMS_E_POLICY);
	assert_code(&err, "weak_key");
	assert_non_null(strstr(err.detail, "explicit curve parameters"));
	hkms_err_clear(&err);
	assert_int_not_equal(issue(back, ca, k_p256, "tls-server", NULL, &x,
	    &err), HKMS_OK);
	assert_null(x);
	assert_int_equal(hkms_x509_check_key(k, &err), HKMS_E_POLICY);
	hkms_err_clear(&err);
	assert_int_equal(hkms_x509_check_key(k_p256, &err), HKMS_OK);
	X509_REQ_free(back);
	X509_REQ_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(ca);
}

static void
test_csr_parse_bad(void **state)
{
	struct hkms_err err = { 0 };
	X509_REQ *req = make_csr(k_p256, "/CN=p", NULL, NULL), *back = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char *der = NULL, *big;
	char *pem, buf[8192];
	long plen;
	int len = i2d_X509_REQ(req, &der);

	PEM_write_bio_X509_REQ(b, req);
	plen = BIO_get_mem_data(b, &pem);
	assert_true(plen < 4000);

	/* whitespace around PEM is fine */
	snprintf(buf, sizeof(buf), "\n  %.*s\n\n", (int)plen, pem);
	assert_int_equal(hkms_x509_csr_parse((unsigned char *)buf,
	    strlen(buf), &back, &err), HKMS_OK);
	X509_REQ_free(back);
	back = NULL;

#define BAD(data, n) do { \
	hkms_err_clear(&err); \
	assert_int_equal(hkms_x509_csr_parse((unsigned char *)(data), (n), \
	    &back, &err), HKMS_E_INVALID); \
	assert_null(back); \
	assert_code(&err, "bad_csr"); \
} while (0)
	/* trailing junk after PEM and DER, leading junk, two CSRs */
	snprintf(buf, sizeof(buf), "%.*sjunk\n", (int)plen, pem);
	BAD(buf, strlen(buf));
	snprintf(buf, sizeof(buf), "hello\n%.*s", (int)plen, pem);
	BAD(buf, strlen(buf));
	snprintf(buf, sizeof(buf), "%.*s%.*s", (int)plen, pem, (int)plen,
	    pem);
	BAD(buf, strlen(buf));
	memcpy(buf, der, (size_t)len);
	buf[len] = 0;
	BAD(buf, (size_t)len + 1);
	/* truncated DER and PEM */
	BAD(der, (size_t)len - 1);
	BAD(der, 10);
	BAD(pem, (size_t)plen / 2);
	/* empty, garbage, too large */
	BAD("", 0);
	BAD("not a csr", 9);
	assert_non_null(big = calloc(1, HKMS_X509_CSR_MAX + 1));
	big[0] = 0x30;
	BAD(big, HKMS_X509_CSR_MAX + 1);
	free(big);
	/* a certificate in a CSR wrapper, and a CSR label around garbage */
	{
		X509 *x = self_signed(k_p256, "tls-server", "/CN=c", NULL, 1);
		unsigned char *cder = NULL;
		int clen = i2d_X509(x, &cder);
		BIO *b2 = BIO_new(BIO_s_mem());
		char *p2;
		long l2;

		PEM_write_bio(b2, "CERTIFICATE REQUEST", "", cder, clen);
		l2 = BIO_get_mem_data(b2, &p2);
		BAD(p2, (size_t)l2);
		BIO_free(b2);
		b2 = BIO_new(BIO_s_mem());
		PEM_write_bio_X509(b2, x);
		l2 = BIO_get_mem_data(b2, &p2);
		BAD(p2, (size_t)l2);
		BIO_free(b2);
		OPENSSL_free(cder);
		X509_free(x);
	}
#undef BAD
	OPENSSL_free(der);
	BIO_free(b);
	X509_REQ_free(req);
}

/* --- certificates ------------------------------------------------- */

static void
test_self_signed_tls_server_exact_extensions(void **state)
{
	X509 *x = self_signed(k_p256, "tls-server", "/CN=box.example.com",
	    NULL, 0);
	const ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *akid;
	BASIC_CONSTRAINTS *bc;
	char *out;
	int64_t days;
	int pday, psec;

	/* exactly BC, KU, EKU, SKI, AKI */
	assert_int_equal(X509_get_ext_count(x), 5);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_true(X509_get_extension_flags(x) & EXFLAG_SS);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_non_null(bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL,
	    NULL));
	assert_false(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(ext_crit(x, NID_basic_constraints));
	assert_true(ext_crit(x, NID_key_usage));
	assert_false(ext_crit(x, NID_ext_key_usage));
	assert_non_null(ski = X509_get0_subject_key_id(x));
	assert_non_null(akid = X509_get_ext_d2i(x,
	    NID_authority_key_identifier, NULL, NULL));
	assert_int_equal(ASN1_OCTET_STRING_cmp(ski, akid->keyid), 0);
	assert_null(akid->issuer);
	AUTHORITY_KEYID_free(akid);
	assert_int_equal(X509_check_private_key(x, k_p256), 1);
	/* default lifetime 397 days, back-dated by 60 s */
	assert_int_equal(ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)), 1);
	days = pday;
	assert_int_equal(days, 397);
	assert_int_equal(psec, 60);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);

	if (have_openssl) {
		write_pem("ss.pem", x, NULL);
		out = run("openssl x509 -in '%s/ss.pem' -noout -text", tmpdir);
		assert_non_null(strstr(out, "Digital Signature"));
		assert_null(strstr(out, "Key Encipherment"));
		assert_non_null(strstr(out, "TLS Web Server Authentication"));
		assert_null(strstr(out, "Client Authentication"));
		assert_non_null(strstr(out, "CA:FALSE"));
		assert_non_null(strstr(out, "Subject Key Identifier"));
		assert_non_null(strstr(out, "Authority Key Identifier"));
		free(out);
		out = run("openssl verify -x509_strict -partial_chain "
		    "-CAfile '%s/ss.pem' '%s/ss.pem' 2>&1", tmpdir, tmpdir);
		assert_non_null(strstr(out, ": OK"));
		free(out);
	}
	X509_free(x);

	/* RSA gets keyEncipherment too; SANs add one extension */
	x = self_signed(k_rsa, "tls-server", "/CN=r", "DNS:r.example,IP:::1",
	    30);
	assert_int_equal(X509_get_ext_count(x), 6);
	assert_int_equal(X509_get_key_usage(x),
	    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(X509_get_signature_nid(x),
	    NID_sha256WithRSAEncryption);
	assert_false(ext_crit(x, NID_subject_alt_name));
	X509_free(x);
}

static void
test_self_signed_ca(void **state)
{
	X509 *x = self_signed(k_p384, "ca", "/CN=Root/O=hkms/C=DE", NULL, 0);
	BASIC_CONSTRAINTS *bc;
	int pday, psec;

	assert_true(X509_check_ca(x));
	assert_non_null(bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL,
	    NULL));
	assert_true(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(ext_crit(x, NID_basic_constraints));
	assert_true(ext_crit(x, NID_key_usage));
	assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_ext_by_NID(x, NID_ext_key_usage, -1), -1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
	ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x));
	assert_int_equal(pday, 3652);
	X509_free(x);
}

static void
test_csr_cannot_request_ca_powers(void **state)
{
	struct hkms_err err = { 0 };
	STACK_OF(X509_EXTENSION) *extra = sk_X509_EXTENSION_new_null();
	X509 *ca = self_signed(k_p384, "ca", "/CN=Root", NULL, 0), *x = NULL;
	X509_REQ *csr;
	GENERAL_NAMES *g;
	X509V3_CTX v3;
	char *s;

	CONF *conf = NCONF_new(NULL);

	X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
	X509V3_set_nconf(&v3, conf);

	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_basic_constraints, "critical,CA:TRUE,pathlen:5"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_ext_key_usage, "anyExtendedKeyUsage,codeSigning"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_name_constraints, "permitted;DNS:evil.com"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_crl_distribution_points, "URI:http://evil.com/crl"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_info_access, "OCSP;URI:http://evil.com/ocsp"));
	sk_X509_EXTENSION_push(extra, X509V3_EXT_conf_nid(NULL, &v3,
	    NID_certificate_policies, "2.5.29.32.0"));
	assert_int_equal(sk_X509_EXTENSION_num(extra), 7);
	for (int i = 0; i < 7; i++)
		if (sk_X509_EXTENSION_value(extra, i) == NULL)
			fail_msg("extension %d: %s", i, ERR_error_string(
			    ERR_get_error(), NULL));
	csr = make_csr(k_p256, "/CN=sneaky.example.com",
	    "DNS:sneaky.example.com", extra);

	assert_int_equal(issue(csr, ca, k_p384, "tls-server", NULL, &x, &err),
	    HKMS_OK);
	assert_false(X509_check_ca(x));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_int_equal(X509_get_ext_by_NID(x, NID_name_constraints, -1), -1);
	assert_int_equal(X509_get_ext_by_NID(x, NID_crl_distribution_points,
	    -1), -1);
	assert_int_equal(X509_get_ext_by_NID(x, NID_info_access, -1), -1);
	assert_int_equal(X509_get_ext_by_NID(x, NID_certificate_policies, -1),
	    -1);
	/* BC KU EKU SKI AKI SAN, nothing else */
	assert_int_equal(X509_get_ext_count(x), 6);
	assert_non_null(g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL));
	assert_int_equal(hkms_x509_san_format(g, &s, &err), HKMS_OK);
	assert_string_equal(s, "DNS:sneaky.example.com");
	free(s);
	GENERAL_NAMES_free(g);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	X509_free(x);

	/* SAN override replaces the CSR's SANs */
	{
		struct hkms_x509_cert_opts o = { .san = "DNS:other.example" };

		assert_int_equal(issue(csr, ca, k_p384, "tls-server", &o, &x,
		    &err), HKMS_OK);
		g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		hkms_x509_san_format(g, &s, &err);
		assert_string_equal(s, "DNS:other.example");
		free(s);
		GENERAL_NAMES_free(g);
		X509_free(x);
	}
	sk_X509_EXTENSION_pop_free(extra, X509_EXTENSION_free);
	NCONF_free(conf);
	X509_REQ_free(csr);
	X509_free(ca);
}

static void
test_issue_rejects_bad_csr_names(void **state)
{
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_p256, "ca", "/CN=Root", NULL, 0), *x = NULL;
	X509_REQ *csr = NULL;
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *g = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

	/* DC attribute: unknown to our subject rules */
	X509_NAME_add_entry_by_txt(n, "DC", MBSTRING_ASC,
	    (unsigned char *)"com", -1, -1, 0);
	csr = X509_REQ_new();
	X509_REQ_set_version(csr, X509_REQ_VERSION_1);
	X509_REQ_set_subject_name(csr, n);
	X509_REQ_set_pubkey(csr, k_p256);
	X509_REQ_sign(csr, k_p256, EVP_sha256());
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", NULL, &x, &err),
	    HKMS_E_INVALID);
	assert_code(&err, "invalid_subject");
	assert_null(x);
	X509_REQ_free(csr);

	/* NUL inside a DNS SAN */
	ASN1_STRING_set(ia5, "ok.example\0.evil.com", 20);
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	sk_GENERAL_NAME_push(g, gn);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0,
	    g));
	csr = X509_REQ_new();
	X509_REQ_set_version(csr, X509_REQ_VERSION_1);
	X509_NAME_free(n);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (unsigned char *)"ok", -1, -1, 0);
	X509_REQ_set_subject_name(csr, n);
	X509_REQ_set_pubkey(csr, k_p256);
	X509_REQ_add_extensions(csr, exts);
	X509_REQ_sign(csr, k_p256, EVP_sha256());
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", NULL, &x, &err),
	    HKMS_E_INVALID);
	assert_code(&err, "invalid_san");
	X509_REQ_free(csr);

	/* wildcard where the profile forbids it */
	csr = make_csr(k_p256, "/CN=code", "DNS:*.example.com", NULL);
	assert_int_equal(issue(csr, ca, k_p256, "code-signing", NULL, &x,
	    &err), HKMS_E_POLICY);
	assert_code(&err, "san_not_allowed");
	/* a custom profile allowing only DNS/IP refuses email */
	X509_REQ_free(csr);
	csr = make_csr(k_p256, "/CN=w", "DNS:w.example,email:a@b.example",
	    NULL);
	assert_int_equal(issue(csr, ca, k_p256, "web-internal", NULL, &x,
	    &err), HKMS_E_POLICY);
	assert_code(&err, "san_not_allowed");
	X509_REQ_free(csr);

	GENERAL_NAMES_free(g);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_free(ca);
}

static void
test_chain_verifies(void **state)
{
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_p384, "ca", "/CN=Root CA/O=hkms", NULL, 0);
	X509 *x = NULL;
	X509_REQ *csr = make_csr(k_rsa, "/CN=www.example.com",
	    "DNS:www.example.com", NULL);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	AUTHORITY_KEYID *akid;
	char *out;

	assert_int_equal(issue(csr, ca, k_p384, "tls-server-client", NULL, &x,
	    &err), HKMS_OK);
	assert_int_equal(X509_get_extended_key_usage(x),
	    XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_non_null(akid = X509_get_ext_d2i(x,
	    NID_authority_key_identifier, NULL, NULL));
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid,
	    X509_get0_subject_key_id(ca)), 0);
	AUTHORITY_KEYID_free(akid);
	/* P-384 issuer, auto digest: sha384 */
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, x, NULL);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	if (have_openssl) {
		write_pem("root.pem", ca, NULL);
		write_pem("leaf.pem", x, NULL);
		out = run("openssl verify -x509_strict -purpose sslserver "
		    "-CAfile '%s/root.pem' '%s/leaf.pem' 2>&1", tmpdir,
		    tmpdir);
		assert_non_null(strstr(out, "leaf.pem: OK"));
		free(out);
	}
	/* the same object signed twice (token retry) still verifies */
	assert_int_equal(hkms_x509_sign_cert(x, k_p384, ca, HKMS_X509_SHA256,
	    &err), HKMS_OK);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	/* the wrong CA key is refused before signing */
	assert_int_equal(hkms_x509_sign_cert(x, k_p256, ca, HKMS_X509_SHA256,
	    &err), HKMS_E_INVALID);
	assert_code(&err, "key_mismatch");
	/* issuing with a leaf as CA */
	X509_free(ca);
	ca = self_signed(k_p256, "tls-server", "/CN=not a ca", NULL, 0);
	X509_free(x);
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", NULL, &x,
	    &err), HKMS_E_POLICY);
	assert_code(&err, "not_a_ca");
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_REQ_free(csr);
	X509_free(ca);
}

static void
test_intermediate_path_len_and_name_constraints(void **state)
{
	struct hkms_err err = { 0 };
	static const char *const permit_dns[] = { "example.com", NULL };
	static const char *const exclude_dns[] = { "bad.example.com", NULL };
	static const char *const permit_ip[] = { "10.0.0.0/8", "fd00::/8",
	    NULL };
	struct hkms_x509_cert_opts o = { .permit_dns = permit_dns,
	    .exclude_dns = exclude_dns, .permit_ip = permit_ip };
	X509 *root = self_signed(k_p384, "ca", "/CN=Root", NULL, 0);
	X509 *sub = NULL, *leaf = NULL, *sub2 = NULL;
	X509_REQ *csr = make_csr(k_p256, "/CN=Issuing CA", NULL, NULL);
	X509_REQ *lcsr;
	BASIC_CONSTRAINTS *bc;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();

	assert_int_equal(issue(csr, root, k_p384, "intermediate-ca", &o, &sub,
	    &err), HKMS_OK);
	assert_non_null(bc = X509_get_ext_d2i(sub, NID_basic_constraints,
	    NULL, NULL));
	assert_true(bc->ca);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(ext_crit(sub, NID_basic_constraints));
	assert_true(ext_crit(sub, NID_name_constraints));

	X509_STORE_add_cert(st, root);
	sk_X509_push(chain, sub);
	/* a leaf inside the constraints verifies */
	lcsr = make_csr(k_rsa, "/CN=www.example.com",
	    "DNS:www.example.com,IP:10.1.2.3", NULL);
	assert_int_equal(issue(lcsr, sub, k_p256, "tls-server", NULL, &leaf,
	    &err), HKMS_OK);
	X509_STORE_CTX_init(ctx, st, leaf, chain);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_cleanup(ctx);
	X509_free(leaf);
	X509_REQ_free(lcsr);
	/* one outside them is issued (we sign what we are told) but
	 * fails verification */
	lcsr = make_csr(k_rsa, "/CN=www.bad.example.com",
	    "DNS:www.bad.example.com", NULL);
	assert_int_equal(issue(lcsr, sub, k_p256, "tls-server", NULL, &leaf,
	    &err), HKMS_OK);
	X509_STORE_CTX_init(ctx, st, leaf, chain);
	assert_int_equal(X509_verify_cert(ctx), 0);
	assert_int_equal(X509_STORE_CTX_get_error(ctx),
	    X509_V_ERR_EXCLUDED_VIOLATION);
	X509_STORE_CTX_cleanup(ctx);
	X509_free(leaf);
	X509_REQ_free(lcsr);

	/* pathlen 0: no CA below the intermediate */
	assert_int_equal(issue(csr, sub, k_p256, "intermediate-ca", NULL,
	    &sub2, &err), HKMS_E_POLICY);
	assert_code(&err, "path_len_exceeded");
	/* explicit path length under an unlimited root */
	{
		struct hkms_x509_cert_opts o2 = { .has_path_len = 1,
		    .path_len = 3 };

		assert_int_equal(issue(csr, root, k_p384, "intermediate-ca",
		    &o2, &sub2, &err), HKMS_OK);
		bc = X509_get_ext_d2i(sub2, NID_basic_constraints, NULL, NULL);
		assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 3);
		BASIC_CONSTRAINTS_free(bc);
		X509_free(sub2);
	}
	/* constraints on a leaf profile and a bad CIDR are refused */
	{
		static const char *const badip[] = { "10.0.0.1/8", NULL };
		struct hkms_x509_cert_opts o3 = { .permit_dns = permit_dns };
		struct hkms_x509_cert_opts o4 = { .permit_ip = badip };

		lcsr = make_csr(k_rsa, "/CN=l", NULL, NULL);
		assert_int_equal(issue(lcsr, root, k_p384, "tls-server", &o3,
		    &leaf, &err), HKMS_E_INVALID);
		assert_int_equal(issue(csr, root, k_p384, "intermediate-ca",
		    &o4, &sub2, &err), HKMS_E_INVALID);
		assert_code(&err, "invalid_name_constraint");
		X509_REQ_free(lcsr);
	}
	sk_X509_free(chain);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_REQ_free(csr);
	X509_free(sub);
	X509_free(root);
}

/* --- host names, CIDR, name constraints (nameconst.c) -------------- */

static void
test_dns_check_edges(void **state)
{
	struct hkms_err err = { 0 };
	char l63[64], l64[65], total[300];
	size_t i;
	static const char *const good[] = { "example.com", "a", "a-b.c",
	    "xn--bcher-kva.example", "xn--80ak6aa92e.com", "1.2.3.4",
	    "EXAMPLE.COM", NULL };
	static const char *const bad[] = { "", "example.com.", ".example.com",
	    "a..b", "-a.com", "a-.com", "a_b.com", "b\xc3\xbc" "cher.example",
	    "a b.com", "*", "*.", "a.*.com", "**.a.com", NULL };
	static const char *const wild_bad[] = { "*.com", "*.", "*.a.com.",
	    "a*.b.com", NULL };

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (hkms_x509_dns_check(good[i], strlen(good[i]), 0, &err) !=
		    HKMS_OK)
			fail_msg("'%s' refused: %s", good[i], err.detail);
	for (i = 0; bad[i] != NULL; i++)
		if (hkms_x509_dns_check(bad[i], strlen(bad[i]), 1, &err) !=
		    HKMS_E_INVALID)
			fail_msg("'%s' accepted", bad[i]);
	assert_code(&err, "invalid_san");
	/* wildcard: only with wildcard_ok, and only over two labels */
	assert_int_equal(hkms_x509_dns_check("*.example.com", 13, 1, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_dns_check("*.example.com", 13, 0, &err),
	    HKMS_E_INVALID);
	for (i = 0; wild_bad[i] != NULL; i++)
		if (hkms_x509_dns_check(wild_bad[i], strlen(wild_bad[i]), 1,
		    &err) != HKMS_E_INVALID)
			fail_msg("'%s' accepted", wild_bad[i]);
	/* label length 63 passes, 64 does not */
	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	snprintf(total, sizeof(total), "%s.com", l63);
	assert_int_equal(hkms_x509_dns_check(total, strlen(total), 0, &err),
	    HKMS_OK);
	snprintf(total, sizeof(total), "%s.com", l64);
	assert_int_equal(hkms_x509_dns_check(total, strlen(total), 0, &err),
	    HKMS_E_INVALID);
	/* 253 characters in all pass, 254 do not: 4 x 63 + 3 dots = 255,
	 * so 3 labels of 63 + one of 61 = 253 */
	snprintf(total, sizeof(total), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	assert_int_equal(strlen(total), 253);
	assert_int_equal(hkms_x509_dns_check(total, strlen(total), 0, &err),
	    HKMS_OK);
	snprintf(total, sizeof(total), "%s.%s.%s.%.62s", l63, l63, l63, l63);
	assert_int_equal(strlen(total), 254);
	assert_int_equal(hkms_x509_dns_check(total, strlen(total), 0, &err),
	    HKMS_E_INVALID);
	/* not NUL-terminated: len counts */
	assert_int_equal(hkms_x509_dns_check("a.com.evil", 5, 0, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_dns_check("a.c\0m", 5, 0, &err),
	    HKMS_E_INVALID);
	assert_int_equal(hkms_x509_dns_check(NULL, 3, 0, &err),
	    HKMS_E_INVALID);
}

static void
test_cidr_parse_edges(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_x509_cidr c;
	const int strict = HKMS_X509_CIDR_STRICT, pfx = HKMS_X509_CIDR_PREFIX;
	unsigned char v4[4] = { 10, 1, 2, 3 }, v4b[4] = { 11, 0, 0, 1 };
	unsigned char mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
	    10, 1, 2, 3 };
	unsigned char v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 1 };
	static const char *const bad[] = { "", "10.0.0.0/", "10.0.0.0/33",
	    "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8x",
	    "10.0.0/8", "10.0.0.256/32", "fd00::/129", "fd00:::/8",
	    "host.example/8", "10.0.0.0/8/8", "0x0a000000/8", NULL };
	size_t i;

	(void)state;
	assert_int_equal(hkms_x509_cidr_parse("10.0.0.0/8", strict | pfx, &c,
	    &err), HKMS_OK);
	assert_int_equal(c.len, 4);
	assert_int_equal(c.bits, 8);
	assert_true(hkms_x509_cidr_contains(&c, v4, 4));
	assert_false(hkms_x509_cidr_contains(&c, v4b, 4));
	/* host bits set: refused when strict, accepted (and masked by the
	 * prefix) otherwise */
	assert_int_equal(hkms_x509_cidr_parse("10.0.0.1/8", strict, &c, &err),
	    HKMS_E_INVALID);
	assert_code(&err, "invalid_cidr");
	assert_int_equal(hkms_x509_cidr_parse("10.9.9.9/8", 0, &c, &err),
	    HKMS_OK);
	assert_true(hkms_x509_cidr_contains(&c, v4, 4));
	assert_int_equal(hkms_x509_cidr_parse("fd00::1/8", strict, &c, &err),
	    HKMS_E_INVALID);
	/* /0 covers every address of its family only */
	assert_int_equal(hkms_x509_cidr_parse("0.0.0.0/0", strict | pfx, &c,
	    &err), HKMS_OK);
	assert_true(hkms_x509_cidr_contains(&c, v4b, 4));
	assert_false(hkms_x509_cidr_contains(&c, v6, 16));
	assert_int_equal(hkms_x509_cidr_parse("::/0", strict | pfx, &c, &err),
	    HKMS_OK);
	assert_true(hkms_x509_cidr_contains(&c, v6, 16));
	assert_false(hkms_x509_cidr_contains(&c, v4, 4));
	/* /32 and /128: one address; a bare address is the same, unless
	 * the prefix is required */
	assert_int_equal(hkms_x509_cidr_parse("10.1.2.3/32", strict | pfx, &c,
	    &err), HKMS_OK);
	assert_true(hkms_x509_cidr_contains(&c, v4, 4));
	assert_int_equal(hkms_x509_cidr_parse("10.1.2.3", strict, &c, &err),
	    HKMS_OK);
	assert_int_equal(c.bits, 32);
	assert_int_equal(hkms_x509_cidr_parse("10.1.2.3", pfx, &c, &err),
	    HKMS_E_INVALID);
	assert_int_equal(hkms_x509_cidr_parse("fd00::1/128", strict | pfx, &c,
	    &err), HKMS_OK);
	assert_int_equal(c.len, 16);
	assert_true(hkms_x509_cidr_contains(&c, v6, 16));
	assert_int_equal(hkms_x509_cidr_parse("fd00::1", 0, &c, &err),
	    HKMS_OK);
	assert_int_equal(c.bits, 128);
	/* IPv4-mapped IPv6 stays IPv6: it covers the 16-octet form only */
	assert_int_equal(hkms_x509_cidr_parse("::ffff:10.0.0.0/104",
	    strict | pfx, &c, &err), HKMS_OK);
	assert_int_equal(c.family, AF_INET6);
	assert_true(hkms_x509_cidr_contains(&c, mapped, 16));
	assert_false(hkms_x509_cidr_contains(&c, v4, 4));
	for (i = 0; bad[i] != NULL; i++)
		if (hkms_x509_cidr_parse(bad[i], 0, &c, &err) !=
		    HKMS_E_INVALID)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(hkms_x509_cidr_parse(NULL, 0, &c, &err),
	    HKMS_E_INVALID);
	assert_false(hkms_x509_cidr_contains(NULL, v4, 4));
}

static void
test_nc_dns_match(void **state)
{
	(void)state;
	assert_true(hkms_x509_nc_dns_match("example.com", "example.com"));
	assert_true(hkms_x509_nc_dns_match("WWW.Example.COM", "example.com"));
	assert_true(hkms_x509_nc_dns_match("a.b.example.com", "example.com"));
	assert_false(hkms_x509_nc_dns_match("badexample.com", "example.com"));
	assert_false(hkms_x509_nc_dns_match("example.com", ".example.com"));
	assert_true(hkms_x509_nc_dns_match("www.example.com",
	    ".example.com"));
	assert_false(hkms_x509_nc_dns_match("example.org", "example.com"));
	assert_true(hkms_x509_nc_dns_match("anything.at.all", ""));
	assert_false(hkms_x509_nc_dns_match("com", "example.com"));
	assert_false(hkms_x509_nc_dns_match(NULL, "example.com"));
}

/* hkms_x509_nc_check refuses exactly what a verifier refuses. */
static void
test_nc_check_matches_verifier(void **state)
{
	struct hkms_err err = { 0 };
	static const char *const permit_dns[] = { "example.com", NULL };
	static const char *const exclude_dns[] = { "bad.example.com", NULL };
	static const char *const permit_ip[] = { "10.0.0.0/8", NULL };
	struct hkms_x509_cert_opts o = { .permit_dns = permit_dns,
	    .exclude_dns = exclude_dns, .permit_ip = permit_ip };
	static const struct {
		const char *subject, *san;
		int ok;
	} cases[] = {
		{ "/CN=www.example.com", "DNS:www.example.com,IP:10.1.2.3", 1 },
		{ "/CN=Some Person", "DNS:example.com", 1 },
		{ "/CN=www.example.com", "DNS:www.bad.example.com", 0 },
		{ "/CN=www.example.com", "DNS:www.example.org", 0 },
		{ "/CN=www.example.com", "IP:192.0.2.1", 0 },
		{ "/CN=www.example.com", "IP:fd00::1", 0 },
		{ "/CN=host.example.org", NULL, 0 },
	};
	X509 *root = self_signed(k_p384, "ca", "/CN=Root", NULL, 0);
	X509 *sub = NULL, *leaf;
	X509_REQ *csr = make_csr(k_p256, "/CN=Issuing CA", NULL, NULL), *lcsr;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	size_t i;
	int verified;

	(void)state;
	assert_int_equal(issue(csr, root, k_p384, "intermediate-ca", &o, &sub,
	    &err), HKMS_OK);
	X509_STORE_add_cert(st, root);
	sk_X509_push(chain, sub);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lcsr = make_csr(k_rsa, cases[i].subject, cases[i].san, NULL);
		assert_int_equal(issue(lcsr, sub, k_p256, "tls-server", NULL,
		    &leaf, &err), HKMS_OK);
		X509_STORE_CTX_init(ctx, st, leaf, chain);
		verified = X509_verify_cert(ctx) == 1;
		X509_STORE_CTX_cleanup(ctx);
		if (verified != cases[i].ok)
			fail_msg("case %zu: verifier says %d", i, verified);
		if ((hkms_x509_nc_check(chain, leaf, 1, &err) == HKMS_OK) !=
		    cases[i].ok)
			fail_msg("case %zu (%s %s): nc_check disagrees: %s", i,
			    cases[i].subject, cases[i].san ? cases[i].san :
			    "", err.detail);
		if (!cases[i].ok)
			assert_code(&err, "policy_violation");
		X509_free(leaf);
		X509_REQ_free(lcsr);
	}
	assert_int_equal(hkms_x509_nc_check(chain, NULL, 1, &err),
	    HKMS_E_INVALID);
	sk_X509_free(chain);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_REQ_free(csr);
	X509_free(sub);
	X509_free(root);
}

static int
cmp_hex(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_serial_properties(void **state)
{
	enum { N = 10000 };
	struct hkms_err err = { 0 };
	char (*hex)[HKMS_X509_SERIAL_HEX_MAX] = calloc(N, sizeof(*hex));
	unsigned long freq[256] = { 0 };
	unsigned long top = 0, bytes = 0;
	double chi = 0, expect;
	int i, j;

	assert_non_null(hex);
	for (i = 0; i < N; i++) {
		ASN1_INTEGER *s = NULL;
		BIGNUM *bn;
		unsigned char buf[20];

		assert_int_equal(hkms_x509_serial_new(&s, &err), HKMS_OK);
		assert_int_equal(ASN1_STRING_type(s), V_ASN1_INTEGER);
		assert_true(ASN1_STRING_length(s) <= 20);
		assert_true(i2d_ASN1_INTEGER(s, NULL) <= 22);
		bn = ASN1_INTEGER_to_BN(s, NULL);
		assert_false(BN_is_negative(bn));
		assert_false(BN_is_zero(bn));
		assert_true(BN_num_bits(bn) <= 159);
		if (BN_is_bit_set(bn, 158))
			top++;
		assert_int_equal(BN_bn2binpad(bn, buf, 20), 20);
		for (j = 1; j < 20; j++) {
			freq[buf[j]]++;
			bytes++;
		}
		assert_int_equal(hkms_x509_serial_to_hex(s, hex[i], &err),
		    HKMS_OK);
		BN_free(bn);
		ASN1_INTEGER_free(s);
	}
	qsort(hex, N, sizeof(*hex), cmp_hex);
	for (i = 1; i < N; i++)
		assert_string_not_equal(hex[i - 1], hex[i]);
	/* the top random bit is not truncated: ~50% of serials have it */
	assert_true(top > N * 45 / 100 && top < N * 55 / 100);
	/* byte frequencies: chi-square with 255 dof, p < 1e-6 bound */
	expect = (double)bytes / 256;
	for (i = 0; i < 256; i++)
		chi += (freq[i] - expect) * (freq[i] - expect) / expect;
	assert_true(chi < 400);
	free(hex);

	/* hex round trip and bad hex */
	{
		ASN1_INTEGER *s = NULL;
		char h[HKMS_X509_SERIAL_HEX_MAX];

		assert_int_equal(hkms_x509_serial_from_hex("01:ab:CD", &s,
		    &err), HKMS_OK);
		hkms_x509_serial_to_hex(s, h, &err);
		assert_string_equal(h, "01ABCD");
		ASN1_INTEGER_free(s);
		s = NULL;
		assert_int_equal(hkms_x509_serial_from_hex("00", &s, &err),
		    HKMS_E_INVALID);
		assert_int_equal(hkms_x509_serial_from_hex("xyz", &s, &err),
		    HKMS_E_INVALID);
		assert_int_equal(hkms_x509_serial_from_hex(
		    "80000000000000000000000000000000000000000", &s, &err),
		    HKMS_E_INVALID);
	}
}

static void
test_lifetime_clamp_and_error(void **state)
{
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_p256, "ca", "/CN=Short CA", NULL, 30);
	X509 *x = NULL;
	X509_REQ *csr = make_csr(k_p256, "/CN=leaf", "DNS:leaf.example",
	    NULL);
	struct hkms_x509_cert_opts o = { 0 };
	int pday, psec;

	/* default lifetime (397 days) is clamped to the CA's not-after */
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", &o, &x, &err),
	    HKMS_OK);
	assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x),
	    X509_get0_notAfter(ca)), 0);
	assert_true(ASN1_TIME_compare(X509_get0_notBefore(x),
	    X509_get0_notBefore(ca)) >= 0);
	X509_free(x);
	/* an explicit lifetime past the CA is an error */
	o.days = 60;
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", &o, &x, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "lifetime_exceeds_ca");
	assert_null(x);
	/* an explicit one inside is honoured exactly, with fixed "now" */
	o.days = 10;
	o.now = (int64_t)time(NULL) + 3600;
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", &o, &x, &err),
	    HKMS_OK);
	ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x));
	assert_int_equal(pday, 10);
	assert_int_equal(psec, 60);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x),
	    (time_t)(o.now - 60)), 0);
	X509_free(x);
	/* an expired CA issues nothing */
	o.days = 0;
	o.now = (int64_t)time(NULL) + 40 * 86400;
	assert_int_equal(issue(csr, ca, k_p256, "tls-server", &o, &x, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "ca_expired");
	/* a profile's max_days caps explicit lifetimes */
	X509_free(ca);
	ca = self_signed(k_p256, "ca", "/CN=Long CA", NULL, 0);
	memset(&o, 0, sizeof(o));
	o.days = 181;
	assert_int_equal(issue(csr, ca, k_p256, "web-internal", &o, &x, &err),
	    HKMS_E_POLICY);
	assert_code(&err, "lifetime_exceeds_profile");
	o.days = 0;
	assert_int_equal(issue(csr, ca, k_p256, "web-internal", &o, &x, &err),
	    HKMS_OK);
	ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x));
	assert_int_equal(pday, 90);
	X509_free(x);
	X509_REQ_free(csr);
	X509_free(ca);
}

/* --- CRLs --------------------------------------------------------- */

static void
test_crl_two_entries(void **state)
{
	struct hkms_err err = { 0 };
	X509 *ca = self_signed(k_rsa, "ca", "/CN=CRL CA", NULL, 0);
	X509 *leaf = NULL;
	X509_REQ *csr = make_csr(k_p256, "/CN=revoked", "DNS:r.example",
	    NULL);
	X509_CRL *crl = NULL;
	char serial[HKMS_X509_SERIAL_HEX_MAX];
	struct hkms_x509_revoked rev[2];
	STACK_OF(X509_REVOKED) *sk;
	ASN1_INTEGER *num;
	int64_t now = (int64_t)time(NULL);
	int i, n_kc = 0, n_sup = 0;
	char *out;

	assert_int_equal(issue(csr, ca, k_rsa, "tls-server", NULL, &leaf,
	    &err), HKMS_OK);
	assert_int_equal(hkms_x509_serial_to_hex(X509_get0_serialNumber(leaf),
	    serial, &err), HKMS_OK);
	rev[0].serial_hex = serial;
	rev[0].revoked_at = now - 100;
	rev[0].reason = HKMS_X509_REASON_KEY_COMPROMISE;
	rev[1].serial_hex = "0A:0B:0C";
	rev[1].revoked_at = now - 50;
	assert_int_equal(hkms_x509_crl_reason_parse("superseded",
	    &rev[1].reason, &err), HKMS_OK);
	assert_int_equal(hkms_x509_crl_build(ca, rev, 2, 5, 0, 0, &crl, &err),
	    HKMS_OK);
	assert_int_equal(hkms_x509_sign_crl(crl, k_rsa, ca, HKMS_X509_SHA256,
	    &err), HKMS_OK);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_non_null(num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL));
	assert_int_equal(ASN1_INTEGER_get(num), 5);
	ASN1_INTEGER_free(num);
	assert_true(X509_CRL_get_ext_by_NID(crl,
	    NID_authority_key_identifier, -1) >= 0);
	sk = X509_CRL_get_REVOKED(crl);
	assert_int_equal(sk_X509_REVOKED_num(sk), 2);
	for (i = 0; i < 2; i++) {
		ASN1_ENUMERATED *r = X509_REVOKED_get_ext_d2i(
		    sk_X509_REVOKED_value(sk, i), NID_crl_reason, NULL, NULL);

		assert_non_null(r);
		if (ASN1_ENUMERATED_get(r) == 1)
			n_kc++;
		if (ASN1_ENUMERATED_get(r) == 4)
			n_sup++;
		ASN1_ENUMERATED_free(r);
	}
	assert_int_equal(n_kc, 1);
	assert_int_equal(n_sup, 1);
	/* signing again keeps it valid */
	assert_int_equal(hkms_x509_sign_crl(crl, k_rsa, ca, HKMS_X509_SHA384,
	    &err), HKMS_OK);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	assert_int_equal(hkms_x509_sign_crl(crl, k_rsa2, ca, HKMS_X509_SHA256,
	    &err), HKMS_E_INVALID);
	if (have_openssl) {
		write_pem("crl.pem", NULL, crl);
		write_pem("crlca.pem", ca, NULL);
		write_pem("revoked.pem", leaf, NULL);
		out = run("openssl crl -in '%s/crl.pem' -noout -text "
		    "-CAfile '%s/crlca.pem' 2>&1", tmpdir, tmpdir);
		assert_non_null(strstr(out, "verify OK"));
		assert_non_null(strstr(out, "Key Compromise"));
		assert_non_null(strstr(out, "Superseded"));
		assert_non_null(strstr(out, "X509v3 CRL Number"));
		free(out);
		out = run("openssl verify -crl_check -CAfile '%s/crlca.pem' "
		    "-CRLfile '%s/crl.pem' '%s/revoked.pem' 2>&1", tmpdir,
		    tmpdir, tmpdir);
		assert_non_null(strstr(out, "certificate revoked"));
		free(out);
	}
	X509_CRL_free(crl);
	crl = NULL;
	/* duplicates and bad serials are refused */
	rev[1].serial_hex = serial;
	assert_int_equal(hkms_x509_crl_build(ca, rev, 2, 6, 0, 0, &crl, &err),
	    HKMS_E_INVALID);
	rev[1].serial_hex = "-1";
	assert_int_equal(hkms_x509_crl_build(ca, rev, 2, 6, 0, 0, &crl, &err),
	    HKMS_E_INVALID);
	/* an empty CRL is fine; a leaf cannot issue CRLs */
	assert_int_equal(hkms_x509_crl_build(ca, NULL, 0, 7, 1, 0, &crl,
	    &err), HKMS_OK);
	X509_CRL_free(crl);
	crl = NULL;
	assert_int_equal(hkms_x509_crl_build(leaf, NULL, 0, 7, 1, 0, &crl,
	    &err), HKMS_E_POLICY);
	assert_code(&err, "not_a_ca");
	X509_free(leaf);
	X509_REQ_free(csr);
	X509_free(ca);
}

static void
test_crl_reason_parse(void **state)
{
	struct hkms_err err = { 0 };
	enum hkms_x509_crl_reason r;

	assert_int_equal(hkms_x509_crl_reason_parse("keyCompromise", &r,
	    &err), HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_KEY_COMPROMISE);
	assert_int_equal(hkms_x509_crl_reason_parse("key_compromise", &r,
	    &err), HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_KEY_COMPROMISE);
	assert_int_equal(hkms_x509_crl_reason_parse("CACOMPROMISE", &r, &err),
	    HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_CA_COMPROMISE);
	assert_int_equal(hkms_x509_crl_reason_parse("cessation-of-operation",
	    &r, &err), HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_CESSATION_OF_OPERATION);
	assert_int_equal(hkms_x509_crl_reason_parse("certificateHold", &r,
	    &err), HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_CERTIFICATE_HOLD);
	assert_int_equal(hkms_x509_crl_reason_parse("", &r, &err), HKMS_OK);
	assert_int_equal(r, HKMS_X509_REASON_UNSPECIFIED);
	assert_int_equal(hkms_x509_crl_reason_parse("removeFromCRL", &r,
	    &err), HKMS_E_INVALID);
	assert_int_equal(hkms_x509_crl_reason_parse("bored", &r, &err),
	    HKMS_E_INVALID);
	assert_string_equal(hkms_x509_crl_reason_name(
	    HKMS_X509_REASON_AFFILIATION_CHANGED), "affiliationChanged");
}

/* --- profiles ----------------------------------------------------- */

static void
test_profile_builtins(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_x509_profile *p = NULL, *q = NULL;
	char **names = NULL, *json = NULL, *json2 = NULL;
	size_t n = 0, i;

	assert_int_equal(hkms_x509_profile_list(NULL, &names, &n, &err),
	    HKMS_OK);
	assert_int_equal(n, 7);
	assert_string_equal(names[0], "tls-server");
	assert_null(names[7]);
	for (i = 0; i < n; i++) {
		assert_int_equal(hkms_x509_profile_get(names[i], NULL, &p,
		    &err), HKMS_OK);
		assert_true(hkms_x509_profile_builtin(p));
		/* to_json gives a valid custom profile with the same JSON */
		assert_int_equal(hkms_x509_profile_to_json(p, &json, &err),
		    HKMS_OK);
		if (hkms_x509_profile_from_json("copy", json, strlen(json),
		    &q, &err) != HKMS_OK)
			fail_msg("%s: %s", names[i], err.detail);
		assert_int_equal(hkms_x509_profile_to_json(q, &json2, &err),
		    HKMS_OK);
		assert_string_equal(json, json2);
		assert_int_equal(hkms_x509_profile_default_days(p),
		    hkms_x509_profile_default_days(q));
		free(json);
		free(json2);
		hkms_x509_profile_free(p);
		hkms_x509_profile_free(q);
	}
	hkms_x509_strv_free(names);
	p = profile("intermediate-ca");
	assert_true(hkms_x509_profile_is_ca(p));
	assert_int_equal(hkms_x509_profile_default_days(p), 1826);
	assert_false(hkms_x509_profile_allow_san_from_csr(p));
	hkms_x509_profile_free(p);
	p = profile("tls-client");
	assert_int_equal(hkms_x509_profile_default_days(p), 1826);
	hkms_x509_profile_free(p);
	assert_int_equal(hkms_x509_profile_get("nope", NULL, &p, &err),
	    HKMS_E_NOT_FOUND);
	assert_code(&err, "unknown_profile");
	assert_int_equal(hkms_x509_profile_get("../etc/passwd",
	    HKMS_X509_FIXTURES, &p, &err), HKMS_E_NOT_FOUND);
}

static void
test_profile_custom_json(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_x509_profile *p = NULL;
	char **names = NULL;
	size_t n = 0;
	X509 *ca = self_signed(k_p256, "ca", "/CN=CA", NULL, 0), *x = NULL;
	X509_REQ *csr = make_csr(k_p256, "/CN=w", "DNS:w.example,IP:10.0.0.9",
	    NULL);
	AUTHORITY_INFO_ACCESS *aia;
	CRL_DIST_POINTS *dps;
	EXTENDED_KEY_USAGE *eku;
	char oid[64];

	assert_int_equal(hkms_x509_profile_list(HKMS_X509_FIXTURES, &names,
	    &n, &err), HKMS_OK);
	assert_int_equal(n, 9);
	assert_string_equal(names[7], "doc-signer");
	assert_string_equal(names[8], "web-internal");
	hkms_x509_strv_free(names);

	p = profile("web-internal");
	assert_false(hkms_x509_profile_builtin(p));
	assert_int_equal(hkms_x509_profile_digest(p), HKMS_X509_SHA384);
	assert_int_equal(hkms_x509_profile_max_days(p), 180);
	hkms_x509_profile_free(p);
	assert_int_equal(issue(csr, ca, k_p256, "web-internal", NULL, &x,
	    &err), HKMS_OK);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
	assert_non_null(aia = X509_get_ext_d2i(x, NID_info_access, NULL,
	    NULL));
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
	assert_int_equal(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia,
	    0)->method), NID_ad_OCSP);
	AUTHORITY_INFO_ACCESS_free(aia);
	assert_non_null(dps = X509_get_ext_d2i(x, NID_crl_distribution_points,
	    NULL, NULL));
	assert_int_equal(sk_DIST_POINT_num(dps), 1);
	CRL_DIST_POINTS_free(dps);
	X509_free(x);

	/* private EKU OID, critical EKU, no SANs from the CSR */
	assert_int_equal(issue(csr, ca, k_p256, "doc-signer", NULL, &x, &err),
	    HKMS_OK);
	assert_true(ext_crit(x, NID_ext_key_usage));
	assert_int_equal(X509_get_ext_by_NID(x, NID_subject_alt_name, -1), -1);
	assert_int_equal(X509_get_key_usage(x),
	    KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, 0), 1);
	assert_string_equal(oid, "1.3.6.1.4.1.55555.1.1");
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	X509_free(x);
	X509_REQ_free(csr);
	X509_free(ca);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
test_profile_bad_files(void **state)
{
	static const struct {
		const char *json, *needle;
	} bad[] = {
		{ "{\"key_usages\": []}", "key_usages" },
		{ "{\"key_usage\": [\"digitalSig\"]}", "digitalSig" },
		{ "{\"extended_key_usage\": [\"serverAuthh\"]}",
		    "serverAuthh" },
		{ "{\"extended_key_usage\": [\"anyExtendedKeyUsage\"]}",
		    "anyExtendedKeyUsage" },
		{ "{\"basic_constraints\": {\"ca\": true, \"pathlen\": 1}}",
		    "basic_constraints.pathlen" },
		{ "{\"basic_constraints\": {\"ca\": true}, "
		    "\"key_usage\": [\"digitalSignature\"]}", "keyCertSign" },
		{ "{\"key_usage\": [\"keyCertSign\"]}", "keyCertSign" },
		{ "{\"default_days\": 0}", "default_days" },
		{ "{\"default_days\": \"397\"}", "default_days" },
		{ "{\"default_days\": 400, \"max_days\": 397}", "max_days" },
		{ "{\"ski\": 1}", "ski" },
		{ "{\"crl_distribution_points\": [\"ftp://x/crl\"]}",
		    "crl_distribution_points" },
		{ "{\"aia\": {\"ocsp\": [\"http://ocsp.example\"], "
		    "\"caIssuers\": []}}",
		    "aia.caIssuers" },
		{ "{\"san_types\": [\"dns\", \"x400\"]}", "x400" },
		{ "{\"digest\": \"sha1\"}", "sha1" },
		{ "{\"ski\": true, \"ski\": false}", "JSON" },
		{ "{\"ski\": true", "JSON" },
		{ "[]", "object" },
		{ NULL, NULL }
	};
	char dir[128];
	struct hkms_err err = { 0 };
	struct hkms_x509_profile *p = NULL;
	char **names = NULL;
	int i;

	snprintf(dir, sizeof(dir), "%s/profiles", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; bad[i].json != NULL; i++) {
		write_file(dir, "bad.json", bad[i].json);
		hkms_err_clear(&err);
		if (hkms_x509_profile_get("bad", dir, &p, &err) == HKMS_OK)
			fail_msg("accepted %s", bad[i].json);
		assert_null(p);
		if (strstr(err.detail, bad[i].needle) == NULL ||
		    strstr(err.detail, "bad.json") == NULL)
			fail_msg("'%s': detail '%s' lacks '%s'", bad[i].json,
			    err.detail, bad[i].needle);
	}
	assert_code(&err, "invalid_profile");
	/* a file may not take a built-in name */
	write_file(dir, "ca.json", "{}");
	assert_int_equal(hkms_x509_profile_list(dir, &names, NULL, &err),
	    HKMS_E_INVALID);
	assert_non_null(strstr(err.detail, "ca.json"));
	assert_int_equal(hkms_x509_profile_from_json("ca", "{}", 2, &p, &err),
	    HKMS_E_INVALID);
	/* the built-in wins over the file */
	assert_int_equal(hkms_x509_profile_get("ca", dir, &p, &err), HKMS_OK);
	assert_true(hkms_x509_profile_builtin(p));
	hkms_x509_profile_free(p);
	/* an empty object is a valid leaf profile with safe defaults */
	assert_int_equal(hkms_x509_profile_from_json("minimal", "{}", 2, &p,
	    &err), HKMS_OK);
	assert_false(hkms_x509_profile_is_ca(p));
	assert_int_equal(hkms_x509_profile_default_days(p), 397);
	hkms_x509_profile_free(p);
}

static void
test_self_signed_needs_subject(void **state)
{
	struct hkms_x509_profile *p = profile("tls-server");
	struct hkms_x509_cert_opts o = { .san = "DNS:a.example" };
	struct hkms_err err = { 0 };
	X509 *x = NULL;

	assert_int_equal(hkms_x509_cert_build(k_p256, NULL, p, &o, &x, &err),
	    HKMS_E_INVALID);
	assert_code(&err, "invalid_subject");
	o.subject = "/CN=ok";
	o.days = -1;
	assert_int_equal(hkms_x509_cert_build(k_p256, NULL, p, &o, &x, &err),
	    HKMS_E_INVALID);
	hkms_x509_profile_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_parse_good),
		cmocka_unit_test(test_name_parse_bad),
		cmocka_unit_test(test_name_check_embedded_nul),
		cmocka_unit_test(test_san_parse_good),
		cmocka_unit_test(test_san_parse_bad),
		cmocka_unit_test(test_san_check_embedded_nul),
		cmocka_unit_test(test_digest_parse),
		cmocka_unit_test(test_check_key),
		cmocka_unit_test(test_weak_key_refused_everywhere),
		cmocka_unit_test(test_csr_round_trip),
		cmocka_unit_test(test_csr_tampered_fails),
		cmocka_unit_test(test_csr_parse_bad),
		cmocka_unit_test(test_csr_key_decode),
		cmocka_unit_test(test_csr_point_form_cert),
		cmocka_unit_test(test_csr_explicit_curve),
		cmocka_unit_test(test_self_signed_tls_server_exact_extensions),
		cmocka_unit_test(test_self_signed_ca),
		cmocka_unit_test(test_csr_cannot_request_ca_powers),
		cmocka_unit_test(test_issue_rejects_bad_csr_names),
		cmocka_unit_test(test_chain_verifies),
		cmocka_unit_test(
		    test_intermediate_path_len_and_name_constraints),
		cmocka_unit_test(test_dns_check_edges),
		cmocka_unit_test(test_cidr_parse_edges),
		cmocka_unit_test(test_nc_dns_match),
		cmocka_unit_test(test_nc_check_matches_verifier),
		cmocka_unit_test(test_serial_properties),
		cmocka_unit_test(test_lifetime_clamp_and_error),
		cmocka_unit_test(test_crl_two_entries),
		cmocka_unit_test(test_crl_reason_parse),
		cmocka_unit_test(test_profile_builtins),
		cmocka_unit_test(test_profile_custom_json),
		cmocka_unit_test(test_profile_bad_files),
		cmocka_unit_test(test_self_signed_needs_subject),
	};

	return cmocka_run_group_tests_name("x509", tests, setup, teardown);
}
