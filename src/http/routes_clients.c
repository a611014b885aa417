/*
 * The clients' routes (/v1/clients...; docs/api.md, "Client routes"):
 * JSON in, strictly (a field the route does not know is 400
 * unknown_field, a wrong type 400 invalid_field), the clients operations
 * of src/ops/clients.c, JSON out. Handlers touch no socket: tests call
 * them with a made-up request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "http_int.h"

#define MAX_GRANTS 32
#define MAX_PROFILES 32

static void
fail(struct hkms_http_resp *resp, const struct hkms_err *err)
{
	hkms_http_resp_error(resp, err, NULL);
}

static int
bad(struct hkms_http_resp *resp, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(struct hkms_http_resp *resp, const char *code, const char *fmt, ...)
{
	struct hkms_err e = { 0 };
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hkms_err_setc(&e, HKMS_E_INVALID, code, "%s", msg);
	fail(resp, &e);
	return 0;
}

/* The body as a JSON object whose keys are all in allowed (NULL-ended).
 * 0 (resp filled) on anything else. */
static int
body_object(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const char *const *allowed, json_t **out)
{
	json_error_t je;
	json_t *o, *v;
	const char *k;
	size_t i;

	*out = NULL;
	if (req->body == NULL || req->body_len == 0)
		return bad(resp, "invalid_field", "%s", "a JSON object body "
		    "is required");
	o = json_loadb((const char *)req->body, req->body_len,
	    JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		/* not the "near '...'" part: it may hold a passphrase */
		const char *near = strstr(je.text, " near ");

		return bad(resp, "bad_json", "body is not JSON: %.*s (line "
		    "%d, column %d)", near ? (int)(near - je.text) :
		    (int)strlen(je.text), je.text, je.line, je.column);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return bad(resp, "bad_json", "%s", "the body must be a "
		    "JSON object");
	}
	json_object_foreach(o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL) {
			bad(resp, "unknown_field", "unknown field '%s'", k);
			json_decref(o);
			return 0;
		}
	}
	*out = o;
	return 1;
}

/* A string field: NULL when absent (required: refused). */
static int
str_field(json_t *o, const char *k, int required, const char **out,
    struct hkms_http_resp *resp)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return bad(resp, "invalid_field", "%s is required", k);
		return 1;
	}
	if (!json_is_string(v))
		return bad(resp, "invalid_field", "%s must be a string", k);
	*out = json_string_value(v);
	return 1;
}

/* A boolean field: -1 when absent. */
static int
bool_field(json_t *o, const char *k, int *out, struct hkms_http_resp *resp)
{
	json_t *v = json_object_get(o, k);

	*out = -1;
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_boolean(v))
		return bad(resp, "invalid_field", "%s must be true or false",
		    k);
	*out = json_is_true(v);
	return 1;
}

struct grants {
	struct hkms_ops_client_grant g[MAX_GRANTS];
	const char *prof[MAX_GRANTS][MAX_PROFILES + 1];
	size_t n;
	int given;
};

/* "permissions": [{ca, rights?: ["sign","read"], profiles?: [..]|null}] */
static int
grants_field(json_t *o, struct grants *gs, struct hkms_http_resp *resp)
{
	static const char *const keys[] = { "ca", "rights", "profiles", NULL };
	json_t *a = json_object_get(o, "permissions"), *it, *v, *r;
	const char *k;
	size_t i, j, x;

	memset(gs, 0, sizeof(*gs));
	if (a == NULL || json_is_null(a))
		return 1;
	if (!json_is_array(a) || json_array_size(a) > MAX_GRANTS)
		return bad(resp, "invalid_field", "%s must be an array of at "
		    "most 32 objects", "permissions");
	gs->given = 1;
	json_array_foreach(a, i, it) {
		struct hkms_ops_client_grant *g = &gs->g[i];

		if (!json_is_object(it))
			return bad(resp, "invalid_field", "%s[] must be "
			    "objects", "permissions");
		json_object_foreach(it, k, v) {
			for (x = 0; keys[x] != NULL; x++)
				if (strcmp(keys[x], k) == 0)
					break;
			if (keys[x] == NULL)
				return bad(resp, "unknown_field", "unknown "
				    "field 'permissions[].%s'", k);
		}
		if (!json_is_string(json_object_get(it, "ca")))
			return bad(resp, "invalid_field", "%s is required "
			    "and must be a string", "permissions[].ca");
		g->ca = json_string_value(json_object_get(it, "ca"));
		r = json_object_get(it, "rights");
		if (r != NULL && !json_is_null(r)) {
			if (!json_is_array(r) || json_array_size(r) == 0)
				return bad(resp, "invalid_field", "%s must "
				    "be a non-empty array", "permissions[]."
				    "rights");
			json_array_foreach(r, j, v) {
				const char *s = json_string_value(v);

				if (s != NULL && strcmp(s, "sign") == 0)
					g->rights |= HKMS_PERM_SIGN;
				else if (s != NULL && strcmp(s, "read") == 0)
					g->rights |= HKMS_PERM_READ;
				else
					return bad(resp, "invalid_field",
					    "%s must be \"sign\" or \"read\"",
					    "permissions[].rights[]");
			}
		}
		r = json_object_get(it, "profiles");
		if (r != NULL && !json_is_null(r)) {
			if (!json_is_array(r) || json_array_size(r) >
			    MAX_PROFILES)
				return bad(resp, "invalid_field", "%s must "
				    "be an array of at most 32 names",
				    "permissions[].profiles");
			json_array_foreach(r, j, v) {
				if (!json_is_string(v))
					return bad(resp, "invalid_field",
					    "%s must be strings",
					    "permissions[].profiles[]");
				gs->prof[i][j] = json_string_value(v);
			}
			gs->prof[i][json_array_size(r)] = NULL;
			g->profiles = gs->prof[i];
			g->nprofiles = json_array_size(r);
		}
		gs->n++;
	}
	return 1;
}

