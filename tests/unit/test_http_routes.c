/*
 * Unit tests of the HTTPS face's routes (src/http/routes*.c, body.c)
 * without a socket: hkms_http_route_match and hkms_http_dispatch on a
 * real SoftHSM2 token service (made by the init operation) with the local
 * admin principal. A key, a CA, a CSR made with OpenSSL and signed over
 * the sign route (the result verifies with the CA certificate of the
 * public route), the export formats (by ?format= and by Accept), a CRL
 * (DER over the public route, listing a revoked serial), the truststore
 * (import, list, verify a chain), profiles and audit pages; and the
 * errors: malformed JSON, wrong types, unknown fields, missing fields,
 * the wrong media type, unknown route (404), wrong method (405), a {name}
 * with %2F, and a handler that answers nothing (500). The memcheck
 * variant (unit_http_routes_memcheck) runs the same binary under
 * valgrind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "http_int.h"
#include "routes_int.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"

static char tmpdir[256];
static struct hkms_config *cfg;
static struct hkms_service *svc;
static struct hkms_principal admin;

struct call {
	struct hkms_http_req req;
	struct hkms_http_resp resp;
	struct hkms_http_query q[4];
	json_t *json;		/* the answer, parsed when JSON */
	int known;
	const struct hkms_http_route *route;
};

static int
group_setup(void **state)
{
	struct hkms_ops_init_req req = { NULL, "unit-http", "unit:test", 1, NULL };
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
		fprintf(stderr, "init: %s: %s\n", hkms_err_code(&err),
		    err.detail);
		return -1;
	}
	if (hkms_config_load(json_string_value(json_object_get(out,
	    "config")), &cfg, &err) != HKMS_OK) {
		fprintf(stderr, "config: %s\n", err.detail);
		json_decref(out);
		return -1;
	}
	json_decref(out);
	setenv("HKMS_TOKEN_BACKOFF_MAX", "0", 1);
	if (hkms_service_open(cfg, NULL, &svc, &err) != HKMS_OK) {
		fprintf(stderr, "service: %s\n", err.detail);
		return -1;
	}
	hkms_principal_local(&admin, "tester");
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

static void
call_free(struct call *c)
{
	hkms_http_resp_free(&c->resp);
	json_decref(c->json);
	memset(c, 0, sizeof(*c));
}

/* method path[?k=v&k2=v2] with an optional JSON body (ctype NULL =
 * application/json) and Accept header; returns the status (0 when no
 * route: c->known says 404 or 405) */
static int
call_ex(struct call *c, const char *method, const char *target,
    const char *body, const char *ctype, const char *accept)
{
	static char pathbuf[512], qbuf[256];
	char *qs, *kv, *save = NULL, *eq;

	memset(c, 0, sizeof(*c));
	snprintf(pathbuf, sizeof(pathbuf), "%s", target);
	if ((qs = strchr(pathbuf, '?')) != NULL) {
		*qs++ = '\0';
		snprintf(qbuf, sizeof(qbuf), "%s", qs);
		for (kv = strtok_r(qbuf, "&", &save); kv != NULL &&
		    c->req.nquery < 4; kv = strtok_r(NULL, "&", &save)) {
			if ((eq = strchr(kv, '=')) != NULL)
				*eq++ = '\0';
			c->q[c->req.nquery].key = kv;
			c->q[c->req.nquery++].value = eq ? eq : "";
		}
	}
	c->req.method = method;
	c->req.path = pathbuf;
	c->req.query = c->q;
	c->req.accept = accept;
	c->req.content_type = body ? (ctype ? ctype : "application/json") :
	    NULL;
	c->req.body = (const unsigned char *)body;
	c->req.body_len = body ? strlen(body) : 0;
	c->req.svc = svc;
	c->req.principal = &admin;
	c->req.actor = "unit:http";
	c->route = hkms_http_route_match(method, pathbuf, &c->req, &c->known);
	if (c->route == NULL)
		return 0;
	hkms_http_dispatch(c->route, &c->req, &c->resp);
	if (c->resp.body != NULL && strcmp(c->resp.content_type,
	    "application/json") == 0)
		c->json = json_loadb((const char *)c->resp.body,
		    c->resp.body_len, 0, NULL);
	return c->resp.status;
}

static int
call(struct call *c, const char *method, const char *target, const char *body)
{
	return call_ex(c, method, target, body, NULL, NULL);
}

static const char *
err_code(const struct call *c)
{
	return json_string_value(json_object_get(json_object_get(c->json,
	    "error"), "code"));
}

static const char *
err_msg(const struct call *c)
{
	return json_string_value(json_object_get(json_object_get(c->json,
	    "error"), "message"));
}

