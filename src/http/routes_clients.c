/*
 * The clients' routes (/v1/clients...): placeholder table until the
 * clients operations land; they replace this file.
 */
#include <stddef.h>

#include "http_int.h"

const struct hkms_http_route hkms_http_routes_clients[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
