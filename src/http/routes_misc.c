/*
 * Routes of profiles and the audit log: GET /v1/profiles[/{name}] (hkms
 * profile list|show) and GET /v1/audit?since=SEQ&limit=N (hkms audit
 * show --since).
 */
#include <stdlib.h>
#include <string.h>

#include "routes_int.h"

/* GET /v1/profiles */
void
hkms_route_profiles_list(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, 0, &c) != 0)
		return;
	rc = hkms_ops_profile_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/profiles/{name} */
void
hkms_route_profiles_show(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, 0, &c) != 0)
		return;
	rc = hkms_ops_profile_show(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/audit[?since=SEQ][&limit=N]: a page of lines from since on
 * (default 0: from the start), at most limit (default 100, at most
 * HKMS_OPS_AUDIT_PAGE_MAX); "next" is the since of the next page */
void
hkms_route_audit_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	long long since, limit;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_query_int(req, resp, "since", 0, 0x7fffffffffffffffLL, 0,
	    &since) != 0 || hkms_http_query_int(req, resp, "limit", 1,
	    HKMS_OPS_AUDIT_PAGE_MAX, 100, &limit) != 0 ||
	    hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_audit_show(&c, since, (size_t)limit, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* ---- issue 13b: profiles as objects -------------------------------- */

/* POST /v1/profiles {name, profile} (hkms profile create) */
struct profile_create_body {
	struct hkms_body_head h;
	const char *name;
	json_t *profile;
};

static const struct hkms_body_field profile_create_fields[] = {
	HKMS_BODY_F(struct profile_create_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct profile_create_body, profile, HKMS_BODY_OBJECT, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_profile_create = { "profile.create",
    profile_create_fields, sizeof(struct profile_create_body) };

void
hkms_route_profiles_create(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct profile_create_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	char *text;

	if (hkms_http_body(req, resp, &hkms_body_profile_create, &b) != 0)
		return;
	text = json_dumps(b.profile, JSON_COMPACT);
	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) == 0) {
		rc = hkms_ops_profile_create(&c, b.name, text, text ?
		    strlen(text) : 0, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	free(text);
	hkms_http_body_free(&hkms_body_profile_create, &b);
}

/* DELETE /v1/profiles/{name}[?force=true] (hkms profile delete) */
void
hkms_route_profiles_delete(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	int force;

	if ((force = hkms_http_query_bool(req, resp, "force")) < 0 ||
	    hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_profile_delete(&c, req->params[0], force, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}