static X509 *
pem_cert(const void *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

/* a PEM CSR for a new EC key, as a client would make it */
static char *
make_csr(const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	X509_REQ_sign(r, k, EVP_sha256());
	PEM_write_bio_X509_REQ(b, r);
	len = BIO_get_mem_data(b, &p);
	out = malloc((size_t)len + 1);
	memcpy(out, p, (size_t)len);
	out[len] = '\0';
	BIO_free(b);
	X509_NAME_free(n);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return out;
}

/* {"<k>": "<pem>", ...}: the PEM as a JSON string */
static char *
body_with(const char *fmt_json, const char *field, const char *pem)
{
	json_t *o = json_loads(fmt_json, 0, NULL);
	char *s;

	json_object_set_new(o, field, json_string(pem));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ---- matching ---- */

static void
test_match(void **state)
{
	struct hkms_http_req req;
	const struct hkms_http_route *r;
	int known;

	(void)state;
	memset(&req, 0, sizeof(req));
	r = hkms_http_route_match("GET", "/v1/keys/web%2Dkey", &req, &known);
	assert_non_null(r);
	assert_string_equal(r->pattern, "/v1/keys/{name}");
	assert_int_equal(req.nparams, 1);
	assert_string_equal(req.params[0], "web-key");

	r = hkms_http_route_match("GET", "/v1/cas/root/issued/0A1B", &req,
	    &known);
	assert_non_null(r);
	assert_int_equal(req.nparams, 2);
	assert_string_equal(req.params[0], "root");
	assert_string_equal(req.params[1], "0A1B");

	/* the literal wins over {name}: /v1/keys/import is its own route */
	r = hkms_http_route_match("POST", "/v1/keys/import", &req, &known);
	assert_non_null(r);
	assert_string_equal(r->pattern, "/v1/keys/import");

	/* a suffix after {name} in one segment */
	r = hkms_http_route_match("GET", "/crl/root.crl", &req, &known);
	assert_non_null(r);
	assert_true(r->flags & HKMS_ROUTE_PUBLIC);
	assert_string_equal(req.params[0], "root");
	assert_null(hkms_http_route_match("GET", "/crl/.crl", &req, &known));
	assert_null(hkms_http_route_match("GET", "/crl/root.pem", &req,
	    &known));

	/* unknown route: 404 */
	assert_null(hkms_http_route_match("GET", "/v1/nothing", &req, &known));
	assert_false(known);
	assert_null(hkms_http_route_match("GET", "/v1/keys/", &req, &known));
	assert_false(known);
	assert_null(hkms_http_route_match("GET", "/v1/keys/a/b/c", &req,
	    &known));
	assert_false(known);
	assert_null(hkms_http_route_match("GET", "v1/keys", &req, &known));

	/* wrong method: 405 */
	assert_null(hkms_http_route_match("PUT", "/v1/keys", &req, &known));
	assert_true(known);
	assert_null(hkms_http_route_match("POST", "/v1/keys/x", &req, &known));
	assert_true(known);

	/* a {name} decoding to '/', NUL or nothing, or a bad escape */
	assert_null(hkms_http_route_match("GET", "/v1/keys/a%2Fb", &req,
	    &known));
	assert_false(known);
	assert_null(hkms_http_route_match("GET", "/v1/keys/a%2fb", &req,
	    &known));
	assert_null(hkms_http_route_match("GET", "/v1/keys/a%00b", &req,
	    &known));
	assert_null(hkms_http_route_match("GET", "/v1/keys/%zz", &req,
	    &known));
	assert_null(hkms_http_route_match("GET", "/v1/keys/a%2", &req,
	    &known));

	/* {request*}: the rest of the path as sent, slashes and escapes
	 * kept (the OCSP GET's base64) */
	r = hkms_http_route_match("GET", "/ocsp/MEMw/QTA%2B/x=", &req, &known);
	assert_non_null(r);
	assert_string_equal(r->pattern, "/ocsp/{request*}");
	assert_int_equal(req.nparams, 1);
	assert_string_equal(req.params[0], "MEMw/QTA%2B/x=");
	assert_true(r->flags & HKMS_ROUTE_PLAIN);
	assert_null(hkms_http_route_match("GET", "/ocsp/", &req, &known));
	r = hkms_http_route_match("POST", "/ocsp", &req, &known);
	assert_non_null(r);
	assert_true((r->flags & HKMS_ROUTE_PUBLIC) &&
	    (r->flags & HKMS_ROUTE_PLAIN));
	/* only the public routes of relying parties are PLAIN */
	r = hkms_http_route_match("GET", "/v1/cas/root/crl", &req, &known);
	assert_non_null(r);
	assert_false(r->flags & HKMS_ROUTE_PLAIN);
	r = hkms_http_route_match("GET", "/ca/root.pem", &req, &known);
	assert_true(r != NULL && (r->flags & HKMS_ROUTE_PLAIN));
}

/* POST /ocsp and GET /ocsp/...: OCSP errors are 200 OCSPResponses */
static int
ocsp_status_of(const struct call *c)
{
	const unsigned char *p = c->resp.body;
	OCSP_RESPONSE *r;
	int st;

	if (c->resp.status != 200 || strcmp(c->resp.content_type,
	    "application/ocsp-response") != 0 ||
	    (r = d2i_OCSP_RESPONSE(NULL, &p, (long)c->resp.body_len)) == NULL)
		return -1;
	st = OCSP_response_status(r);
	OCSP_RESPONSE_free(r);
	return st;
}

static void
test_ocsp(void **state)
{
	struct call c;

	(void)state;
	assert_int_equal(call_ex(&c, "POST", "/ocsp", "garbage",
	    "application/ocsp-request", NULL), 200);
	assert_int_equal(ocsp_status_of(&c),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	call_free(&c);
	assert_int_equal(call_ex(&c, "GET", "/ocsp/not%20base64", NULL, NULL,
	    NULL), 200);
	assert_int_equal(ocsp_status_of(&c),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	call_free(&c);
	/* a well-formed request for an issuer that is no hkms CA: the
	 * SHA-1 CertID of 0x05 under random hashes */
	{
		static const char b64[] = "MEIwQDA%2BMDwwOjAJBgUrDgMCGgUA"
		    "BBQAAQIDBAUGBwgJCgsMDQ4PEBESEwQUAAECAwQFBgcICQoLDA0ODxAR"
		    "EhMCAQU%3D";
		char path[200];

		snprintf(path, sizeof(path), "/ocsp/%s", b64);
		assert_int_equal(call_ex(&c, "GET", path, NULL, NULL, NULL),
		    200);
		assert_int_equal(ocsp_status_of(&c),
		    OCSP_RESPONSE_STATUS_UNAUTHORIZED);
		call_free(&c);
	}
	assert_int_equal(call_ex(&c, "POST", "/ocsp", "{}", NULL, NULL), 415);
	assert_string_equal(err_code(&c), "unsupported_media_type");
	call_free(&c);
}

static void
no_answer(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	(void)req;
	(void)resp;
}

static void
test_dispatch_no_answer(void **state)
{
	const struct hkms_http_route r = { "GET", "/x", 0, "admin",
	    no_answer };
	struct hkms_http_req req;
	struct hkms_http_resp resp;
	json_t *j;

	(void)state;
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	hkms_http_dispatch(&r, &req, &resp);
	assert_int_equal(resp.status, 500);
	assert_string_equal(resp.error_code, "internal_error");
	j = json_loadb((const char *)resp.body, resp.body_len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(j, "error"), "code")), "internal_error");
	json_decref(j);
	hkms_http_resp_free(&resp);
}

/* ---- bodies ---- */

static void
test_bad_bodies(void **state)
{
	struct call c;

	(void)state;
	assert_int_equal(call(&c, "POST", "/v1/keys", "{\"name\":"), 400);
	assert_string_equal(err_code(&c), "bad_json");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys", "[1,2]"), 400);
	assert_string_equal(err_code(&c), "bad_json");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys",
	    "{\"name\":\"a\",\"name\":\"b\",\"type\":\"ec:p256\"}"), 400);
	assert_string_equal(err_code(&c), "bad_json");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys",
	    "{\"name\":\"a\",\"type\":\"ec:p256\",\"colour\":1}"), 400);
	assert_string_equal(err_code(&c), "unknown_field");
	assert_non_null(strstr(err_msg(&c), "colour"));
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys",
	    "{\"name\":7,\"type\":\"ec:p256\"}"), 400);
	assert_string_equal(err_code(&c), "invalid_field");
	assert_string_equal(err_msg(&c), "name must be a string");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys", "{\"name\":\"a\"}"),
	    400);
	assert_string_equal(err_code(&c), "invalid_field");
	assert_string_equal(err_msg(&c), "type is required");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys", NULL), 400);
	assert_string_equal(err_msg(&c), "name is required");
	call_free(&c);
	assert_int_equal(call_ex(&c, "POST", "/v1/keys",
	    "{\"name\":\"a\",\"type\":\"ec:p256\"}", "text/plain", NULL), 415);
	assert_string_equal(err_code(&c), "unsupported_media_type");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/certificates/x/renew",
	    "{\"days\":\"7\"}"), 400);
	assert_string_equal(err_msg(&c), "days must be an integer");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/certificates/x/renew",
	    "{\"days\":99999999}"), 400);
	assert_string_equal(err_msg(&c), "days must be 0..36500");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/certificates/x/renew",
	    "{\"rekey\":1}"), 400);
	assert_string_equal(err_msg(&c), "rekey must be true or false");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/cas/x/sign",
	    "{\"csr\":\"not base64!\",\"profile\":\"tls-server\"}"), 400);
	assert_string_equal(err_msg(&c), "csr must be PEM text or base64");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/cas",
	    "{\"name\":\"x\",\"key_type\":\"ec:p256\",\"subject\":\"/CN=x\","
	    "\"permit_dns\":[\"a\",3]}"), 400);
	assert_string_equal(err_msg(&c), "permit_dns[1] must be a string");
	call_free(&c);
	/* query parameters */
	assert_int_equal(call(&c, "GET", "/v1/certificates?expiring_within=x",
	    NULL), 400);
	assert_string_equal(err_code(&c), "invalid_field");
	call_free(&c);
	assert_int_equal(call(&c, "DELETE", "/v1/keys/x?force=maybe", NULL),
	    400);
	assert_string_equal(err_msg(&c), "force must be true or false");
	call_free(&c);
}

