/*
 * Unit tests of the path rules (src/x509/pathrules.c, issue 14b) on
 * chains made here with OpenSSL: the rules the client-certificate check
 * (src/ops/clients.c) runs with purpose client and profile rfc5280, the
 * profile defaults and names, and the rule names of OpenSSL's errors.
 * The full matrix, one chain per rule under both profiles and against
 * Go's verifier, is tests/e2e/trust_pathrules.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"

static X509 *
mk(EVP_PKEY *k, const char *cn, X509 *iss, EVP_PKEY *ik, long serial,
    const char *const *ext)
{
	X509 *x = X509_new();
	X509V3_CTX v;
	X509_EXTENSION *e;
	char buf[256], *val;
	size_t i;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) :
	    X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&v, iss ? iss : x, x, NULL, NULL, 0);
	for (i = 0; ext[i] != NULL; i++) {
		snprintf(buf, sizeof(buf), "%s", ext[i]);
		val = strchr(buf, '=');
		assert_non_null(val);
		*val++ = '\0';
		e = X509V3_EXT_nconf(NULL, &v, buf, val);
		assert_non_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, ik ? ik : k, EVP_sha256()) > 0);
	return x;
}

static const char *const ca_ext[] = { "basicConstraints=critical,CA:TRUE",
	"keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash",
	NULL };

/* rules over leaf <- root (both borrowed) */
static const char *
rules(X509 *leaf, X509 *root, enum hkms_certio_profile p,
    enum hkms_certio_purpose u, int *depth)
{
	STACK_OF(X509) *ch = sk_X509_new_null();
	char msg[200];
	const char *r;

	sk_X509_push(ch, leaf);
	sk_X509_push(ch, root);
	r = hkms_certio_path_rules(ch, p, u, NULL, 0, depth, msg,
	    sizeof(msg));
	if (r != NULL)
		assert_true(msg[0] != '\0');
	sk_X509_free(ch);
	return r;
}

static void
test_path_rules_client(void **state)
{
	static const char *const client[] = {
		"basicConstraints=critical,CA:FALSE",
		"keyUsage=critical,digitalSignature",
		"extendedKeyUsage=clientAuth", "subjectKeyIdentifier=hash",
		"authorityKeyIdentifier=keyid", NULL };
	static const char *const server_only[] = {
		"basicConstraints=critical,CA:FALSE",
		"keyUsage=critical,digitalSignature",
		"extendedKeyUsage=serverAuth",
		"authorityKeyIdentifier=keyid", NULL };
	static const char *const no_aki[] = {
		"basicConstraints=critical,CA:FALSE",
		"extendedKeyUsage=clientAuth", NULL };
	EVP_PKEY *rk = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	X509 *root, *ok, *neg, *srv, *w, *na;
	int depth = -1;

	(void)state;
	root = mk(rk, "root", NULL, NULL, 1, ca_ext);
	ok = mk(lk, "client", root, rk, 2, client);
	neg = mk(lk, "negative", root, rk, -5, client);
	srv = mk(lk, "server", root, rk, 3, server_only);
	w = mk(weak, "weak", root, rk, 4, client);
	na = mk(lk, "no aki", root, rk, 5, no_aki);

	assert_null(rules(ok, root, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth));
	/* rfc5280 takes a negative serial "gracefully", webpki does not */
	assert_null(rules(neg, root, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth));
	assert_string_equal(rules(neg, root, HKMS_CERTIO_PROFILE_WEBPKI,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth), "serial_number");
	assert_int_equal(depth, 0);
	assert_string_equal(rules(srv, root, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth), "eku_purpose");
	/* OpenSSL's default level 1 takes RSA-1024; the rules do not */
	assert_string_equal(rules(w, root, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth), "weak_key");
	assert_string_equal(rules(na, root, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth), "authority_key_identifier");
	/* the openssl profile runs no rule */
	assert_null(rules(w, root, HKMS_CERTIO_PROFILE_OPENSSL,
	    HKMS_CERTIO_PURPOSE_CLIENT, &depth));
	X509_free(root);
	X509_free(ok);
	X509_free(neg);
	X509_free(srv);
	X509_free(w);
	X509_free(na);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(weak);
}

