/*
 * The service certificate routes (/v1/service/certificate...): issue 13.
 */
#include "http_int.h"

const struct hkms_http_route hkms_http_routes_service[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