/* the fuzz seeds: one valid body per schema, named after it, whose first
 * byte is its index (make_seeds.py writes them in the order of
 * hkms_http_body_schemas; a reordered table must regenerate them) */
static void
test_body_seeds(void **state)
{
	const char *src = getenv("HKMS_SRC");
	unsigned char buf[8192], out[1024];
	struct hkms_err err = { 0 };
	char path[512];
	size_t i, n;
	FILE *f;

	(void)state;
	if (src == NULL)
		skip();
	for (i = 0; hkms_http_body_schemas[i] != NULL; i++) {
		const struct hkms_body_schema *s = hkms_http_body_schemas[i];

		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/http_body/%s",
		    src, s->name);
		f = fopen(path, "rb");
		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		assert_true(n > 1);
		assert_int_equal(buf[0], i);
		assert_true(s->size <= sizeof(out));
		if (hkms_http_body_parse(s, "application/json", buf + 1, n - 1,
		    out, &err) != HKMS_OK)
			fail_msg("seed %s: %s", s->name, err.detail);
		hkms_http_body_free(s, out);
	}
}

/* ---- the flows ---- */

static void
test_keys(void **state)
{
	struct call c;

	(void)state;
	assert_int_equal(call(&c, "POST", "/v1/keys",
	    "{\"name\":\"k1\",\"type\":\"ec:p256\"}"), 201);
	assert_string_equal(json_string_value(json_object_get(c.json, "name")),
	    "k1");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/keys",
	    "{\"name\":\"k1\",\"type\":\"ec:p256\"}"), 409);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/keys/k1", NULL), 200);
	assert_true(json_is_true(json_object_get(c.json, "sensitive")));
	assert_non_null(json_object_get(c.json, "public_key_pem"));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/keys", NULL), 200);
	assert_true(json_is_array(c.json));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/tokens", NULL), 200);
	assert_true(json_array_size(c.json) >= 1);
	call_free(&c);
	/* a CSR for it, then a self-signed certificate */
	assert_int_equal(call(&c, "POST", "/v1/csrs",
	    "{\"name\":\"k1-csr\",\"key\":\"k1\",\"subject\":\"/CN=k1\","
	    "\"san\":[\"DNS:k1.example\",\"IP:10.0.0.1\"]}"), 201);
	assert_non_null(strstr(json_string_value(json_object_get(c.json,
	    "pem")), "BEGIN CERTIFICATE REQUEST"));
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/certificates",
	    "{\"name\":\"k1-cert\",\"key\":\"k1\",\"subject\":\"/CN=k1\","
	    "\"san\":\"DNS:k1.example\",\"days\":30}"), 201);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/certificates/k1-cert", NULL),
	    200);
	assert_string_equal(json_string_value(json_object_get(c.json, "name")),
	    "k1-cert");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/certificates/k1-cert/renew",
	    "{\"days\":60}"), 200);
	call_free(&c);
	assert_int_equal(call(&c, "PATCH", "/v1/certificates/k1-cert",
	    "{\"name\":\"k1-web\"}"), 200);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/certificates/k1-cert", NULL),
	    404);
	call_free(&c);
	/* the key is in use: refused, then forced */
	assert_int_equal(call(&c, "DELETE", "/v1/keys/k1", NULL), 409);
	call_free(&c);
	assert_int_equal(call(&c, "DELETE", "/v1/certificates/k1-web", NULL),
	    200);
	call_free(&c);
	assert_int_equal(call(&c, "DELETE", "/v1/keys/k1?force=true", NULL),
	    200);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/keys/k1", NULL), 404);
	call_free(&c);
}

