/*
 * EST (RFC 7030) at /.well-known/est/{ca}/...: issue 17b, docs/est.md.
 *
 * The four EST routes are public (HKMS_ROUTE_PUBLIC): a first enrollment
 * comes without a client certificate, with HTTP Basic and a one-time
 * enrollment password; the operation (src/ops/est.c) authenticates the
 * password or the TLS peer certificate the server passes along
 * (req->peer_der, also on a public route). They speak EST, not the JSON
 * API: base64 bodies with Content-Transfer-Encoding: base64, and errors
 * as text/plain ("code: message", RFC 7030 section 4.2.3: a
 * human-readable message), 401 with WWW-Authenticate: Basic.
 *
 * The operator's routes are JSON like the rest of the API: GET /v1/est,
 * GET|PUT|DELETE /v1/cas/{name}/est, GET|POST /v1/est/tokens and DELETE
 * /v1/est/tokens/{id} (hkms est status|enable|disable|token ...).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "routes_int.h"

#define NEED_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)
/* the {ca} of the path, or NULL (the default EST CA) on the paths
 * without a CA label */
#define CA_OF(req) ((req)->nparams > 0 ? (req)->params[0] : NULL)

/* ---- the EST routes -------------------------------------------------- */

static void
est_error(struct hkms_http_resp *resp, const struct hkms_err *err)
{
	char msg[400];
	int n;

	n = snprintf(msg, sizeof(msg), "%s: %s\n", hkms_err_code(err),
	    err->detail[0] ? err->detail : hkms_strerror(err->rc));
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	hkms_http_resp_bytes(resp, hkms_err_http_status(err),
	    "text/plain; charset=utf-8", msg, (size_t)n);
	snprintf(resp->error_code, sizeof(resp->error_code), "%s",
	    hkms_err_code(err));
	if (resp->status == 401)
		hkms_http_resp_header(resp, "WWW-Authenticate",
		    "Basic realm=\"hkms EST\", charset=\"UTF-8\"");
}

static void
est_b64(struct hkms_http_resp *resp, const char *type, char *b64,
    size_t len)
{
	hkms_http_resp_bytes(resp, 200, type, b64, len);
	if (resp->status == 200)
		hkms_http_resp_header(resp, "Content-Transfer-Encoding",
		    "base64");
}

/* GET /.well-known/est/{ca}/cacerts */
static void
est_cacerts(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	char *b64 = NULL;
	size_t len = 0;

	if (hkms_service_ctx(req->svc, req->principal, req->actor,
	    HKMS_SERVICE_NEED_STORE, &c, &err) != HKMS_OK ||
	    hkms_ops_est_cacerts(&c, CA_OF(req), &b64, &len, &err) !=
	    HKMS_OK) {
		est_error(resp, &err);
		return;
	}
	est_b64(resp, "application/pkcs7-mime", b64, len);
	free(b64);
}

/* GET /.well-known/est/{ca}/csrattrs */
static void
est_csrattrs(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	char *b64 = NULL;
	size_t len = 0;

	if (hkms_service_ctx(req->svc, req->principal, req->actor,
	    HKMS_SERVICE_NEED_STORE, &c, &err) != HKMS_OK ||
	    hkms_ops_est_csrattrs(&c, CA_OF(req), &b64, &len, &err) !=
	    HKMS_OK) {
		est_error(resp, &err);
		return;
	}
	est_b64(resp, "application/csrattrs", b64, len);
	free(b64);
}

