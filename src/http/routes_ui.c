/*
 * The web console's static files: /ui/...
 * (issue 16b).
 */
#include <stddef.h>

#include "routes_int.h"

const struct hkms_http_route hkms_http_routes_ui[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