static void
test_ca_sign_export(void **state)
{
	struct call c;
	char *csr, *body, serial[80];
	const char *pem;
	X509 *leaf, *ca;
	const unsigned char *p;
	X509_CRL *crl;
	PKCS12 *p12;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *more = NULL;
	BIO *b;

	(void)state;
	assert_int_equal(call(&c, "POST", "/v1/cas",
	    "{\"name\":\"root\",\"key_type\":\"ec:p256\",\"subject\":"
	    "\"/CN=Unit Root\",\"path_len\":1,\"days\":365}"), 201);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/cas", NULL), 200);
	assert_int_equal(json_array_size(c.json), 1);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/cas/root", NULL), 200);
	call_free(&c);

	/* the CA certificate, public */
	assert_int_equal(call(&c, "GET", "/ca/root.pem", NULL), 200);
	assert_string_equal(c.resp.content_type, "application/x-pem-file");
	ca = pem_cert(c.resp.body, c.resp.body_len);
	assert_non_null(ca);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/ca/nothing.pem", NULL), 404);
	call_free(&c);

	/* sign a CSR made by OpenSSL; the leaf verifies with the CA */
	csr = make_csr("www.example.com");
	body = body_with("{\"profile\":\"tls-server\",\"san\":"
	    "[\"DNS:www.example.com\"],\"days\":30}", "csr", csr);
	assert_int_equal(call(&c, "POST", "/v1/cas/root/sign", body), 201);
	pem = json_string_value(json_object_get(c.json, "pem"));
	assert_non_null(pem);
	leaf = pem_cert(pem, strlen(pem));
	assert_non_null(leaf);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca)), 1);
	snprintf(serial, sizeof(serial), "%s", json_string_value(
	    json_object_get(c.json, "serial")));
	call_free(&c);
	/* the same as a raw PEM chain */
	assert_int_equal(call_ex(&c, "POST", "/v1/cas/root/sign", body, NULL,
	    "application/pem-certificate-chain"), 201);
	assert_string_equal(c.resp.content_type,
	    "application/pem-certificate-chain");
	assert_memory_equal(c.resp.body, "-----BEGIN CERTIFICATE-----", 27);
	call_free(&c);
	free(body);
	/* an unknown profile and an unknown CA */
	body = body_with("{\"profile\":\"nope\"}", "csr", csr);
	assert_int_equal(call(&c, "POST", "/v1/cas/root/sign", body), 404);
	assert_string_equal(err_code(&c), "unknown_profile");
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/cas/other/sign", body), 404);
	assert_string_equal(err_code(&c), "ca_not_found");
	call_free(&c);
	free(body);
	free(csr);

	/* the issued index */
	assert_int_equal(call(&c, "GET", "/v1/cas/root/issued?status=valid",
	    NULL), 200);
	assert_int_equal(json_array_size(c.json), 2);
	call_free(&c);
	{
		char t[200];

		snprintf(t, sizeof(t), "/v1/cas/root/issued/%s", serial);
		assert_int_equal(call(&c, "GET", t, NULL), 200);
		call_free(&c);
	}

	/* exports: by ?format= and by Accept */
	assert_int_equal(call(&c, "GET", "/v1/certificates/root?format=der",
	    NULL), 200);
	assert_string_equal(c.resp.content_type, "application/pkix-cert");
	assert_string_equal(c.resp.filename, "root.cer");
	p = c.resp.body;
	x = d2i_X509(NULL, &p, (long)c.resp.body_len);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, ca), 0);
	X509_free(x);
	call_free(&c);
	assert_int_equal(call_ex(&c, "GET", "/v1/certificates/root", NULL,
	    NULL, "application/pkcs7-mime"), 200);
	assert_string_equal(c.resp.content_type, "application/pkcs7-mime");
	call_free(&c);
	assert_int_equal(call_ex(&c, "GET", "/v1/certificates/root", NULL,
	    NULL, "text/html, application/x-pem-file;q=0.9"), 200);
	assert_string_equal(c.resp.content_type, "application/x-pem-file");
	call_free(&c);
	assert_int_equal(call_ex(&c, "GET", "/v1/certificates/root", NULL,
	    NULL, "application/json, application/x-pem-file"), 200);
	assert_string_equal(c.resp.content_type, "application/json");
	assert_non_null(json_object_get(c.json, "pem"));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/certificates/root?format=gif",
	    NULL), 400);
	assert_string_equal(err_code(&c), "bad_format");
	call_free(&c);
	/* a PKCS#12 with a password, over POST */
	assert_int_equal(call(&c, "POST", "/v1/certificates/root/export",
	    "{\"format\":\"p12\",\"password\":\"correct horse\"}"), 200);
	assert_string_equal(c.resp.content_type, "application/x-pkcs12");
	p = c.resp.body;
	p12 = d2i_PKCS12(NULL, &p, (long)c.resp.body_len);
	assert_non_null(p12);
	assert_int_equal(PKCS12_parse(p12, "correct horse", &pk, &x, &more),
	    1);
	assert_null(pk);	/* never a key */
	assert_true(x != NULL || sk_X509_num(more) > 0);
	X509_free(x);
	sk_X509_pop_free(more, X509_free);
	PKCS12_free(p12);
	call_free(&c);

	/* revoke, a CRL, and the public DER CRL lists the serial */
	body = NULL;
	{
		char b2[200];

		snprintf(b2, sizeof(b2), "{\"serial\":\"%s\",\"reason\":"
		    "\"keyCompromise\"}", serial);
		assert_int_equal(call(&c, "POST", "/v1/cas/root/revoke", b2),
		    200);
		call_free(&c);
		assert_int_equal(call(&c, "POST", "/v1/cas/root/revoke", b2),
		    409);
		assert_string_equal(err_code(&c), "already_revoked");
		call_free(&c);
	}
	assert_int_equal(call(&c, "GET", "/crl/root.crl", NULL), 404);
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/cas/root/crl", "{\"days\":3}"),
	    201);
	assert_int_equal(json_integer_value(json_object_get(c.json,
	    "entries")), 1);
	assert_null(json_object_get(c.json, "path"));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/crl/root.crl", NULL), 200);
	assert_string_equal(c.resp.content_type, "application/pkix-crl");
	p = c.resp.body;
	crl = d2i_X509_CRL(NULL, &p, (long)c.resp.body_len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	X509_CRL_free(crl);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/cas/root/crl", NULL), 200);
	assert_memory_equal(c.resp.body, "-----BEGIN X509 CRL-----", 24);
	call_free(&c);

	/* policy: set, show, clear */
	assert_int_equal(call(&c, "PUT", "/v1/cas/root/policy",
	    "{\"allow_dns\":[\".example.com\"]}"), 200);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/cas/root/policy", NULL), 200);
	assert_non_null(json_object_get(c.json, "policy"));
	assert_false(json_is_null(json_object_get(c.json, "policy")));
	call_free(&c);
	assert_int_equal(call(&c, "PUT", "/v1/cas/root/policy", "{\"x\":"),
	    400);
	assert_string_equal(err_code(&c), "bad_json");
	call_free(&c);
	assert_int_equal(call(&c, "DELETE", "/v1/cas/root/policy", NULL), 200);
	assert_true(json_is_null(json_object_get(c.json, "policy")));
	call_free(&c);

	/* a client certificate, its PKCS#12 once in the answer */
	assert_int_equal(call(&c, "POST", "/v1/cas/root/clients",
	    "{\"subject\":\"/CN=robot\",\"passphrase\":\"long enough pass\","
	    "\"days\":10}"), 201);
	{
		const char *b64 = json_string_value(json_object_get(c.json,
		    "pkcs12"));
		unsigned char *der;
		int n;

		assert_non_null(b64);
		der = malloc(strlen(b64));
		n = EVP_DecodeBlock(der, (const unsigned char *)b64,
		    (int)strlen(b64));
		assert_true(n > 0);
		p = der;
		p12 = d2i_PKCS12(NULL, &p, n);
		assert_non_null(p12);
		pk = NULL;
		x = NULL;
		more = NULL;
		assert_int_equal(PKCS12_parse(p12, "long enough pass", &pk, &x,
		    &more), 1);
		assert_non_null(pk);
		assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
		EVP_PKEY_free(pk);
		X509_free(x);
		sk_X509_pop_free(more, X509_free);
		PKCS12_free(p12);
		free(der);
	}
	call_free(&c);

	/* the truststore: import the CA, list, verify the leaf */
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, ca);
	{
		char *capem, *lpem;
		long n = BIO_get_mem_data(b, &capem);
		char *cs = strndup(capem, (size_t)n);

		body = body_with("{\"alias\":\"unit-root\"}", "certificate",
		    cs);
		assert_int_equal(call(&c, "POST", "/v1/truststore", body),
		    201);
		call_free(&c);
		free(body);
		assert_int_equal(call(&c, "GET", "/v1/truststore", NULL), 200);
		assert_int_equal(json_array_size(c.json), 1);
		call_free(&c);
		assert_int_equal(call(&c, "GET", "/v1/truststore/unit-root",
		    NULL), 200);
		call_free(&c);
		assert_int_equal(call(&c, "GET",
		    "/v1/truststore/unit-root?format=der", NULL), 200);
		assert_string_equal(c.resp.content_type,
		    "application/pkix-cert");
		call_free(&c);
		BIO_reset(b);
		PEM_write_bio_X509(b, leaf);
		n = BIO_get_mem_data(b, &lpem);
		free(cs);
		cs = strndup(lpem, (size_t)n);
		/* the wrong purpose: rejected, with the failed check */
		body = body_with("{\"purpose\":\"client\"}", "chain", cs);
		assert_int_equal(call(&c, "POST", "/v1/truststore/verify",
		    body), 422);
		assert_string_equal(err_code(&c), "invalid_purpose");
		call_free(&c);
		free(body);
		free(cs);
	}
	BIO_free(b);
	assert_int_equal(call(&c, "DELETE", "/v1/truststore/unit-root", NULL),
	    200);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/truststore/unit-root", NULL),
	    404);
	call_free(&c);
	X509_free(leaf);
	X509_free(ca);
}

