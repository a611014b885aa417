/*
 * Responses and queries of the HTTPS face: JSON bodies, the error envelope
 * with the registry's status, raw bytes (exports), and query lookup.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

static void
resp_reset(struct hkms_http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->content_type[0] = '\0';
	resp->filename[0] = '\0';
	resp->error_code[0] = '\0';
}

void
hkms_http_resp_json(struct hkms_http_resp *resp, int status, json_t *obj)
{
	char *s;

	resp_reset(resp);
	s = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY) : NULL;
	json_decref(obj);
	if (s == NULL) {
		static const char oom[] = "{\"error\":{\"code\":\"out_of_memory\","
		    "\"message\":\"out of memory\"}}";

		resp->status = 503;
		snprintf(resp->error_code, sizeof(resp->error_code),
		    "out_of_memory");
		if ((resp->body = malloc(sizeof(oom))) != NULL) {
			memcpy(resp->body, oom, sizeof(oom) - 1);
			resp->body_len = sizeof(oom) - 1;
		}
		return;
	}
	resp->status = status;
	resp->body_len = strlen(s);
	resp->body = (unsigned char *)s;
	snprintf(resp->content_type, sizeof(resp->content_type),
	    "application/json");
}

void
hkms_http_resp_error(struct hkms_http_resp *resp, const struct hkms_err *err,
    json_t *checks)
{
	hkms_http_resp_json(resp, hkms_err_http_status(err),
	    hkms_err_json(err, checks));
	if (resp->error_code[0] == '\0')
		snprintf(resp->error_code, sizeof(resp->error_code), "%s",
		    hkms_err_code(err));
}

void
hkms_http_resp_bytes(struct hkms_http_resp *resp, int status,
    const char *content_type, const void *data, size_t len)
{
	resp_reset(resp);
	if ((resp->body = malloc(len ? len : 1)) == NULL) {
		struct hkms_err e = { HKMS_E_NOMEM, "", "out of memory" };

		hkms_http_resp_error(resp, &e, NULL);
		return;
	}
	memcpy(resp->body, data, len);
	resp->body_len = len;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s",
	    content_type);
}

void
hkms_http_resp_free(struct hkms_http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

void
hkms_http_resp_header(struct hkms_http_resp *resp, const char *name,
    const char *value)
{
	size_t i;

	if (strlen(name) >= sizeof(resp->hdr_name[0]) ||
	    strlen(value) >= sizeof(resp->hdr_value[0]))
		return;
	for (i = 0; i < HKMS_HTTP_RESP_HEADERS; i++)
		if (resp->hdr_name[i][0] == '\0') {
			snprintf(resp->hdr_name[i], sizeof(resp->hdr_name[i]),
			    "%s", name);
			snprintf(resp->hdr_value[i],
			    sizeof(resp->hdr_value[i]), "%s", value);
			return;
		}
}

const char *
hkms_http_query_get(const struct hkms_http_req *req, const char *key)
{
	size_t i;

	for (i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}
