/*
 * The revocation routes: OCSP (RFC 6960) and the public CRL routes: issue 14.
 */
#include "http_int.h"

const struct hkms_http_route hkms_http_routes_ocsp[] = {
	{ NULL, NULL, 0, NULL, NULL }
};
