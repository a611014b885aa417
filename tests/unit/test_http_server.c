/*
 * Unit tests of the server's token side on a real SoftHSM2 token: the
 * handshake signatures (hkms_service_tls_sign: ECDSA, RSA PKCS#1 v1.5 and
 * PSS) verify with the key's public half; the service certificate is
 * made once and its key is the token's; health and metrics answer through
 * the route table (metrics refuses a user client); a sealed service
 * (no PIN file) stays sealed after a wrong PIN and opens with the right
 * one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "http_int.h"
#include "server_int.h"

static char tmpdir[256];
static char cfgpath[320];
static struct hkms_config *cfg;
static struct hkms_service *svc;
static struct hkms_principal local;

static int
group_setup(void **state)
{
	struct hkms_ops_init_req req = { NULL, "unit-http", "unit:test", 1, NULL };
	struct hkms_service_opts o = { "unit:test", 0, 0, 1, 1 };
	struct hkms_err err = { 0 };
	char dir[300];
	json_t *out = NULL;

	(void)state;
	hkms_secret_process_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hkms-unit-http.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/data", tmpdir);
	req.data_dir = dir;
	if (hkms_ops_init(&req, &out, &err) != HKMS_OK) {
		fprintf(stderr, "init: %s\n", err.detail);
		return -1;
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s",
	    json_string_value(json_object_get(out, "config")));
	json_decref(out);
	if (hkms_config_load(cfgpath, &cfg, &err) != HKMS_OK ||
	    hkms_service_open(cfg, &o, &svc, &err) != HKMS_OK) {
		fprintf(stderr, "open: %s\n", err.detail);
		return -1;
	}
	hkms_principal_local(&local, "unit");
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	srv_tls_free();
	hkms_service_close(svc);
	hkms_config_free(cfg);
	hkms_secret_env_release();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static EVP_PKEY *
make_key(const char *name, const char *type)
{
	struct hkms_ops_ctx c;
	struct hkms_err err = { 0 };
	json_t *k = NULL;
	EVP_PKEY *pub;
	BIO *b;

	assert_int_equal(hkms_service_ctx(svc, &local, "unit:test",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err),
	    HKMS_OK);
	assert_int_equal(hkms_ops_key_generate(&c, name, type, &k, &err),
	    HKMS_OK);
	json_decref(k);
	assert_int_equal(hkms_ops_key_show(&c, name, &k, &err), HKMS_OK);
	b = BIO_new_mem_buf(json_string_value(json_object_get(k,
	    "public_key_pem")), -1);
	pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	json_decref(k);
	assert_non_null(pub);
	return pub;
}

static int
verify(EVP_PKEY *pub, int scheme, const EVP_MD *md, const unsigned char *dg,
    size_t dlen, const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(pub, NULL);
	int ok;

	ok = p != NULL && EVP_PKEY_verify_init(p) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(p, md) > 0;
	if (ok && scheme == HKMS_TLS_SIGN_RSA_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) >
		    0 && EVP_PKEY_CTX_set_rsa_pss_saltlen(p,
		    RSA_PSS_SALTLEN_DIGEST) > 0;
	else if (ok && scheme == HKMS_TLS_SIGN_RSA_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PADDING) > 0;
	ok = ok && EVP_PKEY_verify(p, sig, siglen, dg, dlen) == 1;
	EVP_PKEY_CTX_free(p);
	return ok;
}

static void
sign_check(const char *key, EVP_PKEY *pub, int scheme, const char *dname)
{
	const EVP_MD *md = EVP_get_digestbyname(dname);
	struct hkms_err err = { 0 };
	unsigned char dg[64], sig[1024];
	size_t siglen = sizeof(sig), dlen = (size_t)EVP_MD_get_size(md);

	assert_int_equal(RAND_bytes(dg, (int)dlen), 1);
	assert_int_equal(hkms_service_tls_sign(svc, key, scheme, dname, dg,
	    dlen, sig, &siglen, &err), HKMS_OK);
	assert_true(verify(pub, scheme, md, dg, dlen, sig, siglen));
	/* a flipped digest does not verify */
	dg[0] ^= 1;
	assert_false(verify(pub, scheme, md, dg, dlen, sig, siglen));
}

