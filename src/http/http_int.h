/*
 * The HTTPS face (hkms serve): the contract between the server
 * (server.c: libmicrohttpd + GnuTLS, the TLS key in the token, limits,
 * signals, sealed start) and the routes (routes*.c: one handler per
 * route of docs/api.yaml, JSON in and out over src/ops).
 *
 * A handler sees a parsed request (body complete and within max_body,
 * the principal already authenticated for a non-public route) and fills a
 * response; it never touches libmicrohttpd, so handlers are unit-tested
 * and fuzzed without a socket. Like the CLI, this face includes neither
 * hkms/hsm.h nor hkms/store.h (tests/lint/layering.sh).
 */
#ifndef HKMS_HTTP_INT_H
#define HKMS_HTTP_INT_H

#include <stddef.h>

#include <jansson.h>

#include "hkms/error.h"
#include "hkms/service.h"

#define HKMS_HTTP_MAX_PARAMS 4		/* {name} segments in a pattern */
#define HKMS_HTTP_PARAM_BUF 512		/* decoded {name} values, together */
#define HKMS_HTTP_RESP_HEADERS 6	/* extra response headers (ACME,
					 * issue 17a: Replay-Nonce,
					 * Location, 2 Link, Retry-After) */

struct hkms_http_query {
	const char *key;
	const char *value;		/* "" for a bare ?key */
};

struct hkms_http_req {
	const char *method;		/* "GET", "POST", "PATCH", ... */
	const char *path;		/* path as sent (percent-encoded), no
					 * query string */
	const struct hkms_http_query *query;
	size_t nquery;
	const char *accept;		/* Accept header, or NULL */
	const char *content_type;	/* Content-Type header, or NULL */
	const char *host;		/* Host header, or NULL (ACME builds
					 * its URLs from it) */
	const unsigned char *body;	/* complete body (NULL if none) */
	size_t body_len;
	struct hkms_service *svc;
	const struct hkms_principal *principal;	/* never NULL: an anonymous
					 * client (clearance none) on a
					 * public route */
	const char *actor;		/* audit actor: "client:<sha256>",
					 * "anonymous" */
	const char *params[HKMS_HTTP_MAX_PARAMS];	/* {name} values,
					 * URL-decoded, in pattern order */
	size_t nparams;
	char param_buf[HKMS_HTTP_PARAM_BUF];	/* storage of params (filled
					 * by hkms_http_route_match) */
	/* EST (issue 17b): the Authorization header (NULL if none) and the
	 * TLS peer's certificates (DER, leaf first; npeer 0: none), also
	 * on a public route, where the server does not authenticate them */
	const char *authorization;
	const unsigned char *const *peer_der;
	const size_t *peer_len;
	size_t npeer;
	/* the web console (issue 16a): the request's live session (its
	 * hkms_session cookie, checked against the authenticated
	 * certificate), NULL if none */
	const struct hkms_ops_session *session;
};

struct hkms_http_resp {
	int status;			/* HTTP status */
	char content_type[80];		/* "" = application/json */
	unsigned char *body;		/* malloc'd, owned by the response */
	size_t body_len;
	char filename[128];		/* Content-Disposition attachment
					 * name, "" = none */
	char error_code[48];		/* the error's machine code, for the
					 * request log and metrics; "" = ok */
	/* more response headers (EST, issue 17b: WWW-Authenticate,
	 * Content-Transfer-Encoding): "" = unused; set with
	 * hkms_http_resp_header() */
	char hdr_name[HKMS_HTTP_RESP_HEADERS][40];
	char hdr_value[HKMS_HTTP_RESP_HEADERS][512];	/* 512: an ACME
					 * Location or Link URL */
};

/** resp becomes err as an ACME problem document (application/problem+
 *  json: type, detail, status; routes_acme.c). The server uses it too for
 *  the errors it answers under /acme/ before a route runs. */
void hkms_http_acme_problem(struct hkms_http_resp *resp,
    const struct hkms_err *err);

/** Add a response header (copied; too long or too many: dropped). */
void hkms_http_resp_header(struct hkms_http_resp *resp, const char *name,
    const char *value);