static void
test_trust_verify_ok(void **state)
{
	struct call c;
	char *csr, *body, *cs, *pemc;
	const char *pem;

	(void)state;
	assert_int_equal(call(&c, "POST", "/v1/cas",
	    "{\"name\":\"root2\",\"key_type\":\"ec:p256\",\"subject\":"
	    "\"/CN=Unit Root 2\"}"), 201);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/ca/root2.pem", NULL), 200);
	cs = strndup((const char *)c.resp.body, c.resp.body_len);
	call_free(&c);
	body = body_with("{\"alias\":\"root2\"}", "certificate", cs);
	assert_int_equal(call(&c, "POST", "/v1/truststore", body), 201);
	call_free(&c);
	free(body);
	free(cs);
	csr = make_csr("api.example.com");
	body = body_with("{\"profile\":\"tls-server\",\"san\":"
	    "\"DNS:api.example.com\"}", "csr", csr);
	free(csr);
	assert_int_equal(call(&c, "POST", "/v1/cas/root2/sign", body), 201);
	free(body);
	pem = json_string_value(json_object_get(c.json, "pem"));
	pemc = strdup(pem);
	body = body_with("{\"purpose\":\"server\",\"host\":"
	    "\"api.example.com\"}", "chain", pem);
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/truststore/verify", body), 200);
	/* the server purpose defaults to the webpki path rules */
	assert_string_equal(json_string_value(json_object_get(c.json,
	    "profile")), "webpki");
	call_free(&c);
	free(body);
	/* path validation (issue 14b): profile and max_depth */
	body = body_with("{\"purpose\":\"server\",\"host\":"
	    "\"api.example.com\",\"profile\":\"rfc5280\",\"max_depth\":1}",
	    "chain", pemc);
	assert_int_equal(call(&c, "POST", "/v1/truststore/verify", body), 200);
	assert_string_equal(json_string_value(json_object_get(c.json,
	    "profile")), "rfc5280");
	assert_int_equal(json_integer_value(json_object_get(c.json,
	    "max_depth")), 1);
	call_free(&c);
	free(body);
	body = body_with("{\"profile\":\"lax\"}", "chain", pemc);
	assert_int_equal(call(&c, "POST", "/v1/truststore/verify", body), 400);
	assert_string_equal(err_code(&c), "bad_profile");
	call_free(&c);
	free(body);
	body = body_with("{\"max_depth\":0}", "chain", pemc);
	assert_int_equal(call(&c, "POST", "/v1/truststore/verify", body), 400);
	call_free(&c);
	free(pemc);
	/* another host name: 422 hostname_mismatch */
	free(body);
	assert_int_equal(call(&c, "POST", "/v1/cas/root2/sign",
	    (body = body_with("{\"profile\":\"tls-server\",\"san\":"
	    "\"DNS:b.example.com\"}", "csr", (csr = make_csr("b"))))), 201);
	free(csr);
	free(body);
	body = body_with("{\"purpose\":\"server\",\"host\":\"c.example.com\"}",
	    "chain", json_string_value(json_object_get(c.json, "pem")));
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/truststore/verify", body), 422);
	assert_string_equal(err_code(&c), "hostname_mismatch");
	assert_true(json_is_false(json_object_get(json_object_get(c.json,
	    "verdict"), "ok")));
	assert_string_equal(c.resp.error_code, "hostname_mismatch");
	/* the verdict names the path rule */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(c.json, "verdict"), "error"), "rule")),
	    "host_name");
	call_free(&c);
	free(body);
}