static void
test_tls_sign(void **state)
{
	struct hkms_err err = { 0 };
	unsigned char dg[32] = { 0 }, sig[1024];
	size_t siglen = sizeof(sig);
	EVP_PKEY *ec, *rsa;

	(void)state;
	ec = make_key("tls-ec", "ec:p256");
	rsa = make_key("tls-rsa", "rsa:2048");
	sign_check("tls-ec", ec, HKMS_TLS_SIGN_ECDSA, "sha256");
	sign_check("tls-ec", ec, HKMS_TLS_SIGN_ECDSA, "sha384");
	sign_check("tls-rsa", rsa, HKMS_TLS_SIGN_RSA_PSS, "sha256");
	sign_check("tls-rsa", rsa, HKMS_TLS_SIGN_RSA_PSS, "sha512");
	sign_check("tls-rsa", rsa, HKMS_TLS_SIGN_RSA_PKCS1, "sha256");
	sign_check("tls-rsa", rsa, HKMS_TLS_SIGN_RSA_PKCS1, "sha384");
	/* a scheme that does not fit the key, a wrong digest length */
	assert_int_equal(hkms_service_tls_sign(svc, "tls-ec",
	    HKMS_TLS_SIGN_RSA_PSS, "sha256", dg, 32, sig, &siglen, &err),
	    HKMS_E_INVALID);
	siglen = sizeof(sig);
	assert_int_equal(hkms_service_tls_sign(svc, "tls-ec",
	    HKMS_TLS_SIGN_ECDSA, "sha384", dg, 32, sig, &siglen, &err),
	    HKMS_E_INVALID);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

static const struct hkms_http_route *
route(const char *method, const char *pattern)
{
	const struct hkms_http_route *r;

	for (r = hkms_http_routes_server; r->method != NULL; r++)
		if (strcmp(r->method, method) == 0 &&
		    strcmp(r->pattern, pattern) == 0)
			return r;
	fail_msg("no route %s %s", method, pattern);
	return NULL;
}

static void
call(const char *method, const char *pattern, enum hkms_clearance cl,
    struct hkms_http_resp *resp)
{
	struct hkms_principal p;
	struct hkms_http_req req;

	memset(&p, 0, sizeof(p));
	p.kind = HKMS_PRINCIPAL_CLIENT;
	p.name = "unit-client";
	p.clearance = cl;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = pattern;
	req.svc = svc;
	req.principal = &p;
	req.actor = "client:unit";
	memset(resp, 0, sizeof(*resp));
	route(method, pattern)->fn(&req, resp);
}

static void
test_service_cert_health_metrics(void **state)
{
	const struct hkms_http_route *h = route("GET", "/v1/health");
	struct hkms_http_resp resp;
	struct hkms_err err = { 0 };
	int changed = 0;
	char *body;

	(void)state;
	assert_true(h->flags & HKMS_ROUTE_PUBLIC);
	assert_true(h->flags & HKMS_ROUTE_SEALED_OK);
	assert_false(route("GET", "/metrics")->flags & HKMS_ROUTE_PUBLIC);
	/* health before a certificate is loaded: the token part fails */
	call("GET", "/v1/health", HKMS_CLEARANCE_NONE, &resp);
	assert_int_equal(resp.status, 503);
	hkms_http_resp_free(&resp);
	/* first load makes it, the second changes nothing */
	assert_int_equal(srv_tls_load(svc, &changed, &err), HKMS_OK);
	assert_true(changed);
	assert_non_null(srv_tls_current());
	assert_string_equal(srv_tls_current()->key_name, HKMS_SERVICE_CERT);
	assert_int_equal(srv_tls_current()->pk, GNUTLS_PK_ECDSA);
	assert_int_equal(srv_tls_current()->bits, 256);
	assert_int_equal(srv_tls_load(svc, &changed, &err), HKMS_OK);
	assert_false(changed);
	call("GET", "/v1/health", HKMS_CLEARANCE_NONE, &resp);
	assert_int_equal(resp.status, 200);
	body = strndup((char *)resp.body, resp.body_len);
	assert_non_null(strstr(body, "\"status\":\"ok\""));
	free(body);
	hkms_http_resp_free(&resp);
	/* metrics: operator yes, user no */
	srv_metrics_request("GET", "/v1/health", 200, 0.003);
	srv_metrics_sign(0.002, 1);
	call("GET", "/metrics", HKMS_CLEARANCE_OPERATOR, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.content_type, "version=0.0.4"));
	body = strndup((char *)resp.body, resp.body_len);
	assert_non_null(strstr(body, "hkms_http_requests_total{method=\"GET\","
	    "route=\"/v1/health\",status=\"200\"} 1\n"));
	assert_non_null(strstr(body, "hkms_http_request_duration_seconds_"
	    "bucket{le=\"0.005\"} 1\n"));
	assert_non_null(strstr(body, "hkms_tls_sign_duration_seconds_count"));
	assert_non_null(strstr(body, "hkms_token_rebuilds_total 0\n"));
	assert_non_null(strstr(body, "hkms_group_commit_batch_size_count"));
	assert_non_null(strstr(body, "hkms_clients{clearance=\"admin\"}"));
	assert_non_null(strstr(body, "hkms_operations_total{op=\"cert."
	    "self_sign\",result=\"ok\"} 1\n"));
	free(body);
	hkms_http_resp_free(&resp);
	call("GET", "/metrics", HKMS_CLEARANCE_USER, &resp);
	assert_int_equal(resp.status, 403);
	hkms_http_resp_free(&resp);
}

