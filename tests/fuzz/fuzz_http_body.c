/*
 * fuzz_http_body: the request bodies of the HTTPS routes, through the one
 * parser every route uses (src/http/body.c, hkms_http_body_parse) with
 * the route's own field table. The first byte picks the schema (low 7
 * bits modulo the number of schemas, in the order of
 * hkms_http_body_schemas) and, with its high bit, a wrong Content-Type;
 * the rest is the body. No token: the parse stops before any operation.
 *
 * Invariants: a refused body leaves the request struct all zero (nothing
 * half-parsed, nothing leaked); an accepted one has every required field,
 * a field is marked seen exactly when the body has it (not null), and
 * the error of a refusal is one of the body codes with HTTP status 400 or
 * 415. A wrong Content-Type is refused unless the body is empty.
 */
#include <string.h>

#include "routes_int.h"
#include "fuzz.h"

static size_t nschemas;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	while (hkms_http_body_schemas[nschemas] != NULL)
		nschemas++;
	return 0;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct hkms_body_schema *s;
	const struct hkms_body_field *f;
	const struct hkms_body_head *h;
	struct hkms_err err = { 0 };
	unsigned char out[1024];
	const char *code;
	json_t *v;
	size_t i;
	int wrong_type;

	if (nschemas == 0)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	s = hkms_http_body_schemas[(data[0] & 0x7f) % nschemas];
	wrong_type = (data[0] & 0x80) != 0;
	FUZZ_CHECK(s->size <= sizeof(out));
	memset(out, 0xa5, sizeof(out));
	if (hkms_http_body_parse(s, wrong_type ? "text/plain" :
	    "application/json; charset=utf-8", data + 1, size - 1, out,
	    &err) != HKMS_OK) {
		FUZZ_CHECK(all_zero(out, s->size));
		code = hkms_err_code(&err);
		FUZZ_CHECK(strcmp(code, "bad_json") == 0 ||
		    strcmp(code, "unknown_field") == 0 ||
		    strcmp(code, "invalid_field") == 0 ||
		    strcmp(code, "unsupported_media_type") == 0 ||
		    strcmp(code, "out_of_memory") == 0);
		FUZZ_CHECK(hkms_err_http_status(&err) == 400 ||
		    hkms_err_http_status(&err) == 415 ||
		    hkms_err_http_status(&err) == 503);
		return 0;
	}
	FUZZ_CHECK(!wrong_type || size == 1);
	h = (const struct hkms_body_head *)(const void *)out;
	FUZZ_CHECK(json_is_object(h->doc));
	for (i = 0, f = s->fields; f->name != NULL; f++, i++) {
		v = json_object_get(h->doc, f->name);
		FUZZ_CHECK(((h->seen >> i) & 1) == (v != NULL &&
		    !json_is_null(v)));
		FUZZ_CHECK(!f->required || ((h->seen >> i) & 1));
		if (f->type == HKMS_BODY_BYTES && ((h->seen >> i) & 1)) {
			const struct hkms_body_bytes *b = (const void *)
			    (out + f->offset);

			FUZZ_CHECK(b->data != NULL && b->len > 0);
		}
	}
	hkms_http_body_free(s, out);
	FUZZ_CHECK(all_zero(out, s->size));
	return 0;
}