/* imports: a software key, a certificate for a token key (what_if, a
 * failed check with its checks, then for real), a CSR check, a pin */
static void
test_imports(void **state)
{
	struct call c;
	EVP_PKEY *k = EVP_EC_gen("P-256"), *pub = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, *body, *csr, *leaf;
	const char *kp, *cp;
	long n;
	json_t *checks;

	(void)state;
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &pem);
	pem = strndup(pem, (size_t)n);
	body = body_with("{\"name\":\"imported\"}", "key", pem);
	assert_int_equal(call(&c, "POST", "/v1/keys/import", body), 201);
	kp = json_string_value(json_object_get(c.json, "public_key_pem"));
	assert_non_null(kp);
	{
		BIO *pb = BIO_new_mem_buf(kp, -1);

		pub = PEM_read_bio_PUBKEY(pb, NULL, NULL, NULL);
		BIO_free(pb);
	}
	assert_int_equal(EVP_PKEY_eq(pub, k), 1);
	EVP_PKEY_free(pub);
	call_free(&c);
	free(body);
	free(pem);
	/* missing and unknown fields */
	assert_int_equal(call(&c, "POST", "/v1/keys/import",
	    "{\"name\":\"x\"}"), 400);
	assert_string_equal(err_msg(&c), "key is required");
	call_free(&c);

	/* a CSR for a token key, signed by an hkms CA, imported back */
	assert_int_equal(call(&c, "POST", "/v1/cas",
	    "{\"name\":\"imp-ca\",\"key_type\":\"ec:p256\",\"subject\":"
	    "\"/CN=Import CA\"}"), 201);
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/csrs",
	    "{\"name\":\"app-csr\",\"new_key\":\"ec:p256\",\"key\":"
	    "\"app\",\"subject\":\"/CN=app.example.com\",\"san\":"
	    "\"DNS:app.example.com\"}"), 201);
	csr = strdup(json_string_value(json_object_get(c.json, "pem")));
	call_free(&c);
	body = body_with("{}", "csr", csr);
	assert_int_equal(call(&c, "POST", "/v1/csrs/verify", body), 200);
	assert_true(json_is_true(json_object_get(c.json, "ok")));
	call_free(&c);
	free(body);
	body = body_with("{\"profile\":\"tls-server\"}", "csr", csr);
	assert_int_equal(call(&c, "POST", "/v1/cas/imp-ca/sign", body), 201);
	leaf = strdup(json_string_value(json_object_get(c.json, "pem")));
	call_free(&c);
	free(body);
	free(csr);
	/* a serverAuth leaf asked for as tls-client: the EKU check fails, and
	 * the error carries the checks */
	body = body_with("{\"name\":\"app\",\"what_if\":true,"
	    "\"profile\":\"tls-client\"}",
	    "certificate", leaf);
	assert_int_equal(call(&c, "POST", "/v1/certificates/import", body),
	    422);
	assert_string_equal(err_code(&c), "check_failed:extended_key_usage");
	checks = json_object_get(json_object_get(c.json, "error"), "checks");
	assert_true(json_array_size(checks) >= 1);
	call_free(&c);
	free(body);
	/* with the CA: what_if passes and stores nothing; then for real */
	assert_int_equal(call(&c, "GET", "/ca/imp-ca.pem", NULL), 200);
	cp = strndup((const char *)c.resp.body, c.resp.body_len);
	call_free(&c);
	{
		json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", "app",
		    "certificate", leaf, "ca", cp, "what_if", 1);
		char *s2 = json_dumps(o, JSON_COMPACT);

		assert_int_equal(call(&c, "POST", "/v1/certificates/import",
		    s2), 200);
		assert_true(json_is_true(json_object_get(c.json, "ok")));
		call_free(&c);
		assert_int_equal(call(&c, "GET", "/v1/certificates/app", NULL),
		    404);
		call_free(&c);
		json_object_set_new(o, "what_if", json_false());
		free(s2);
		s2 = json_dumps(o, JSON_COMPACT);
		assert_int_equal(call(&c, "POST", "/v1/certificates/import",
		    s2), 201);
		call_free(&c);
		assert_int_equal(call(&c, "GET", "/v1/certificates/app", NULL),
		    200);
		assert_string_equal(json_string_value(json_object_get(c.json,
		    "key")), "app");
		call_free(&c);
		free(s2);
		json_decref(o);
	}
	/* pin the leaf as a peer, twice: the second is unchanged */
	body = body_with("{}", "certificate", leaf);
	assert_int_equal(call(&c, "POST", "/v1/truststore/peer-app/pin", body),
	    200);
	call_free(&c);
	assert_int_equal(call(&c, "POST", "/v1/truststore/peer-app/pin", body),
	    200);
	assert_true(json_is_true(json_object_get(c.json, "unchanged")));
	call_free(&c);
	free(body);
	free((char *)cp);
	free(leaf);
	BIO_free(b);
	EVP_PKEY_free(k);
}

