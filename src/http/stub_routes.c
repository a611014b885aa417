/*
 * TEMPORARY STUB (issue 12, server branch): the route matcher, dispatcher
 * and the empty main route table, until the routes helper's routes.c
 * lands. The lead deletes this file at merge. Only the server's own
 * routes (routes_server.c) and the clients' placeholder table are
 * matched, exactly, with no {name} segments.
 */
#include <stddef.h>
#include <string.h>

#include "http_int.h"

const struct hkms_http_route hkms_http_routes[] = {
	{ NULL, NULL, 0, NULL, NULL }
};

const struct hkms_http_route *
hkms_http_route_match(const char *method, const char *path,
    struct hkms_http_req *req, int *path_known)
{
	const struct hkms_http_route *tables[] = { hkms_http_routes_server,
	    hkms_http_routes_clients, hkms_http_routes };
	size_t t;
	const struct hkms_http_route *r;

	*path_known = 0;
	req->nparams = 0;
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (r = tables[t]; r->method != NULL; r++) {
			if (strcmp(r->pattern, path) != 0)
				continue;
			if (strcmp(r->method, method) == 0)
				return r;
			*path_known = 1;
		}
	return NULL;
}

void
hkms_http_dispatch(const struct hkms_http_route *route,
    struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	route->fn(req, resp);
}
