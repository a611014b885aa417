/*
 * http_routes: print the route tables the server really has (the
 * server's, the clients' and the rest, in matching order) as JSON, for
 * tests/lint/api_routes.py, which compares them with docs/api.yaml:
 *
 *	[{"method","path","clearance","public","token","sealed_ok",
 *	  "table"}, ...]
 *
 * Linked with hkms_http; touches no token, store or network.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "http_int.h"

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
	json_t *arr = json_array();
	char *s;

	if (arr == NULL || add(arr, hkms_http_routes_server, "server") != 0 ||
	    add(arr, hkms_http_routes_clients, "clients") != 0 ||
	    add(arr, hkms_http_routes, "routes") != 0 ||
	    (s = json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		fprintf(stderr, "http_routes: out of memory\n");
		return 1;
	}
	printf("%s\n", s);
	free(s);
	json_decref(arr);
	return 0;
}
