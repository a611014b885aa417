/*
 * EST (RFC 7030) at /.well-known/est/{ca}/...: issue 17.
 */
#include "http_int.h"

const struct hkms_http_route hkms_http_routes_est[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
