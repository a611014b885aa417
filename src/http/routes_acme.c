/*
 * ACME (RFC 8555) at /acme/{ca}/...: issue 17.
 */
#include "http_int.h"

const struct hkms_http_route hkms_http_routes_acme[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