static void
est_enroll(struct hkms_http_req *req, struct hkms_http_resp *resp,
    int reenroll)
{
	struct hkms_ops_est_enroll_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	char *b64 = NULL;
	size_t len = 0;

	memset(&r, 0, sizeof(r));
	r.ca = CA_OF(req);
	r.reenroll = reenroll;
	r.content_type = req->content_type;
	r.body = req->body;
	r.body_len = req->body_len;
	r.authorization = req->authorization;
	r.peer_der = req->peer_der;
	r.peer_len = req->peer_len;
	r.npeer = req->npeer;
	if (hkms_service_ctx(req->svc, req->principal, req->actor,
	    NEED_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_enroll(&c, &r, &b64, &len, &err) != HKMS_OK) {
		est_error(resp, &err);
		return;
	}
	est_b64(resp, "application/pkcs7-mime; smime-type=certs-only", b64,
	    len);
	free(b64);
}

/* POST /.well-known/est/{ca}/simpleenroll */
static void
est_simpleenroll(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	est_enroll(req, resp, 0);
}

/* POST /.well-known/est/{ca}/simplereenroll */
static void
est_simplereenroll(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	est_enroll(req, resp, 1);
}

/* ---- the operator's routes ----------------------------------------- */

/* GET /v1/est: every EST-enabled CA */
static void
est_status_all(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_est_status(&c, NULL, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/cas/{name}/est */
static void
est_status_one(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_est_status(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* PUT /v1/cas/{name}/est {profile, days, default} (hkms est enable) */
struct est_enable_body {
	struct hkms_body_head h;
	const char *profile;
	int days;
	int make_default;
};

static const struct hkms_body_field est_enable_fields[] = {
	HKMS_BODY_F(struct est_enable_body, profile, HKMS_BODY_STRING, 1),
	HKMS_BODY_I(struct est_enable_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	{ "default", HKMS_BODY_BOOL, 0, offsetof(struct est_enable_body,
	    make_default), 0, 0 },
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_est_enable = { "est.enable",
    est_enable_fields, sizeof(struct est_enable_body) };

static void
est_enable(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_est_enable_req r;
	struct est_enable_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_est_enable, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.ca = req->params[0];
	r.profile = b.profile;
	r.days = b.days;
	r.make_default = b.make_default;
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) == 0) {
		rc = hkms_ops_est_enable(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_est_enable, &b);
}

/* DELETE /v1/cas/{name}/est (hkms est disable): {name, deleted} */
static void
est_disable(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_est_disable(&c, req->params[0], &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "name", req->params[0], "deleted", 1) : NULL, &err);
}

/* GET /v1/est/tokens[?ca=NAME] */
static void
est_token_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_est_token_list(&c, hkms_http_query_get(req, "ca"), &out,
	    &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/est/tokens {ca, subject, san, days} (hkms est token create): the
 * password is in the answer, once */
struct est_token_body {
	struct hkms_body_head h;
	const char *ca;
	const char *subject;
	int days;
	const char *san;
};

static const struct hkms_body_field est_token_fields[] = {
	HKMS_BODY_F(struct est_token_body, ca, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct est_token_body, subject, HKMS_BODY_STRING, 1),
	HKMS_BODY_I(struct est_token_body, days, 0, 0, 365),
	HKMS_BODY_F(struct est_token_body, san, HKMS_BODY_STRING, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_est_token_create = {
    "est.token_create", est_token_fields, sizeof(struct est_token_body) };

static void
est_token_create(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_est_token_req r;
	struct est_token_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_est_token_create, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.ca = b.ca;
	r.subject = b.subject;
	r.san = b.san;
	r.days = b.days;
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) == 0) {
		rc = hkms_ops_est_token_create(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_est_token_create, &b);
}

/* DELETE /v1/est/tokens/{id} */
static void
est_token_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_est_token_delete(&c, req->params[0], &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "name", req->params[0], "deleted", 1) : NULL, &err);
}

#define P HKMS_ROUTE_PUBLIC
#define T HKMS_ROUTE_TOKEN

const struct hkms_http_route hkms_http_routes_est[] = {
	{ "GET", "/.well-known/est/{ca}/cacerts", P, "public", est_cacerts },
	{ "GET", "/.well-known/est/{ca}/csrattrs", P, "public",
	    est_csrattrs },
	{ "POST", "/.well-known/est/{ca}/simpleenroll", P | T, "public",
	    est_simpleenroll },
	{ "POST", "/.well-known/est/{ca}/simplereenroll", P | T, "public",
	    est_simplereenroll },
	/* RFC 7030 3.2.2: the paths without a CA label serve the default
	 * EST CA (hkms est enable --default) */
	{ "GET", "/.well-known/est/cacerts", P, "public", est_cacerts },
	{ "GET", "/.well-known/est/csrattrs", P, "public", est_csrattrs },
	{ "POST", "/.well-known/est/simpleenroll", P | T, "public",
	    est_simpleenroll },
	{ "POST", "/.well-known/est/simplereenroll", P | T, "public",
	    est_simplereenroll },

	{ "GET", "/v1/est", 0, "operator", est_status_all },
	{ "GET", "/v1/cas/{name}/est", 0, "operator", est_status_one },
	{ "PUT", "/v1/cas/{name}/est", 0, "operator", est_enable },
	{ "DELETE", "/v1/cas/{name}/est", 0, "operator", est_disable },
	{ "GET", "/v1/est/tokens", 0, "operator", est_token_list },
	{ "POST", "/v1/est/tokens", 0, "operator", est_token_create },
	{ "DELETE", "/v1/est/tokens/{id}", 0, "operator", est_token_delete },
	{ NULL, NULL, 0, NULL, NULL }
};

#undef P
#undef T