/* A context for the request's principal; store, and token if need. */
static int
req_ctx(struct hkms_http_req *req, struct hkms_http_resp *resp,
    unsigned need, struct hkms_ops_ctx *c)
{
	struct hkms_err err = { 0 };

	if (hkms_service_ctx(req->svc, req->principal, req->actor, need, c,
	    &err) != HKMS_OK) {
		fail(resp, &err);
		return 0;
	}
	return 1;
}

/* base64 (standard alphabet, padding optional whitespace not allowed)
 * into a malloc'd buffer. */
static unsigned char *
b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), pad = 0, m;
	unsigned char *out;
	char *tmp;
	int r;

	if (n == 0 || n > 16 * 1024 * 1024)
		return NULL;
	/* EVP_DecodeBlock wants padding to a multiple of 4 */
	m = (n + 3) / 4 * 4;
	if ((tmp = malloc(m + 1)) == NULL)
		return NULL;
	memcpy(tmp, s, n);
	memset(tmp + n, '=', m - n);
	tmp[m] = '\0';
	if ((out = malloc(m / 4 * 3 + 1)) == NULL) {
		free(tmp);
		return NULL;
	}
	r = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)m);
	if (m >= 1 && tmp[m - 1] == '=')
		pad++;
	if (m >= 2 && tmp[m - 2] == '=')
		pad++;
	free(tmp);
	if (r < 0 || (size_t)r < pad) {
		free(out);
		return NULL;
	}
	*len = (size_t)r - pad;
	return out;
}

static char *
b64_encode(const unsigned char *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Wipe a secret string inside a parsed body before it is freed. */
static void
wipe_str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (json_is_string(v))
		OPENSSL_cleanse((char *)json_string_value(v),
		    json_string_length(v));
}

/* ---- handlers ---- */

static void
h_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c))
		return;
	if (hkms_ops_client_list(&c, &out, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 200, out);
}

static void
h_show(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c))
		return;
	if (hkms_ops_client_show(&c, req->nparams ? req->params[0] : NULL,
	    &out, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 200, out);
}

static void
h_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *name = req->nparams ? req->params[0] : NULL;

	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c))
		return;
	if (hkms_ops_client_delete(&c, name, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 200, json_pack("{s:s,s:b}", "name",
		    name, "deleted", 1));
}

static void
h_add(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	static const char *const keys[] = { "name", "clearance",
	    "certificate", "password", "permissions", "require_2fa", NULL };
	struct hkms_ops_client_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct grants gs;
	json_t *o = NULL, *out = NULL;
	const char *cert = NULL;
	unsigned char *der = NULL;
	int tfa;

	memset(&r, 0, sizeof(r));
	if (!body_object(req, resp, keys, &o))
		return;
	if (!str_field(o, "name", 1, &r.name, resp) ||
	    !str_field(o, "clearance", 1, &r.clearance, resp) ||
	    !str_field(o, "certificate", 1, &cert, resp) ||
	    !str_field(o, "password", 0, &r.password, resp) ||
	    !bool_field(o, "require_2fa", &tfa, resp) ||
	    !grants_field(o, &gs, resp))
		goto out;
	r.require_2fa = tfa > 0;
	r.grants = gs.g;
	r.ngrants = gs.n;
	if (strstr(cert, "-----BEGIN ") != NULL) {
		r.cert = (const unsigned char *)cert;
		r.cert_len = strlen(cert);
	} else if ((der = b64_decode(cert, &r.cert_len)) == NULL) {
		bad(resp, "invalid_field", "%s must be PEM or base64 (DER, "
		    "PKCS#7 or PKCS#12)", "certificate");
		goto out;
	} else {
		r.cert = der;
	}
	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c))
		goto out;
	if (hkms_ops_client_add(&c, &r, &out, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 201, out);
out:
	if (der != NULL)
		OPENSSL_clear_free(der, r.cert_len);
	wipe_str(o, "password");
	json_decref(o);
}

