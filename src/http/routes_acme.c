/*
 * ACME (RFC 8555) at /acme/{ca}/...: issue 17a.
 *
 * The routes are public (no client certificate: an ACME client has
 * none); each request is authenticated by its own JWS in the operation
 * (hkms_ops_acme, src/ops/acme.c). This face only checks the media type
 * (application/jose+json for POST), works out the base URL the objects
 * are named by ([acme] base_url, else https://<Host>), and turns the
 * operation's answer into headers (Replay-Nonce, Location, Link,
 * Retry-After) and a body: JSON, a PEM certificate chain, or a problem
 * document (application/problem+json, RFC 8555 §6.7) for every error.
 * The operator's routes (/v1/acme...) are ordinary JSON API routes over
 * the operations of hkms acme enable|disable|status|eab-create.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "routes_int.h"
#include "hkms/ops.h"

static void
hdr_add(struct hkms_http_resp *resp, const char *name, const char *value)
{
	if (value != NULL && value[0] != '\0')
		hkms_http_resp_header(resp, name, value);
}

void
hkms_http_acme_problem(struct hkms_http_resp *resp, const struct hkms_err *err)
{
	int status = hkms_err_http_status(err);
	json_t *o = json_pack("{s:s,s:s,s:i}", "type",
	    hkms_acme_problem_type(err), "detail", err->detail, "status",
	    status);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	hkms_http_resp_bytes(resp, status, "application/problem+json", s ? s :
	    "{}", s ? strlen(s) : 2);
	free(s);
	snprintf(resp->error_code, sizeof(resp->error_code), "%s",
	    hkms_err_code(err));
}

static int
host_ok(const char *h)
{
	size_t i;

	if (h == NULL || h[0] == '\0' || strlen(h) > 255)
		return 0;
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' &&
		    h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		    strchr(".-:[]", h[i]) != NULL))
			return 0;
	return 1;
}

static void
acme_route(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const char *endpoint)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct hkms_acme_req ar;
	struct hkms_acme_resp out;
	const struct hkms_config *cfg = hkms_service_config(req->svc);
	char base[300], url[1200], ra[16];
	enum hkms_rc rc;

	memset(&out, 0, sizeof(out));
	memset(&ar, 0, sizeof(ar));
	if (cfg != NULL && cfg->acme_base_url[0] != '\0')
		snprintf(base, sizeof(base), "%s", cfg->acme_base_url);
	else if (host_ok(req->host))
		snprintf(base, sizeof(base), "https://%s", req->host);
	else {
		hkms_err_setc(&err, HKMS_E_INVALID, "acme_malformed",
		    "the request has no usable Host header");
		hkms_http_acme_problem(resp, &err);
		return;
	}
	if (base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	snprintf(url, sizeof(url), "%s%s", base, req->path);
	if (strcmp(req->method, "POST") == 0 && (req->content_type == NULL ||
	    strncasecmp(req->content_type, "application/jose+json", 21) !=
	    0)) {
		hkms_err_setc(&err, HKMS_E_INVALID,
		    "acme_unsupported_media_type", "ACME requests are "
		    "application/jose+json");
		hkms_http_acme_problem(resp, &err);
		return;
	}
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_WANT_TOKEN, &c) != 0)
		return;
	ar.ca = req->params[0];
	ar.endpoint = endpoint;
	ar.id = req->nparams > 1 ? req->params[1] : NULL;
	ar.base = base;
	ar.url = url;
	ar.head = strcmp(req->method, "HEAD") == 0;
	ar.body = req->body;
	ar.body_len = req->body_len;
	rc = hkms_ops_acme(&c, &ar, &out, &err);
	if (rc != HKMS_OK)
		hkms_http_acme_problem(resp, &err);
	else if (out.pem != NULL)
		hkms_http_resp_bytes(resp, out.status,
		    "application/pem-certificate-chain", out.pem,
		    strlen(out.pem));
	else if (out.json != NULL) {
		hkms_http_resp_json(resp, out.status, out.json);
		out.json = NULL;	/* taken */
	} else
		hkms_http_resp_bytes(resp, out.status ? out.status : 200,
		    "application/json", "", 0);
	hdr_add(resp, "Replay-Nonce", out.nonce);
	hdr_add(resp, "Location", out.location);
	if (out.link[0] != '\0') {
		/* one Link header per relation */
		char *l = out.link, *sep;

		while ((sep = strstr(l, ", <")) != NULL) {
			*sep = '\0';
			hdr_add(resp, "Link", l);
			l = sep + 2;
		}
		hdr_add(resp, "Link", l);
	}
	if (rc == HKMS_OK && out.retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", out.retry_after);
		hdr_add(resp, "Retry-After", ra);
	}
	hkms_acme_resp_free(&out);
}

#define ACME_HANDLER(fn, ep) static void \
fn(struct hkms_http_req *req, struct hkms_http_resp *resp) \
{ acme_route(req, resp, ep); }

