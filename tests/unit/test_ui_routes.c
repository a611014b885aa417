/*
 * The web console's file routes (src/http/routes_ui.c, issue 16b) without
 * a socket: every embedded file is served under /ui/<name> with its type
 * and bytes; /ui/ is index.html; / redirects; names outside the table and
 * every traversal form are 404 ui_not_found (or match no route); the
 * refusal page is HTML only for a browser's Accept and escapes the
 * message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "routes_int.h"
#include "ui_files.h"

static int
get(const char *path, struct hkms_http_resp *resp)
{
	const struct hkms_http_route *r;
	struct hkms_http_req req;
	int known = 0;

	memset(&req, 0, sizeof(req));
	memset(resp, 0, sizeof(*resp));
	req.method = "GET";
	req.path = path;
	if ((r = hkms_http_route_match("GET", path, &req, &known)) == NULL)
		return -1;
	hkms_http_dispatch(r, &req, resp);
	return resp->status;
}

static void
test_every_file(void **state)
{
	const struct hkms_ui_file *f;
	struct hkms_http_resp resp;
	char path[300];
	size_t n = 0;

	(void)state;
	for (f = hkms_ui_files; f->name != NULL; f++, n++) {
		snprintf(path, sizeof(path), "/ui/%s", f->name);
		assert_int_equal(get(path, &resp), 200);
		assert_string_equal(resp.content_type, f->type);
		assert_int_equal(resp.body_len, f->len);
		assert_memory_equal(resp.body, f->data, f->len);
		hkms_http_resp_free(&resp);
	}
	assert_true(n >= 7);	/* index, css, api, lib, app, login, audit */
	assert_int_equal(get("/ui/", &resp), 200);
	assert_string_equal(resp.content_type, "text/html; charset=utf-8");
	assert_true(resp.body_len > 15 &&
	    memcmp(resp.body, "<!doctype html>", 15) == 0);
	hkms_http_resp_free(&resp);
	assert_int_equal(get("/ui/app.js", &resp), 200);
	assert_string_equal(resp.content_type,
	    "text/javascript; charset=utf-8");
	hkms_http_resp_free(&resp);
}

static void
test_refused_names(void **state)
{
	static const char *const bad[] = {
		"/ui/nope.js", "/ui/../CMakeLists.txt", "/ui/./index.html",
		"/ui/%2e%2e/CMakeLists.txt", "/ui/%2E%2E/x", "/ui/.%2e/x",
		"/ui/screens/../index.html", "/ui/screens/%2e%2e%2findex.html",
		"/ui/index.html%00", "/ui//index.html", "/ui/index.html/",
		"/ui/%69ndex.html", "/ui/.hidden", "/ui/screens/",
		"/ui/..\\index.html", "/ui/index.html?x", "/ui/a b",
		NULL
	};
	struct hkms_http_resp resp;
	size_t i;
	int st;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		st = get(bad[i], &resp);
		if (st == -1)
			continue;	/* no route at all: 404 too */
		assert_int_equal(st, 404);
		assert_string_equal(resp.error_code, "ui_not_found");
		assert_string_equal(resp.content_type, "application/json");
		hkms_http_resp_free(&resp);
	}
}

static void
test_redirect(void **state)
{
	struct hkms_http_resp resp;
	size_t i;
	int found = 0;

	(void)state;
	assert_int_equal(get("/", &resp), 302);
	for (i = 0; i < HKMS_HTTP_RESP_HEADERS; i++)
		if (strcmp(resp.hdr_name[i], "Location") == 0) {
			assert_string_equal(resp.hdr_value[i], "/ui/");
			found = 1;
		}
	assert_true(found);
	hkms_http_resp_free(&resp);
}

static void
test_refusal_page(void **state)
{
	struct hkms_http_resp resp;
	struct hkms_http_req req;
	struct hkms_err e = { 0 };

	(void)state;
	hkms_err_setc(&e, HKMS_E_DENIED, "client_certificate_required",
	    "no <script>alert(1)</script> & \"x\"");
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.accept = "text/html,application/xhtml+xml,*/*;q=0.8";
	hkms_http_ui_refusal(&req, &resp, &e);
	assert_int_equal(resp.status, 401);
	assert_string_equal(resp.content_type, "text/html; charset=utf-8");
	assert_string_equal(resp.error_code, "client_certificate_required");
	assert_non_null(memmem(resp.body, resp.body_len,
	    "no &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;",
	    strlen("no &lt;script&gt;alert(1)&lt;/script&gt; &amp; "
	    "&quot;x&quot;")));
	assert_null(memmem(resp.body, resp.body_len, "<script", 7));
	hkms_http_resp_free(&resp);
	/* not a browser: the JSON envelope */
	req.accept = "*/*";
	hkms_http_ui_refusal(&req, &resp, &e);
	assert_int_equal(resp.status, 401);
	assert_string_equal(resp.content_type, "application/json");
	assert_non_null(memmem(resp.body, resp.body_len,
	    "client_certificate_required", 27));
	hkms_http_resp_free(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file),
		cmocka_unit_test(test_refused_names),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_refusal_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
