/*
 * fuzz_http_route: hkms_http_route_match over the three route tables with
 * a fuzzed method and path (input: "METHOD\0path", the path cut at the
 * first NUL). Nothing runs a handler.
 *
 * Invariants: a match has that method; its {name} values are non-empty,
 * hold no NUL, and fit the parameter buffer; only a rest parameter
 * ({name*}, the pattern's last) holds a '/'; a path matched under
 * one method is known (405) under any other; no match leaves no
 * parameters.
 */
#include <string.h>

#include "http_int.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH",
	    "DELETE" };
	const struct hkms_http_route *r, *r2;
	struct hkms_http_req req;
	char *in, *path, *method;
	size_t i, mlen;
	int known, known2, rest;

	in = fuzz_strndup(data, size);
	mlen = strlen(in);
	method = in;
	path = mlen < size ? in + mlen + 1 : in + mlen;
	memset(&req, 0, sizeof(req));
	r = hkms_http_route_match(method, path, &req, &known);
	if (r == NULL) {
		FUZZ_CHECK(req.nparams == 0);
	} else {
		FUZZ_CHECK(strcmp(r->method, method) == 0);
		FUZZ_CHECK(req.nparams <= HKMS_HTTP_MAX_PARAMS);
		rest = strstr(r->pattern, "*}") != NULL;
		for (i = 0; i < req.nparams; i++) {
			FUZZ_CHECK(req.params[i] >= req.param_buf &&
			    req.params[i] < req.param_buf +
			    sizeof(req.param_buf));
			FUZZ_CHECK(req.params[i][0] != '\0');
			FUZZ_CHECK(strchr(req.params[i], '/') == NULL ||
			    (rest && i + 1 == req.nparams));
		}
		/* the same path under another method: a route or a 405 */
		for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			if (strcmp(methods[i], method) == 0)
				continue;
			memset(&req, 0, sizeof(req));
			r2 = hkms_http_route_match(methods[i], path, &req,
			    &known2);
			FUZZ_CHECK(r2 != NULL || known2);
		}
	}
	free(in);
	return 0;
}
