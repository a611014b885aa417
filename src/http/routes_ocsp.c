/*
 * The revocation routes: OCSP (RFC 6960) and the public CRL routes: issue 14.
 *
 * OCSP is one responder for every hkms CA (the issuer is found by the
 * request's CertID, src/ops/ocsp.c): POST /ocsp with the DER request
 * (application/ocsp-request), and GET /ocsp/{request*} with its base64
 * (RFC 6960 appendix A.1: the URL-encoding of the base64, whose '/' may
 * also come unencoded, so the rest of the path is taken as sent). Both
 * are public, and also served on the plain-HTTP public_listen. The
 * answer is always 200 application/ocsp-response, an OCSP error status
 * included (malformedRequest, unauthorized, tryLater); only a refused
 * method, media type or size is an HTTP error.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "routes_int.h"

#define OCSP_MAX 8192	/* HKMS_OCSP_MAX_REQUEST */

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The DER of a GET's path tail: percent-decoded, then base64 (standard
 * or URL-safe alphabet, padding optional). -1 if it is neither. */
static int
get_request_der(const char *tail, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(tail), i, k = 0, pad;
	unsigned char *der = NULL;
	char *b = NULL;
	int hi, lo, len;

	if (n == 0 || n > 2 * OCSP_MAX || (b = malloc(n + 4)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		int ch = (unsigned char)tail[i];

		if (ch == '%') {
			if (i + 2 >= n || (hi = hexval(tail[i + 1])) < 0 ||
			    (lo = hexval(tail[i + 2])) < 0)
				goto bad;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		    ch == '='))
			goto bad;
		b[k++] = (char)ch;
	}
	while (k % 4 != 0)
		b[k++] = '=';
	b[k] = '\0';
	for (pad = 0; pad < k && b[k - 1 - pad] == '='; pad++)
		;
	if (pad > 2 || (der = malloc(k / 4 * 3 + 1)) == NULL)
		goto bad;
	if ((len = EVP_DecodeBlock(der, (unsigned char *)b, (int)k)) < 0 ||
	    (size_t)len < pad)
		goto bad;
	free(b);
	*out = der;
	*outlen = (size_t)len - pad;
	return 0;
bad:
	free(b);
	free(der);
	return -1;
}

static void
answer(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const unsigned char *der, size_t len)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *out = NULL;
	size_t outlen = 0;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_WANT_TOKEN, &c) != 0)
		return;
	rc = hkms_ops_ocsp_respond(&c, der, len, &out, &outlen, NULL, &err);
	if (rc != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		return;
	}
	hkms_http_resp_bytes(resp, 200, "application/ocsp-response", out,
	    outlen);
	free(out);
}

/* POST /ocsp (public): the DER OCSPRequest as the body */
static void
route_ocsp_post(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	const char *ct = req->content_type;
	size_t n = strlen("application/ocsp-request");

	if (ct == NULL || strncasecmp(ct, "application/ocsp-request", n) !=
	    0 || (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ')) {
		hkms_err_setc(&err, HKMS_E_INVALID, "unsupported_media_type",
		    "an OCSP request is sent as %s", "application/ocsp-request");
		hkms_http_resp_error(resp, &err, NULL);
		return;
	}
	answer(req, resp, req->body, req->body_len);
}

/* GET /ocsp/{request*} (public): the base64 of the DER OCSPRequest */
static void
route_ocsp_get(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	unsigned char *der = NULL;
	size_t len = 0;

	/* a tail that is no base64 is a malformed OCSP request, answered
	 * as one (the operation refuses the empty input) */
	if (get_request_der(req->params[0], &der, &len) != 0) {
		answer(req, resp, NULL, 0);
		return;
	}
	answer(req, resp, der, len);
	free(der);
}

#define PUB (HKMS_ROUTE_PUBLIC | HKMS_ROUTE_PLAIN)

const struct hkms_http_route hkms_http_routes_ocsp[] = {
	{ "POST", "/ocsp", PUB, "public", route_ocsp_post },
	{ "GET", "/ocsp/{request*}", PUB, "public", route_ocsp_get },
	{ NULL, NULL, 0, NULL, NULL }
};

#undef PUB
