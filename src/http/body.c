/*
 * Strict JSON request bodies. Each route declares its body once, as a
 * table of fields (name, type, required, where it goes in the route's
 * request struct: struct hkms_body_schema next to its handler); this
 * parser is the only code that reads a body, so the fuzz target
 * (tests/fuzz/fuzz_http_body.c) exercises exactly what the server runs.
 *
 * Rules (docs/api.md, "Request bodies"): Content-Type application/json
 * (unsupported_media_type, 415), one JSON object without duplicate keys
 * (bad_json), no field outside the table (unknown_field), each field of
 * its type and range (invalid_field naming it), every required field
 * present (invalid_field). An empty body is {}. Binary inputs are PEM
 * text, kept as sent, or the base64 of the DER / PKCS#12 bytes. Strings
 * point into the parsed document, which the request struct owns; secret
 * fields are wiped when it is freed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "routes_int.h"

#define BASE64_MAX (4u * 1024 * 1024)	/* more than any body we accept */

static enum hkms_rc
media_ok(const char *ct, struct hkms_err *err)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct != NULL) {
		while (*ct == ' ')
			ct++;
		if (strncasecmp(ct, json, n) == 0 && (ct[n] == '\0' ||
		    ct[n] == ';' || ct[n] == ' '))
			return HKMS_OK;
	}
	return hkms_err_setc(err, HKMS_E_INVALID, "unsupported_media_type",
	    "the request body must be application/json");
}

static void
wipe_secrets(const struct hkms_body_schema *s, json_t *doc)
{
	const struct hkms_body_field *f;
	json_t *v;

	if (doc == NULL)
		return;
	for (f = s->fields; f->name != NULL; f++) {
		if (f->type != HKMS_BODY_SECRET)
			continue;
		v = json_object_get(doc, f->name);
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v),
			    json_string_length(v));
	}
}

/* PEM text as is; anything else base64 (line breaks allowed) */
static enum hkms_rc
get_bytes(const char *name, json_t *v, struct hkms_body_bytes *out,
    struct hkms_err *err)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), i, k = 0;
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *buf;
	int outl = 0, fin = 0, pad = 0;

	if (n == 0)
		goto bad;
	if (strstr(s, "-----BEGIN ") != NULL) {
		if ((out->data = malloc(n)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		memcpy(out->data, s, n);
		out->len = n;
		return HKMS_OK;
	}
	if (n > BASE64_MAX)
		goto bad;
	/* strict alphabet: EVP_DecodeUpdate skips some characters */
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\n' || ch == '\r')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' &&
		    ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		    ch == '/'))
			goto bad;
		k++;
	}
	if (k == 0 || pad > 2 || (k + (size_t)pad) % 4 != 0)
		goto bad;
	if ((buf = malloc(n / 4 * 3 + 3)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL) {
		free(buf);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &outl, (const unsigned char *)s,
	    (int)n) < 0 || EVP_DecodeFinal(ctx, buf + outl, &fin) != 1 ||
	    outl + fin <= 0) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		goto bad;
	}
	EVP_ENCODE_CTX_free(ctx);
	out->data = buf;
	out->len = (size_t)(outl + fin);
	return HKMS_OK;
bad:
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field", "%s must "
	    "be PEM text or base64", name);
}

/* a string "a,b" or an array of strings ["a","b"], as "a,b" */
static enum hkms_rc
get_list(const char *name, json_t *v, char **out, struct hkms_err *err)
{
	size_t i, n = 0, len;
	json_t *e;
	char *s;

	if (json_is_string(v)) {
		if ((*out = strdup(json_string_value(v))) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		return HKMS_OK;
	}
	if (!json_is_array(v))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "%s must be a string or an array of strings", name);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    strchr(json_string_value(e), ',') != NULL)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "%s[%zu] must be a non-empty "
			    "string without ','", name, i);
		n += json_string_length(e) + 1;
	}
	if ((s = malloc(n + 1)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	s[0] = '\0';
	len = 0;
	json_array_foreach(v, i, e) {
		if (i > 0)
			s[len++] = ',';
		memcpy(s + len, json_string_value(e), json_string_length(e));
		len += json_string_length(e);
	}
	s[len] = '\0';
	*out = s;
	return HKMS_OK;
}

static enum hkms_rc
get_strv(const char *name, json_t *v, const char ***out, struct hkms_err *err)
{
	const char **vec;
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "%s must be an array of strings", name);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "%s[%zu] must be a string", name,
			    i);
	if ((vec = calloc(json_array_size(v) + 1, sizeof(*vec))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_array_foreach(v, i, e)
		vec[i] = json_string_value(e);
	*out = vec;
	return HKMS_OK;
}

static enum hkms_rc
get_field(const struct hkms_body_field *f, json_t *v, void *out,
    struct hkms_err *err)
{
	char *dst = (char *)out + f->offset;
	json_int_t n;

	switch (f->type) {
	case HKMS_BODY_STRING:
	case HKMS_BODY_SECRET:
		if (!json_is_string(v))
			break;
		*(const char **)(void *)dst = json_string_value(v);
		return HKMS_OK;
	case HKMS_BODY_INT:
		if (!json_is_integer(v))
			break;
		n = json_integer_value(v);
		if (n < f->min || n > f->max)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "%s must be %lld..%lld", f->name,
			    f->min, f->max);
		*(int *)(void *)dst = (int)n;
		return HKMS_OK;
	case HKMS_BODY_BOOL:
		if (!json_is_boolean(v))
			break;
		*(int *)(void *)dst = json_is_true(v);
		return HKMS_OK;
	case HKMS_BODY_LIST:
		return get_list(f->name, v, (char **)(void *)dst, err);
	case HKMS_BODY_STRV:
		return get_strv(f->name, v, (const char ***)(void *)dst, err);
	case HKMS_BODY_BYTES:
		if (!json_is_string(v))
			break;
		return get_bytes(f->name, v, (struct hkms_body_bytes *)(void *)
		    dst, err);
	case HKMS_BODY_OBJECT:
		if (!json_is_object(v))
			break;
		*(json_t **)(void *)dst = v;
		return HKMS_OK;
	}
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field", "%s must "
	    "be %s", f->name, f->type == HKMS_BODY_INT ? "an integer" :
	    f->type == HKMS_BODY_BOOL ? "true or false" :
	    f->type == HKMS_BODY_OBJECT ? "an object" : "a string");
}

