/*
 * The server's own routes (/v1/health, /metrics): placeholder table until
 * the server lands; it replaces this file.
 */
#include <stddef.h>

#include "http_int.h"

const struct hkms_http_route hkms_http_routes_server[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