static void
test_sealed_unseal(void **state)
{
	struct hkms_service_opts o = { "unit:test", 0, 0, 1, 1 };
	struct hkms_config *c2 = NULL;
	struct hkms_service *s2 = NULL;
	struct hkms_secret *pin = NULL, *bad = NULL;
	struct hkms_err err = { 0 };
	char saved[400];

	(void)state;
	assert_int_equal(hkms_config_load(cfgpath, &c2, &err), HKMS_OK);
	assert_int_equal(hkms_secret_from_file(c2->pin_file, "PIN", &pin,
	    &err), HKMS_OK);
	/* no PIN file: sealed */
	snprintf(saved, sizeof(saved), "%s.saved", c2->pin_file);
	assert_int_equal(rename(c2->pin_file, saved), 0);
	assert_int_equal(hkms_service_open(c2, &o, &s2, &err), HKMS_OK);
	assert_true(hkms_service_sealed(s2));
	assert_int_equal(hkms_secret_new("00000000", 8, &bad, &err), HKMS_OK);
	assert_int_equal(hkms_service_unseal(s2, bad, &err), HKMS_E_PIN);
	assert_true(hkms_service_sealed(s2));
	assert_int_equal(hkms_service_unseal(s2, pin, &err), HKMS_OK);
	assert_false(hkms_service_sealed(s2));
	assert_true(hkms_service_hsm_open(s2));
	assert_int_equal(hkms_service_unseal(s2, pin, &err), HKMS_E_EXISTS);
	assert_string_equal(hkms_err_code(&err), "not_sealed");
	hkms_service_close(s2);
	assert_int_equal(rename(saved, c2->pin_file), 0);
	hkms_secret_free(pin);
	hkms_secret_free(bad);
	hkms_config_free(c2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: its own service opens and closes the token before
		 * the shared one does */
		cmocka_unit_test(test_sealed_unseal),
		cmocka_unit_test(test_tls_sign),
		cmocka_unit_test(test_service_cert_health_metrics),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