static void
test_path_rules_max_depth(void **state)
{
	static const char *const leaf_ext[] = {
		"basicConstraints=critical,CA:FALSE",
		"authorityKeyIdentifier=keyid", NULL };
	static const char *const sub_ext[] = {
		"basicConstraints=critical,CA:TRUE",
		"keyUsage=critical,keyCertSign", "subjectKeyIdentifier=hash",
		"authorityKeyIdentifier=keyid", NULL };
	EVP_PKEY *rk = EVP_EC_gen("P-256"), *ik = EVP_EC_gen("P-256");
	EVP_PKEY *lk = EVP_EC_gen("P-256");
	X509 *root = mk(rk, "root", NULL, NULL, 1, ca_ext);
	X509 *in = mk(ik, "inter", root, rk, 2, sub_ext);
	X509 *leaf = mk(lk, "leaf", in, ik, 3, leaf_ext);
	STACK_OF(X509) *ch = sk_X509_new_null();
	char msg[200];
	int depth = 0;

	(void)state;
	sk_X509_push(ch, leaf);
	sk_X509_push(ch, in);
	sk_X509_push(ch, root);
	assert_null(hkms_certio_path_rules(ch, HKMS_CERTIO_PROFILE_RFC5280,
	    HKMS_CERTIO_PURPOSE_ANY, NULL, 2, &depth, msg, sizeof(msg)));
	assert_string_equal(hkms_certio_path_rules(ch,
	    HKMS_CERTIO_PROFILE_RFC5280, HKMS_CERTIO_PURPOSE_ANY, NULL, 1,
	    &depth, msg, sizeof(msg)), "max_depth");
	assert_int_equal(depth, 2);
	sk_X509_free(ch);
	X509_free(leaf);
	X509_free(in);
	X509_free(root);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
}

static void
test_profile_parse(void **state)
{
	enum hkms_certio_profile p;
	struct hkms_err err = { 0 };

	(void)state;
	assert_int_equal(hkms_certio_profile_parse(NULL,
	    HKMS_CERTIO_PURPOSE_SERVER, &p, &err), HKMS_OK);
	assert_int_equal(p, HKMS_CERTIO_PROFILE_WEBPKI);
	assert_int_equal(hkms_certio_profile_parse("", HKMS_CERTIO_PURPOSE_CLIENT,
	    &p, &err), HKMS_OK);
	assert_int_equal(p, HKMS_CERTIO_PROFILE_RFC5280);
	assert_int_equal(hkms_certio_profile_parse("webpki",
	    HKMS_CERTIO_PURPOSE_ANY, &p, &err), HKMS_OK);
	assert_int_equal(p, HKMS_CERTIO_PROFILE_WEBPKI);
	assert_int_equal(hkms_certio_profile_parse("lax",
	    HKMS_CERTIO_PURPOSE_ANY, &p, &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_profile");
	assert_string_equal(hkms_certio_profile_name(
	    HKMS_CERTIO_PROFILE_RFC5280), "rfc5280");
	assert_int_equal(hkms_certio_profile_max_depth(
	    HKMS_CERTIO_PROFILE_WEBPKI), 7);
	assert_string_equal(hkms_certio_openssl_rule(
	    X509_V_ERR_CA_BCONS_NOT_CRITICAL), "ca_basic_constraints_critical");
	assert_string_equal(hkms_certio_openssl_rule(
	    X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER),
	    "authority_key_identifier");
	assert_string_equal(hkms_certio_openssl_rule(X509_V_ERR_UNSPECIFIED),
	    "openssl");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_rules_client),
		cmocka_unit_test(test_path_rules_max_depth),
		cmocka_unit_test(test_profile_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