ACME_HANDLER(r_directory, "directory")
ACME_HANDLER(r_new_nonce, "new-nonce")
ACME_HANDLER(r_new_account, "new-account")
ACME_HANDLER(r_new_order, "new-order")
ACME_HANDLER(r_revoke, "revoke-cert")
ACME_HANDLER(r_key_change, "key-change")
ACME_HANDLER(r_acct, "acct")
ACME_HANDLER(r_orders, "orders")
ACME_HANDLER(r_order, "order")
ACME_HANDLER(r_finalize, "finalize")
ACME_HANDLER(r_authz, "authz")
ACME_HANDLER(r_chall, "chall")
ACME_HANDLER(r_cert, "cert")

/* ---- the operator's API: /v1/acme[/{ca}[/eab]] (hkms acme ...) ---- */

struct acme_enable_body {
	struct hkms_body_head h;
	const char *profile;
	json_t *policy;
	int eab_required;
};

static const struct hkms_body_field acme_enable_fields[] = {
	HKMS_BODY_F(struct acme_enable_body, profile, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct acme_enable_body, policy, HKMS_BODY_OBJECT, 0),
	HKMS_BODY_F(struct acme_enable_body, eab_required, HKMS_BODY_BOOL, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_acme_enable = { "acme.enable",
    acme_enable_fields, sizeof(struct acme_enable_body) };

struct acme_eab_body {
	struct hkms_body_head h;
	const char *kid;
};

static const struct hkms_body_field acme_eab_fields[] = {
	HKMS_BODY_F(struct acme_eab_body, kid, HKMS_BODY_STRING, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_acme_eab_create = {
    "acme.eab_create", acme_eab_fields, sizeof(struct acme_eab_body) };

static void
r_admin_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_acme_status(&c, req->nparams ? req->params[0] : NULL,
	    &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

static void
r_admin_enable(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct acme_enable_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	char *pol = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_acme_enable, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0) {
		hkms_http_body_free(&hkms_body_acme_enable, &b);
		return;
	}
	if (b.policy != NULL && !json_is_null(b.policy))
		pol = json_dumps(b.policy, JSON_COMPACT);
	rc = hkms_ops_acme_enable(&c, req->params[0], b.profile, pol,
	    pol ? strlen(pol) : 0, b.eab_required, &out, &err);
	free(pol);
	hkms_http_reply(resp, rc, 200, out, &err);
	hkms_http_body_free(&hkms_body_acme_enable, &b);
}

static void
r_admin_disable(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_acme_disable(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

static void
r_admin_eab(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct acme_eab_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_acme_eab_create, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0) {
		hkms_http_body_free(&hkms_body_acme_eab_create, &b);
		return;
	}
	rc = hkms_ops_acme_eab_create(&c, req->params[0], b.kid, &out, &err);
	hkms_http_reply(resp, rc, 201, out, &err);
	hkms_http_body_free(&hkms_body_acme_eab_create, &b);
}

#define P HKMS_ROUTE_PUBLIC

const struct hkms_http_route hkms_http_routes_acme[] = {
	{ "GET", "/acme/{ca}/directory", P, "public", r_directory },
	{ "HEAD", "/acme/{ca}/new-nonce", P, "public", r_new_nonce },
	{ "GET", "/acme/{ca}/new-nonce", P, "public", r_new_nonce },
	{ "POST", "/acme/{ca}/new-account", P, "public", r_new_account },
	{ "POST", "/acme/{ca}/new-order", P, "public", r_new_order },
	{ "POST", "/acme/{ca}/revoke-cert", P, "public", r_revoke },
	{ "POST", "/acme/{ca}/key-change", P, "public", r_key_change },
	{ "POST", "/acme/{ca}/acct/{id}", P, "public", r_acct },
	{ "POST", "/acme/{ca}/orders/{id}", P, "public", r_orders },
	{ "POST", "/acme/{ca}/order/{id}", P, "public", r_order },
	{ "POST", "/acme/{ca}/order/{id}/finalize", P, "public", r_finalize },
	{ "POST", "/acme/{ca}/authz/{id}", P, "public", r_authz },
	{ "POST", "/acme/{ca}/chall/{id}", P, "public", r_chall },
	{ "POST", "/acme/{ca}/cert/{id}", P, "public", r_cert },
	{ "GET", "/v1/acme", 0, "operator", r_admin_list },
	{ "GET", "/v1/acme/{ca}", 0, "operator", r_admin_list },
	{ "PUT", "/v1/acme/{ca}", 0, "operator", r_admin_enable },
	{ "DELETE", "/v1/acme/{ca}", 0, "operator", r_admin_disable },
	{ "POST", "/v1/acme/{ca}/eab", 0, "operator", r_admin_eab },
	{ NULL, NULL, 0, NULL, NULL }
};

#undef P
