/*
 * http_routes: print the route tables the server really has (the
 * server's, the clients' and the rest, in matching order) and the request
 * body schemas of the routes (src/http/body.c) as JSON, for
 * tests/lint/api_routes.py, which compares them with docs/api.yaml:
 *
 *	{"routes": [{"method","path","clearance","public","token",
 *	  "sealed_ok","table"}, ...],
 *	 "bodies": [{"name": "ca.sign", "fields": [{"name","type",
 *	  "required","min","max"}, ...]}, ...]}
 *
 * Linked with hkms_http; touches no token, store or network.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "routes_int.h"

static const char *
type_name(enum hkms_body_type t)
{
	switch (t) {
	case HKMS_BODY_STRING: return "string";
	case HKMS_BODY_SECRET: return "secret";
	case HKMS_BODY_INT: return "integer";
	case HKMS_BODY_BOOL: return "boolean";
	case HKMS_BODY_LIST: return "list";
	case HKMS_BODY_STRV: return "array";
	case HKMS_BODY_BYTES: return "bytes";
	case HKMS_BODY_OBJECT: return "object";
	}
	return "?";
}

static json_t *
bodies(void)
{
	const struct hkms_body_schema *const *s;
	const struct hkms_body_field *f;
	json_t *arr = json_array(), *fields, *o;

	for (s = hkms_http_body_schemas; arr != NULL && *s != NULL; s++) {
		if ((fields = json_array()) == NULL)
			return NULL;
		for (f = (*s)->fields; f->name != NULL; f++) {
			o = json_pack("{s:s,s:s,s:b}", "name", f->name, "type",
			    type_name(f->type), "required", f->required);
			if (o != NULL && f->type == HKMS_BODY_INT) {
				json_object_set_new(o, "min",
				    json_integer(f->min));
				json_object_set_new(o, "max",
				    json_integer(f->max));
			}
			json_array_append_new(fields, o);
		}
		json_array_append_new(arr, json_pack("{s:s,s:o}", "name",
		    (*s)->name, "fields", fields));
	}
	return arr;
}

static int
add(json_t *arr, const struct hkms_http_route *t, const char *table)
{
	for (; t->method != NULL; t++)
		if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s?,s:b,"
		    "s:b,s:b,s:s}", "method", t->method, "path", t->pattern,
		    "clearance", t->clearance,
		    "public", (t->flags & HKMS_ROUTE_PUBLIC) != 0,
		    "token", (t->flags & HKMS_ROUTE_TOKEN) != 0,
		    "sealed_ok", (t->flags & HKMS_ROUTE_SEALED_OK) != 0,
		    "table", table)) != 0)
			return -1;
	return 0;
}

int
main(void)
{
	json_t *arr = json_array(), *b = bodies(), *doc;
	char *s;

	if (arr == NULL || b == NULL ||
	    add(arr, hkms_http_routes_server, "server") != 0 ||
	    add(arr, hkms_http_routes_clients, "clients") != 0 ||
	    add(arr, hkms_http_routes_service, "service") != 0 ||
	    add(arr, hkms_http_routes_ocsp, "ocsp") != 0 ||
	    add(arr, hkms_http_routes_acme, "acme") != 0 ||
	    add(arr, hkms_http_routes_est, "est") != 0 ||
	    /* issue 16a */
	    add(arr, hkms_http_routes_session, "session") != 0 ||
	    add(arr, hkms_http_routes_ui, "ui") != 0 ||	/* issue 16b */
	    add(arr, hkms_http_routes, "routes") != 0 ||
	    (doc = json_pack("{s:o,s:o}", "routes", arr, "bodies", b)) ==
	    NULL ||
	    (s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		fprintf(stderr, "http_routes: out of memory\n");
		return 1;
	}
	printf("%s\n", s);
	free(s);
	json_decref(doc);
	return 0;
}