enum hkms_rc
hkms_http_body_parse(const struct hkms_body_schema *schema,
    const char *content_type, const unsigned char *body, size_t len,
    void *out, struct hkms_err *err)
{
	struct hkms_body_head *h = out;
	const struct hkms_body_field *f;
	json_error_t je;
	const char *key;
	enum hkms_rc rc;
	json_t *v;
	size_t i;

	if (schema == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no body schema");
	memset(out, 0, schema->size);
	if (len == 0 || body == NULL)
		h->doc = json_object();
	else {
		if ((rc = media_ok(content_type, err)) != HKMS_OK)
			return rc;
		h->doc = json_loadb((const char *)body, len,
		    JSON_REJECT_DUPLICATES, &je);
		if (h->doc == NULL) {
			/* jansson's text ends in "near '<the token so far>'",
			 * which may be a passphrase: never echoed */
			const char *near = strstr(je.text, " near ");

			return hkms_err_setc(err, HKMS_E_INVALID, "bad_json",
			    "the request body is not JSON: %.*s (line %d, "
			    "column %d)", near ? (int)(near - je.text) :
			    (int)strlen(je.text), je.text, je.line, je.column);
		}
	}
	if (h->doc == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (!json_is_object(h->doc)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_json", "the "
		    "request body must be a JSON object");
		goto fail;
	}
	json_object_foreach(h->doc, key, v) {
		for (f = schema->fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "unknown_field", "unknown field '%.60s'", key);
			goto fail;
		}
	}
	for (i = 0, f = schema->fields; f->name != NULL; f++, i++) {
		v = json_object_get(h->doc, f->name);
		if (v == NULL || json_is_null(v)) {
			if (f->required) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "invalid_field", "%s is required", f->name);
				goto fail;
			}
			continue;
		}
		if ((rc = get_field(f, v, out, err)) != HKMS_OK)
			goto fail;
		h->seen |= 1ul << i;
	}
	return HKMS_OK;
fail:
	hkms_http_body_free(schema, out);
	return rc;
}

void
hkms_http_body_free(const struct hkms_body_schema *schema, void *out)
{
	struct hkms_body_head *h = out;
	const struct hkms_body_field *f;
	struct hkms_body_bytes *b;
	char *dst;

	if (schema == NULL || out == NULL)
		return;
	for (f = schema->fields; f->name != NULL; f++) {
		dst = (char *)out + f->offset;
		switch (f->type) {
		case HKMS_BODY_STRV:
			free(*(void **)(void *)dst);
			break;
		case HKMS_BODY_LIST:
			free(*(char **)(void *)dst);
			break;
		case HKMS_BODY_BYTES:
			b = (struct hkms_body_bytes *)(void *)dst;
			if (b->data != NULL)
				OPENSSL_cleanse(b->data, b->len);
			free(b->data);
			break;
		default:
			break;
		}
	}
	wipe_secrets(schema, h->doc);
	json_decref(h->doc);
	memset(out, 0, schema->size);
}

int
hkms_http_body_has(const struct hkms_body_schema *schema, const void *out,
    const char *name)
{
	const struct hkms_body_head *h = out;
	const struct hkms_body_field *f;
	size_t i;

	for (i = 0, f = schema->fields; f->name != NULL; f++, i++)
		if (strcmp(f->name, name) == 0)
			return (h->seen >> i) & 1;
	return 0;
}
