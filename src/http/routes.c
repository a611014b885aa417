/*
 * The routes of the HTTPS face: matching a request to a route of the
 * three tables (the server's, the clients', and this file's), running its
 * handler, and the helpers every handler shares. Each handler is the CLI
 * verb of the same name over the same operation (src/cli/cmd_<area>.c):
 * it parses the body (body.c), makes a context with the request's
 * principal, calls one operation and answers with its JSON or its error.
 * Authorization is the operation's (hkms_ops_authorize); the clearance
 * column here is what docs/api.yaml documents (x-hkms-clearance), checked
 * against this table by tests/lint/api_routes.py.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "routes_int.h"

#define T HKMS_ROUTE_TOKEN
#define P HKMS_ROUTE_PUBLIC

const struct hkms_http_route hkms_http_routes[] = {
	{ "GET", "/v1/tokens", 0, "admin", hkms_route_tokens_list },

	{ "GET", "/v1/keys", T, "operator", hkms_route_keys_list },
	{ "POST", "/v1/keys", T, "operator", hkms_route_keys_generate },
	{ "POST", "/v1/keys/import", T, "operator", hkms_route_keys_import },
	{ "GET", "/v1/keys/{name}", T, "operator", hkms_route_keys_show },
	{ "DELETE", "/v1/keys/{name}", T, "operator",
	    hkms_route_keys_delete },

	{ "POST", "/v1/csrs", T, "operator", hkms_route_csrs_create },
	{ "POST", "/v1/csrs/verify", 0, "user", hkms_route_csrs_verify },

	{ "GET", "/v1/certificates", 0, "operator", hkms_route_certs_list },
	{ "POST", "/v1/certificates", T, "operator",
	    hkms_route_certs_self_sign },
	{ "POST", "/v1/certificates/import", T, "operator",
	    hkms_route_certs_import },
	{ "GET", "/v1/certificates/{name}", 0, "operator",
	    hkms_route_certs_show },
	{ "PATCH", "/v1/certificates/{name}", 0, "operator",
	    hkms_route_certs_rename },
	{ "DELETE", "/v1/certificates/{name}", 0, "operator",
	    hkms_route_certs_delete },
	{ "POST", "/v1/certificates/{name}/export", 0, "operator",
	    hkms_route_certs_export },
	{ "POST", "/v1/certificates/{name}/renew", T, "operator",
	    hkms_route_certs_renew },
	/* certificate history (issue 13a) */
	{ "POST", "/v1/certificates/{name}/restore", T, "operator",
	    hkms_route_certs_restore },

	{ "GET", "/v1/cas", 0, "user", hkms_route_cas_list },
	{ "POST", "/v1/cas", T, "operator", hkms_route_cas_create },
	{ "GET", "/v1/cas/{name}", 0, "user", hkms_route_cas_show },
	{ "POST", "/v1/cas/{name}/apply", T, "operator",
	    hkms_route_cas_apply },
	{ "POST", "/v1/cas/{name}/sign", T, "user", hkms_route_cas_sign },
	{ "GET", "/v1/cas/{name}/issued", 0, "user", hkms_route_cas_issued },
	{ "GET", "/v1/cas/{name}/issued/{serial}", 0, "user",
	    hkms_route_cas_issued_show },
	{ "POST", "/v1/cas/{name}/revoke", 0, "operator",
	    hkms_route_cas_revoke },
	{ "GET", "/v1/cas/{name}/crl", P, "public", hkms_route_cas_crl_get },
	{ "POST", "/v1/cas/{name}/crl", T, "operator",
	    hkms_route_cas_crl_make },
	{ "GET", "/v1/cas/{name}/policy", 0, "operator",
	    hkms_route_cas_policy_get },
	{ "PUT", "/v1/cas/{name}/policy", 0, "operator",
	    hkms_route_cas_policy_put },
	{ "DELETE", "/v1/cas/{name}/policy", 0, "operator",
	    hkms_route_cas_policy_delete },
	{ "POST", "/v1/cas/{name}/clients", T, "operator",
	    hkms_route_cas_issue_client },
	/* issue 13b: CA delete, renew */
	{ "DELETE", "/v1/cas/{name}", 0, "admin", hkms_route_cas_delete },
	{ "POST", "/v1/cas/{name}/renew", T, "operator", hkms_route_cas_renew },

	{ "GET", "/v1/profiles", 0, "user", hkms_route_profiles_list },
	{ "GET", "/v1/profiles/{name}", 0, "user", hkms_route_profiles_show },
	/* issue 13b: profiles as objects */
	{ "POST", "/v1/profiles", 0, "operator", hkms_route_profiles_create },
	{ "DELETE", "/v1/profiles/{name}", 0, "operator",
	    hkms_route_profiles_delete },

	{ "GET", "/v1/truststore", 0, "operator", hkms_route_trust_list },
	{ "POST", "/v1/truststore", 0, "operator", hkms_route_trust_import },
	{ "POST", "/v1/truststore/verify", 0, "operator",
	    hkms_route_trust_verify },
	/* truststore CRLs (issue 14a): before {alias} */
	{ "GET", "/v1/truststore/crls", 0, "operator",
	    hkms_route_trust_crl_list },
	{ "POST", "/v1/truststore/crls", 0, "operator",
	    hkms_route_trust_crl_import },
	{ "DELETE", "/v1/truststore/crls/{id}", 0, "operator",
	    hkms_route_trust_crl_delete },
	{ "GET", "/v1/truststore/{alias}", 0, "operator",
	    hkms_route_trust_show },
	{ "DELETE", "/v1/truststore/{alias}", 0, "operator",
	    hkms_route_trust_delete },
	{ "POST", "/v1/truststore/{alias}/pin", 0, "operator",
	    hkms_route_trust_pin },

	{ "GET", "/v1/audit", 0, "operator", hkms_route_audit_list },

	{ "GET", "/crl/{ca}.crl", P | HKMS_ROUTE_PLAIN, "public",
	    hkms_route_public_crl },
	{ "GET", "/ca/{ca}.pem", P | HKMS_ROUTE_PLAIN, "public",
	    hkms_route_public_ca },

	{ NULL, NULL, 0, NULL, NULL }
};