/* route flags */
#define HKMS_ROUTE_PUBLIC	0x1	/* no client certificate needed */
#define HKMS_ROUTE_SEALED_OK	0x2	/* answers while sealed (health) */
#define HKMS_ROUTE_TOKEN	0x4	/* needs the token (503 while down) */
#define HKMS_ROUTE_PLAIN	0x8	/* also served by the plain-HTTP
					 * [server] public_listen (CRLs, CA
					 * certificates, OCSP); public only */

typedef void (*hkms_http_handler)(struct hkms_http_req *req,
    struct hkms_http_resp *resp);

struct hkms_http_route {
	const char *method;
	const char *pattern;		/* "/v1/cas/{name}/sign" */
	unsigned flags;			/* HKMS_ROUTE_* */
	const char *clearance;		/* least clearance, as documented in
					 * docs/api.yaml (x-hkms-clearance):
					 * "public", "user", "operator",
					 * "admin" */
	hkms_http_handler fn;
};

/** The route tables, each ended by a row with method NULL, matched in
 *  the order below: the server's own (routes_server.c: /v1/health,
 *  /metrics), the clients' (routes_clients.c: /v1/clients...), those of
 *  one area each (routes_<area>.c), and every other route (routes.c).
 *  docs/api.yaml lists exactly their union (x-hkms-table: the area). */
extern const struct hkms_http_route hkms_http_routes_server[];
extern const struct hkms_http_route hkms_http_routes_clients[];
/* the service certificate: /v1/service/certificate... (routes_service.c) */
extern const struct hkms_http_route hkms_http_routes_service[];
/* revocation and OCSP: /ocsp..., CRL routes (routes_ocsp.c) */
extern const struct hkms_http_route hkms_http_routes_ocsp[];
/* ACME, RFC 8555: /acme/{ca}/... (routes_acme.c) */
extern const struct hkms_http_route hkms_http_routes_acme[];
/* EST, RFC 7030: /.well-known/est/{ca}/... (routes_est.c) */
extern const struct hkms_http_route hkms_http_routes_est[];
/* the web console's sessions and TOTP: /v1/session... (routes_session.c,
 * issue 16a) */
extern const struct hkms_http_route hkms_http_routes_session[];
/* the web console's static files: /ui/... (routes_ui.c, issue 16b) */
extern const struct hkms_http_route hkms_http_routes_ui[];
extern const struct hkms_http_route hkms_http_routes[];

/** Find the route for method and path, filling req->params (decoded
 *  into req->param_buf). path is the request path as sent, without the
 *  query (percent-encoding intact: each segment is decoded after the
 *  split, so %2F stays inside a {name}); a {name} that decodes to
 *  nothing, or to a '/' or NUL, matches no route. A last segment
 *  {name*} takes the rest of the path as sent (slashes and escapes kept,
 *  not decoded; not empty). NULL when none;
 *  *path_known is set when the path matched under another method (405
 *  instead of 404). */
const struct hkms_http_route *hkms_http_route_match(const char *method,
    const char *path, struct hkms_http_req *req, int *path_known);

/** Run a matched route's handler (the server calls this after
 *  authentication); fills resp, always. */
void hkms_http_dispatch(const struct hkms_http_route *route,
    struct hkms_http_req *req, struct hkms_http_resp *resp);

/** resp = obj as JSON with status (steals obj). */
void hkms_http_resp_json(struct hkms_http_resp *resp, int status, json_t *obj);

/** resp = the error envelope (hkms_err_json) with the registry's status
 *  (hkms_err_http_status); checks borrowed, may be NULL. */
void hkms_http_resp_error(struct hkms_http_resp *resp,
    const struct hkms_err *err, json_t *checks);

/** resp = bytes with a content type (copied). */
void hkms_http_resp_bytes(struct hkms_http_resp *resp, int status,
    const char *content_type, const void *data, size_t len);

void hkms_http_resp_free(struct hkms_http_resp *resp);

/** The value of query key, or NULL. */
const char *hkms_http_query_get(const struct hkms_http_req *req,
    const char *key);

#endif
