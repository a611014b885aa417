/*
 * The web console's sessions and TOTP second factor: /v1/session...
 * (issue 16a; docs/api.md, "Sessions and second factor"). The server
 * (server.c) has already matched the request's hkms_session cookie
 * against the certificate (req->session) and checked CSRF and Origin;
 * these handlers show, open and end the session over src/ops/session.c
 * and set or clear the cookie.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "hkms/ops.h"
#include "routes_int.h"

struct session_open_body {
	struct hkms_body_head h;
	const char *code;
};

static const struct hkms_body_field session_open_fields[] = {
	HKMS_BODY_F(struct session_open_body, code, HKMS_BODY_SECRET, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_session_open = { "session.open",
    session_open_fields, sizeof(struct session_open_body) };

static void
session_get(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_session_show(&c, req->session, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

static void
session_post(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct session_open_body b;
	struct hkms_ops_session s;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	char cookie[160];

	if (hkms_http_body(req, resp, &hkms_body_session_open, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c) != 0) {
		hkms_http_body_free(&hkms_body_session_open, &b);
		return;
	}
	rc = hkms_ops_session_open(&c, b.code, &s, &out, &err);
	hkms_http_body_free(&hkms_body_session_open, &b);
	if (rc == HKMS_OK) {
		snprintf(cookie, sizeof(cookie), "hkms_session=%s; Path=/; "
		    "Secure; HttpOnly; SameSite=Strict; Max-Age=%d", s.id,
		    s.max_age);
		hkms_http_resp_header(resp, "Set-Cookie", cookie);
	}
	if (rc != HKMS_OK && strcmp(err.code, "totp_locked") == 0 &&
	    req->principal->name != NULL) {
		snprintf(cookie, sizeof(cookie), "%ld",
		    hkms_ops_session_locked(req->principal->name));
		hkms_http_resp_header(resp, "Retry-After", cookie);
	}
	hkms_http_reply(resp, rc, 201, out, &err);
	memset(cookie, 0, sizeof(cookie));
	memset(&s, 0, sizeof(s));
}

static void
session_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_session_close(&c, req->session ? req->session->id :
	    NULL, &err);
	if (rc != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		return;
	}
	resp->status = 204;
	hkms_http_resp_header(resp, "Set-Cookie", "hkms_session=; Path=/; "
	    "Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

const struct hkms_http_route hkms_http_routes_session[] = {
	{ "GET", "/v1/session", 0, "user", session_get },
	{ "POST", "/v1/session", HKMS_ROUTE_TOKEN, "user", session_post },
	{ "DELETE", "/v1/session", 0, "user", session_delete },
	{ NULL, NULL, 0, NULL, NULL }
};