#undef T
#undef P

const struct hkms_body_schema *const hkms_http_body_schemas[] = {
	&hkms_body_key_generate, &hkms_body_key_import, &hkms_body_csr_create,
	&hkms_body_csr_verify, &hkms_body_cert_self_sign,
	&hkms_body_cert_import, &hkms_body_cert_export, &hkms_body_cert_rename,
	&hkms_body_cert_renew, &hkms_body_ca_create, &hkms_body_ca_apply,
	&hkms_body_ca_sign, &hkms_body_ca_revoke, &hkms_body_ca_crl,
	&hkms_body_ca_issue_client, &hkms_body_trust_import,
	&hkms_body_trust_pin, &hkms_body_trust_verify,
	/* service certificate, history (issue 13a) */
	&hkms_body_service_csr, &hkms_body_service_apply,
	&hkms_body_service_self_signed, &hkms_body_service_trust,
	&hkms_body_cert_restore,

	/* profiles, import, in use (issue 13b) */
	&hkms_body_profile_create, &hkms_body_ca_renew,

	/* revocation, CRLs, OCSP (issue 14a) */
	&hkms_body_trust_crl_import,

	/* path validation (issue 14b) */

	/* ACME (issue 17a) */
	&hkms_body_acme_enable, &hkms_body_acme_eab_create,

	/* EST (issue 17b) */
	&hkms_body_est_enable, &hkms_body_est_token_create,

	/* sessions, TOTP (issue 16a) */
	&hkms_body_session_open,

	/* web console (issue 16b) */

	NULL
};

/* ---- matching ------------------------------------------------------ */

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) to out (NUL-terminated, at most cap bytes with
 * the NUL). 0 on success; -1 for a bad escape, a decoded '/' or NUL, an
 * empty result or no room. */
static int
seg_decode(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
	size_t i, k = 0;
	int hi, lo, ch;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == '/' || ch == '\0' || k + 1 >= cap)
			return -1;
		out[k++] = (char)ch;
	}
	if (k == 0)
		return -1;
	out[k] = '\0';
	*outlen = k;
	return 0;
}

