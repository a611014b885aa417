/*
 * Unit tests of the clients' routes (src/http/routes_clients.c), called
 * directly with a made-up request (no socket) on a real SoftHSM2 token
 * made by the init operation: generate (the PKCS#12 opens with the
 * passphrase), list, show (a user its own only), edit, add (base64 DER and
 * PEM; a registered thumbprint refused), delete, strict bodies
 * (unknown_field, invalid_field, bad JSON) and clearance.
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
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "http_int.h"

static char tmpdir[256];
static struct hkms_config *cfg;
static struct hkms_service *svc;

static int
group_setup(void **state)
{
	struct hkms_ops_init_req req = { NULL, "unit-rtc", "unit:test", 0, NULL };
	struct hkms_err err = { 0 };
	char dir[300], cfgpath[400];
	json_t *out = NULL;

	(void)state;
	hkms_secret_process_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hkms-unit-rtc.XXXXXX");
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
	    hkms_service_open(cfg, NULL, &svc, &err) != HKMS_OK)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	hkms_service_close(svc);
	hkms_config_free(cfg);
	hkms_secret_env_release();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct hkms_http_route *
route(const char *method, const char *pattern)
{
	size_t i;

	for (i = 0; hkms_http_routes_clients[i].method != NULL; i++)
		if (strcmp(hkms_http_routes_clients[i].method, method) == 0 &&
		    strcmp(hkms_http_routes_clients[i].pattern, pattern) == 0)
			return &hkms_http_routes_clients[i];
	fail_msg("no route %s %s", method, pattern);
	return NULL;
}

static struct hkms_principal admin, oper;

/* Call a handler; *body (may be NULL) is the parsed JSON response. */
static int
call(const struct hkms_principal *p, const char *method, const char *pattern,
    const char *param, const char *body, json_t **out)
{
	const struct hkms_http_route *r = route(method, pattern);
	struct hkms_http_req req;
	struct hkms_http_resp resp;
	int st;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = method;
	req.path = pattern;
	req.svc = svc;
	req.principal = p;
	req.actor = "client:unit";
	req.body = (const unsigned char *)body;
	req.body_len = body ? strlen(body) : 0;
	if (param != NULL) {
		req.params[0] = param;
		req.nparams = 1;
	}
	r->fn(&req, &resp);
	st = resp.status;
	if (out != NULL)
		*out = json_loadb((const char *)resp.body, resp.body_len, 0,
		    NULL);
	hkms_http_resp_free(&resp);
	return st;
}

static const char *
err_code(json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "error"),
	    "code"));
}

static void
principal(struct hkms_principal *p, const char *name, enum hkms_clearance c)
{
	memset(p, 0, sizeof(*p));
	p->kind = HKMS_PRINCIPAL_CLIENT;
	p->name = name;
	p->clearance = c;
}

