/*
 * The web console's static files (issue 16b): GET /ui/ (index.html) and
 * GET /ui/{path*} from the table cmake/EmbedUi.cmake makes of ui/ at
 * build time, and GET / → 302 /ui/.
 *
 * The files are not public: like every API route they need a registered
 * client certificate (any clearance), so a browser without one gets the
 * server's error (as a small HTML page when it asks for text/html,
 * hkms_http_ui_refusal) instead
 * of a console that could do nothing. They run no operation, so a client
 * that requires 2FA still gets them (the console then shows its TOTP
 * prompt). Only names of the table are served; a path that is not plain
 * [A-Za-z0-9._-] segments ('..', a dot file, any %-escape such as %2e or
 * %00, an empty segment) is refused before the lookup.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes_int.h"
#include "ui_files.h"

static int
console_enabled(const struct hkms_http_req *req)
{
	const struct hkms_config *cfg = req->svc ?
	    hkms_service_config(req->svc) : NULL;

	return cfg == NULL || !cfg->console_disabled;
}

static void
ui_not_found(struct hkms_http_resp *resp, const char *why)
{
	struct hkms_err e = { 0 };

	hkms_err_setc(&e, HKMS_E_NOT_FOUND, "ui_not_found", "%s", why);
	hkms_http_resp_error(resp, &e, NULL);
}

/* 1 if name is segments of [A-Za-z0-9._-], none empty, none starting
 * with '.' (so no '.', '..' or dot file) */
static int
name_ok(const char *name)
{
	const char *s = name;
	int seg_start = 1;

	if (*s == '\0' || strlen(s) > 200)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '/') {
			if (seg_start)
				return 0;
			seg_start = 1;
			continue;
		}
		if (seg_start && *s == '.')
			return 0;
		seg_start = 0;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return 0;
	}
	return !seg_start;
}

static void
serve(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const char *name)
{
	const struct hkms_ui_file *f;

	if (!console_enabled(req)) {
		ui_not_found(resp, "the web console is switched off "
		    "([console] enabled = false)");
		return;
	}
	if (!name_ok(name)) {
		ui_not_found(resp, "no console file of that name");
		return;
	}
	for (f = hkms_ui_files; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0) {
			hkms_http_resp_bytes(resp, 200, f->type, f->data,
			    f->len);
			return;
		}
	ui_not_found(resp, "no console file of that name");
}

/* GET /ui/ */
static void
route_ui_index(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	serve(req, resp, "index.html");
}

/* GET /ui/{path*}: the rest of the path as sent (escapes kept) */
static void
route_ui_file(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	serve(req, resp, req->params[0]);
}

/* GET / */
static void
route_ui_root(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	static const char text[] = "the console is at /ui/\n";

	if (!console_enabled(req)) {
		ui_not_found(resp, "the web console is switched off "
		    "([console] enabled = false)");
		return;
	}
	hkms_http_resp_bytes(resp, 302, "text/plain; charset=utf-8", text,
	    sizeof(text) - 1);
	hkms_http_resp_header(resp, "Location", "/ui/");
}

int
hkms_http_ui_route(const struct hkms_http_route *route)
{
	return route != NULL && route->pattern != NULL &&
	    strncmp(route->pattern, "/ui/", 4) == 0;
}

/* The HTML page a browser gets when it may not load the console (no or
 * an unregistered certificate, sealed): the error's message, escaped. No
 * script, no style attribute (the CSP forbids both). The error's code
 * goes to the request log either way. */
void
hkms_http_ui_refusal(const struct hkms_http_req *req,
    struct hkms_http_resp *resp, const struct hkms_err *err)
{
	char msg[2 * sizeof(err->detail)], *page = NULL;
	const char *d = err->detail[0] ? err->detail : "request refused";
	size_t k = 0;
	int status = hkms_err_http_status(err), n;

	for (; *d != '\0' && k + 7 < sizeof(msg); d++) {
		const char *rep = *d == '<' ? "&lt;" : *d == '>' ? "&gt;" :
		    *d == '&' ? "&amp;" : *d == '"' ? "&quot;" : NULL;

		if (rep != NULL) {
			memcpy(msg + k, rep, strlen(rep));
			k += strlen(rep);
		} else
			msg[k++] = *d;
	}
	msg[k] = '\0';
	if (req == NULL || !hkms_http_accepts(req, "text/html")) {
		hkms_http_resp_error(resp, err, NULL);
		return;
	}
	n = asprintf(&page, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>hkms console: %d</title>"
	    "<link rel=\"stylesheet\" href=\"/ui/style.css\"></head>\n"
	    "<body><main id=\"main\" class=\"refused\">"
	    "<h1>The hkms console cannot be opened</h1>\n"
	    "<p data-test=\"refused-message\">%s</p>\n"
	    "<p>The console authenticates your browser by its client "
	    "certificate, like the API: import a registered client's PKCS#12 "
	    "into the browser (see docs/console.md) and reload.</p>"
	    "</main></body></html>\n", status, msg);
	if (n < 0) {
		hkms_http_resp_error(resp, err, NULL);
		return;
	}
	hkms_http_resp_bytes(resp, status, "text/html; charset=utf-8", page,
	    (size_t)n);
	snprintf(resp->error_code, sizeof(resp->error_code), "%s",
	    err->code[0] ? err->code : "");
	free(page);
}

/* GET /v1/audit/verify: the chain check of hkms audit verify, for the
 * console's audit screen. A verification that finds damage is still an
 * answer (200, "ok": false, "problem": its first problem), not a failed
 * request: the report is what the caller asked for. */
static void
route_audit_verify(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_audit_verify(&c, &out, &err);
	if (rc == HKMS_E_VERIFY && out != NULL) {
		json_object_set_new(out, "ok", json_false());
		json_object_set_new(out, "problem", json_string(err.detail));
		rc = HKMS_OK;
	}
	hkms_http_reply(resp, rc, 200, out, &err);
}

const struct hkms_http_route hkms_http_routes_ui[] = {
	{ "GET", "/", HKMS_ROUTE_PUBLIC, "public", route_ui_root },
	{ "GET", "/ui/", 0, "user", route_ui_index },
	{ "GET", "/ui/{path*}", 0, "user", route_ui_file },
	{ "GET", "/v1/audit/verify", 0, "operator", route_audit_verify },
	{ NULL, NULL, 0, NULL, NULL }
};