static void
h_generate(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	static const char *const keys[] = { "name", "clearance", "ca",
	    "subject", "days", "passphrase", "permissions", "require_2fa",
	    NULL };
	struct hkms_ops_client_req r;
	struct hkms_secret *pass = NULL, *p12 = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct grants gs;
	json_t *o = NULL, *out = NULL, *days, *totp, *res;
	const char *pp = NULL;
	char *b64 = NULL;
	int tfa;

	memset(&r, 0, sizeof(r));
	if (!body_object(req, resp, keys, &o))
		return;
	if (!str_field(o, "name", 1, &r.name, resp) ||
	    !str_field(o, "clearance", 1, &r.clearance, resp) ||
	    !str_field(o, "ca", 1, &r.ca, resp) ||
	    !str_field(o, "subject", 0, &r.subject, resp) ||
	    !str_field(o, "passphrase", 1, &pp, resp) ||
	    !bool_field(o, "require_2fa", &tfa, resp) ||
	    !grants_field(o, &gs, resp))
		goto out;
	days = json_object_get(o, "days");
	if (days != NULL && !json_is_null(days)) {
		if (!json_is_integer(days) || json_integer_value(days) < 1 ||
		    json_integer_value(days) > HKMS_OPS_DAYS_MAX) {
			bad(resp, "invalid_field", "%s must be an integer "
			    "1..36500", "days");
			goto out;
		}
		r.days = (int)json_integer_value(days);
	}
	r.require_2fa = tfa > 0;
	r.grants = gs.g;
	r.ngrants = gs.n;
	if (strlen(pp) < 8) {
		bad(resp, "invalid_field", "%s must have at least 8 bytes",
		    "passphrase");
		goto out;
	}
	if (hkms_secret_new(pp, strlen(pp), &pass, &err) != HKMS_OK) {
		fail(resp, &err);
		goto out;
	}
	r.passphrase = pass;
	r.destination = "response";
	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c))
		goto out;
	if (hkms_ops_client_generate(&c, &r, &out, &p12, &err) != HKMS_OK) {
		fail(resp, &err);
		goto out;
	}
	if ((b64 = b64_encode((const unsigned char *)hkms_secret_str(p12),
	    hkms_secret_len(p12))) == NULL) {
		json_decref(out);
		hkms_err_set(&err, HKMS_E_NOMEM, "out of memory");
		fail(resp, &err);
		goto out;
	}
	totp = json_incref(json_object_get(out, "totp"));
	json_object_del(out, "totp");
	res = json_pack("{s:o,s:s}", "registration", out, "p12_base64", b64);
	/* the TOTP seed (require_2fa, issue 16a), given once */
	if (res != NULL && totp != NULL)
		json_object_set(res, "totp", totp);
	json_decref(totp);
	hkms_http_resp_json(resp, 201, res);
out:
	if (b64 != NULL)
		OPENSSL_clear_free(b64, strlen(b64));
	hkms_secret_free(p12);
	hkms_secret_free(pass);
	wipe_str(o, "passphrase");
	json_decref(o);
}

static void
h_edit(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	static const char *const keys[] = { "clearance", "permissions",
	    "require_2fa", NULL };
	struct hkms_ops_client_edit_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct grants gs;
	json_t *o = NULL, *out = NULL;

	memset(&r, 0, sizeof(r));
	if (!body_object(req, resp, keys, &o))
		return;
	if (!str_field(o, "clearance", 0, &r.clearance, resp) ||
	    !bool_field(o, "require_2fa", &r.require_2fa, resp) ||
	    !grants_field(o, &gs, resp))
		goto out;
	r.grants = gs.g;
	r.ngrants = gs.n;
	r.set_grants = gs.given;
	/* turning 2FA on may enrol a seed, sealed by the token: open it
	 * before the data lock is taken (docs/design.md, lock order) */
	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE | (r.require_2fa == 1 ?
	    HKMS_SERVICE_NEED_TOKEN : 0), &c))
		goto out;
	if (hkms_ops_client_edit(&c, req->nparams ? req->params[0] : NULL,
	    &r, &out, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 200, out);
out:
	json_decref(o);
}

/* POST /v1/clients/{name}/totp: a new TOTP seed (issue 16a) */
static void
h_totp(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	if (req->body_len > 0) {
		json_t *o = NULL;
		static const char *const keys[] = { NULL };

		if (!body_object(req, resp, keys, &o))
			return;
		json_decref(o);
	}
	if (!req_ctx(req, resp, HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c))
		return;
	if (hkms_ops_client_totp(&c, req->nparams ? req->params[0] : NULL,
	    &out, &err) != HKMS_OK)
		fail(resp, &err);
	else
		hkms_http_resp_json(resp, 201, out);
}

const struct hkms_http_route hkms_http_routes_clients[] = {
	{ "GET", "/v1/clients", 0, "admin", h_list },
	{ "POST", "/v1/clients", 0, "admin", h_add },
	{ "POST", "/v1/clients/generate", HKMS_ROUTE_TOKEN, "admin",
	    h_generate },
	{ "GET", "/v1/clients/{name}", 0, "admin", h_show },
	{ "PATCH", "/v1/clients/{name}", 0, "admin", h_edit },
	{ "DELETE", "/v1/clients/{name}", 0, "admin", h_delete },
	{ "POST", "/v1/clients/{name}/totp", HKMS_ROUTE_TOKEN, "admin",
	    h_totp },
	{ NULL, NULL, 0, NULL, NULL }
};