static void
test_client_routes(void **state)
{
	struct hkms_principal self;
	json_t *o = NULL, *reg;
	const char *b64;
	unsigned char *p12, *der = NULL;
	const unsigned char *pp;
	size_t n;
	PKCS12 *pk;
	EVP_PKEY *key = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *cas = NULL;
	char body[8192];
	int dl;

	(void)state;
	principal(&admin, "adm", HKMS_CLEARANCE_ADMIN);
	principal(&oper, "ops", HKMS_CLEARANCE_OPERATOR);

	/* generate: registration and the PKCS#12, once */
	assert_int_equal(call(&admin, "POST", "/v1/clients/generate", NULL,
	    "{\"name\":\"g1\",\"clearance\":\"user\",\"ca\":\"hkms-clients\","
	    "\"passphrase\":\"unit passphrase\",\"permissions\":[{\"ca\":"
	    "\"hkms-clients\",\"profiles\":[\"tls-client\"]}]}", &o), 201);
	reg = json_object_get(o, "registration");
	assert_string_equal(json_string_value(json_object_get(reg, "name")),
	    "g1");
	assert_string_equal(json_string_value(json_object_get(reg,
	    "clearance")), "user");
	b64 = json_string_value(json_object_get(o, "p12_base64"));
	assert_non_null(b64);
	n = strlen(b64);
	p12 = malloc(n);
	dl = EVP_DecodeBlock(p12, (const unsigned char *)b64, (int)n);
	assert_true(dl > 0);
	pp = p12;
	pk = d2i_PKCS12(NULL, &pp, dl);
	assert_non_null(pk);
	assert_int_equal(PKCS12_parse(pk, "unit passphrase", &key, &leaf,
	    &cas), 1);
	assert_non_null(leaf);
	json_decref(o);

	/* strict bodies */
	assert_int_equal(call(&admin, "POST", "/v1/clients/generate", NULL,
	    "{\"name\":\"g2\",\"clearance\":\"user\",\"ca\":\"hkms-clients\","
	    "\"passphrase\":\"unit passphrase\",\"colour\":1}", &o), 400);
	assert_string_equal(err_code(o), "unknown_field");
	json_decref(o);
	assert_int_equal(call(&admin, "POST", "/v1/clients", NULL,
	    "{\"name\":\"g2\",\"clearance\":5,\"certificate\":\"x\"}", &o),
	    400);
	assert_string_equal(err_code(o), "invalid_field");
	json_decref(o);
	assert_int_equal(call(&admin, "PATCH", "/v1/clients/{name}", "g1",
	    "{\"permissions\":[{\"ca\":\"root\",\"x\":1}]}", &o), 400);
	assert_string_equal(err_code(o), "unknown_field");
	json_decref(o);
	assert_int_equal(call(&admin, "PATCH", "/v1/clients/{name}", "g1",
	    "{\"require_2fa\":\"yes\"}", &o), 400);
	assert_string_equal(err_code(o), "invalid_field");
	json_decref(o);
	assert_int_equal(call(&admin, "POST", "/v1/clients", NULL, "{\"name\":",
	    &o), 400);
	json_decref(o);

	/* list; show: a user may read its own registration only */
	assert_int_equal(call(&admin, "GET", "/v1/clients", NULL, NULL, &o),
	    200);
	assert_int_equal(json_array_size(o), 2);	/* admin and g1 */
	json_decref(o);
	principal(&self, "g1", HKMS_CLEARANCE_USER);
	assert_int_equal(call(&self, "GET", "/v1/clients/{name}", "g1", NULL,
	    &o), 200);
	json_decref(o);
	assert_int_equal(call(&self, "GET", "/v1/clients/{name}", "admin",
	    NULL, &o), 403);
	assert_string_equal(err_code(o), "clearance_too_low");
	json_decref(o);
	assert_int_equal(call(&oper, "GET", "/v1/clients", NULL, NULL, &o),
	    403);
	json_decref(o);

	/* edit */
	assert_int_equal(call(&admin, "PATCH", "/v1/clients/{name}", "g1",
	    "{\"clearance\":\"operator\",\"require_2fa\":true}", &o), 200);
	assert_string_equal(json_string_value(json_object_get(o,
	    "clearance")), "operator");
	assert_true(json_is_true(json_object_get(o, "require_2fa")));
	json_decref(o);

	/* add: the same certificate again (base64 DER) is refused */
	n = (size_t)i2d_X509(leaf, &der);
	{
		char *enc = malloc((n + 2) / 3 * 4 + 1);

		EVP_EncodeBlock((unsigned char *)enc, der, (int)n);
		snprintf(body, sizeof(body), "{\"name\":\"g3\",\"clearance\":"
		    "\"user\",\"certificate\":\"%s\"}", enc);
		free(enc);
	}
	assert_int_equal(call(&admin, "POST", "/v1/clients", NULL, body, &o),
	    409);
	assert_string_equal(err_code(o), "thumbprint_registered");
	json_decref(o);
	/* by an operator: refused before anything */
	assert_int_equal(call(&oper, "POST", "/v1/clients", NULL, body, &o),
	    403);
	json_decref(o);

	/* delete, then the name is gone and the certificate can be added */
	assert_int_equal(call(&admin, "DELETE", "/v1/clients/{name}", "g1",
	    NULL, &o), 200);
	json_decref(o);
	assert_int_equal(call(&admin, "GET", "/v1/clients/{name}", "g1", NULL,
	    &o), 404);
	assert_string_equal(err_code(o), "client_not_found");
	json_decref(o);
	assert_int_equal(call(&admin, "POST", "/v1/clients", NULL, body, &o),
	    201);
	assert_string_equal(json_string_value(json_object_get(o, "name")),
	    "g3");
	json_decref(o);

	/* the route table: every clients route is admin, as its operation
	 * (client.show lets any client read its own registration) */
	assert_string_equal(route("GET", "/v1/clients/{name}")->clearance,
	    "admin");
	assert_string_equal(route("POST", "/v1/clients")->clearance, "admin");

	OPENSSL_free(der);
	free(p12);
	PKCS12_free(pk);
	EVP_PKEY_free(key);
	X509_free(leaf);
	sk_X509_pop_free(cas, X509_free);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_routes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