static void
test_profiles_audit(void **state)
{
	struct call c;
	json_t *next;

	(void)state;
	assert_int_equal(call(&c, "GET", "/v1/profiles", NULL), 200);
	assert_true(json_array_size(c.json) >= 3);
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/profiles/tls-server", NULL),
	    200);
	assert_true(json_is_object(json_object_get(c.json, "profile")));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/profiles/none", NULL), 404);
	assert_string_equal(err_code(&c), "unknown_profile");
	call_free(&c);
	/* two lines a page: the next cursor goes on */
	assert_int_equal(call(&c, "GET", "/v1/audit?since=0&limit=2", NULL),
	    200);
	assert_int_equal(json_array_size(json_object_get(c.json, "lines")), 2);
	next = json_object_get(c.json, "next");
	assert_true(json_is_integer(next));
	assert_true(json_integer_value(next) > json_integer_value(
	    json_object_get(json_array_get(json_object_get(c.json, "lines"),
	    1), "seq")));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/audit?since=999999", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(c.json, "lines")), 0);
	assert_true(json_is_null(json_object_get(c.json, "next")));
	call_free(&c);
	assert_int_equal(call(&c, "GET", "/v1/audit?limit=0", NULL), 400);
	call_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_ocsp),
		cmocka_unit_test(test_dispatch_no_answer),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_body_seeds),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_ca_sign_export),
		cmocka_unit_test(test_trust_verify_ok),
		cmocka_unit_test(test_imports),
		cmocka_unit_test(test_profiles_audit),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
