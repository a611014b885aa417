/*
 * The web console's sessions and TOTP second factor: /v1/session...
 * (issue 16a).
 */
#include <stddef.h>

#include "routes_int.h"

const struct hkms_http_route hkms_http_routes_session[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