/* Does path match pattern? Fills req->params on a match. */
static int
pattern_match(const char *pattern, const char *path, struct hkms_http_req *req)
{
	const char *p = pattern, *s = path, *pe, *se, *close, *suffix;
	size_t used = 0, plen, slen, suflen, dlen;

	req->nparams = 0;
	while (*p != '\0' && *s != '\0') {
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pe = strchr(p, '/');
		se = strchr(s, '/');
		plen = pe ? (size_t)(pe - p) : strlen(p);
		slen = se ? (size_t)(se - s) : strlen(s);
		if (*p == '{' && pe == NULL && plen > 3 &&
		    memcmp(p + plen - 2, "*}", 2) == 0) {
			/* {name*}, last: the rest of the path as sent,
			 * slashes and escapes kept (the OCSP GET's base64) */
			dlen = strlen(s);
			if (req->nparams >= HKMS_HTTP_MAX_PARAMS || dlen == 0 ||
			    dlen + 1 > sizeof(req->param_buf) - used)
				return 0;
			memcpy(req->param_buf + used, s, dlen + 1);
			req->params[req->nparams++] = req->param_buf + used;
			return 1;
		}
		if (*p == '{') {
			close = memchr(p, '}', plen);
			if (close == NULL ||
			    req->nparams >= HKMS_HTTP_MAX_PARAMS)
				return 0;
			suffix = close + 1;
			suflen = plen - (size_t)(suffix - p);
			if (slen <= suflen ||
			    memcmp(s + slen - suflen, suffix, suflen) != 0)
				return 0;
			if (seg_decode(s, slen - suflen, req->param_buf + used,
			    sizeof(req->param_buf) - used, &dlen) != 0)
				return 0;
			req->params[req->nparams++] = req->param_buf + used;
			used += dlen + 1;
		} else if (plen != slen || memcmp(p, s, plen) != 0)
			return 0;
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

const struct hkms_http_route *
hkms_http_route_match(const char *method, const char *path,
    struct hkms_http_req *req, int *path_known)
{
	const struct hkms_http_route *const tables[] = {
		hkms_http_routes_server, hkms_http_routes_clients,
		hkms_http_routes_service, hkms_http_routes_ocsp,
		hkms_http_routes_acme, hkms_http_routes_est,
		hkms_http_routes_session, hkms_http_routes_ui,
		hkms_http_routes
	};
	const struct hkms_http_route *r;
	size_t t;

	if (path_known != NULL)
		*path_known = 0;
	if (method == NULL || path == NULL || req == NULL || path[0] != '/')
		return NULL;
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (r = tables[t]; r->method != NULL; r++) {
			if (!pattern_match(r->pattern, path, req))
				continue;
			if (strcmp(r->method, method) == 0)
				return r;
			if (path_known != NULL)
				*path_known = 1;
		}
	req->nparams = 0;
	return NULL;
}

void
hkms_http_dispatch(const struct hkms_http_route *route,
    struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err e = { HKMS_E_INTERNAL, "", "" };

	resp->status = 0;
	if (route != NULL && route->fn != NULL)
		route->fn(req, resp);
	if (resp->status == 0) {
		snprintf(e.detail, sizeof(e.detail), "the handler of %s %s "
		    "gave no answer", route && route->method ? route->method :
		    "?", route && route->pattern ? route->pattern : "?");
		hkms_http_resp_error(resp, &e, NULL);
	}
}

/* ---- helpers ------------------------------------------------------- */

int
hkms_http_ctx(struct hkms_http_req *req, struct hkms_http_resp *resp,
    unsigned need, struct hkms_ops_ctx *c)
{
	struct hkms_err err = { 0 };

	if (hkms_service_ctx(req->svc, req->principal, req->actor, need, c,
	    &err) != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		return -1;
	}
	return 0;
}

void
hkms_http_reply(struct hkms_http_resp *resp, enum hkms_rc rc, int status,
    json_t *out, const struct hkms_err *err)
{
	if (rc == HKMS_OK) {
		hkms_http_resp_json(resp, status, out ? out : json_object());
		return;
	}
	/* a failed check (cert import, trust verify) keeps its checks */
	hkms_http_resp_error(resp, err, json_object_get(out, "checks"));
	json_decref(out);
}

int
hkms_http_body(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const struct hkms_body_schema *schema, void *out)
{
	struct hkms_err err = { 0 };

	if (hkms_http_body_parse(schema, req->content_type, req->body,
	    req->body_len, out, &err) != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		return -1;
	}
	return 0;
}

void
hkms_http_bad_field(struct hkms_http_resp *resp, const char *fmt, ...)
{
	struct hkms_err err = { 0 };
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hkms_err_setc(&err, HKMS_E_INVALID, "invalid_field", "%s", msg);
	hkms_http_resp_error(resp, &err, NULL);
}

int
hkms_http_query_bool(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const char *key)
{
	const char *v = hkms_http_query_get(req, key);

	if (v == NULL || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	if (*v == '\0' || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 1;
	hkms_http_bad_field(resp, "%s must be true or false", key);
	return -1;
}

int
hkms_http_query_int(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const char *key, long long lo, long long hi, long long def,
    long long *out)
{
	const char *v = hkms_http_query_get(req, key);
	char *end = NULL;
	long long n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	/* digits only: strtoll would skip any white space and take a sign,
	 * and clamps an overflow to LLONG_MAX (a valid since) */
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*v < '0' || *v > '9' || errno == ERANGE ||
	    end == NULL || *end != '\0' || n < lo || n > hi) {
		hkms_http_bad_field(resp, "%s must be %lld..%lld", key, lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

int
hkms_http_accepts(const struct hkms_http_req *req, const char *mt)
{
	const char *a = req->accept, *e;
	size_t n = strlen(mt), len;

	if (a == NULL)
		return 0;
	while (*a != '\0') {
		while (*a == ' ' || *a == ',')
			a++;
		e = a + strcspn(a, ",;");
		len = (size_t)(e - a);
		while (len > 0 && a[len - 1] == ' ')
			len--;
		if (len == n && strncasecmp(a, mt, n) == 0)
			return 1;
		a = e + strcspn(e, ",");
	}
	return 0;
}
