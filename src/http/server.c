/*
 * hkms serve: libmicrohttpd with GnuTLS, the TLS key in the token (tls.c).
 *
 * A request: its body is collected up to [limits] max_body (413 beyond),
 * its path and query (decoded by libmicrohttpd) matched against the route
 * tables (404/405), refused while sealed (503) unless the route answers
 * sealed, authenticated by its client certificate chain unless public
 * (401/403), dispatched to its handler, answered with the security
 * headers, logged as one JSON line and counted.
 *
 * Threads: libmicrohttpd's epoll thread pool ([server] io_threads; 0 =
 * one per core: io_thread_count) runs handshakes and I/O, never a
 * handler; the handlers run on a pool of workers of our own ([server]
 * threads; 0 = 8 per core, 16..64: thread_count; "the handler workers"
 * below). The main thread blocks every signal (both pools inherit the
 * mask) and serves a signalfd and the unseal socket: SIGTERM/SIGINT stop
 * accepting, wait for in-flight requests, exit; SIGHUP reloads the
 * config's limits, the client
 * CA trust (a new listener on the same socket when it changed) and the
 * service certificate. No work runs in a signal handler: there is none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms_server.h"
#include "http_int.h"
#include "server_int.h"
#include "ui_files.h"

#define MAX_QUERY 32
#define OVERFLOW_SLOTS 32	/* connections past max_connections that
				 * are answered 429 before MHD refuses */

static struct hkms_server_state state;
static struct hkms_server_state *running;

/* the listeners: one per daemon (a reload's new daemon gets its own),
 * handed to each callback as the cls of its daemon. The plain-HTTP one
 * ([server] public_listen) serves only the routes flagged
 * HKMS_ROUTE_PLAIN, and counts its connections apart (a flood of
 * relying parties does not take the API's connection slots). held is
 * only used under pool.mu (see "the handler workers"). */
struct listener {
	int plain;
	atomic_int *open;
	int held;		/* its requests suspended for a worker */
	atomic_int closing;	/* about to be stopped: no new job */
};
static atomic_int plain_open;
static struct listener *tls_ls, *plain_ls;	/* only the main loop
						 * writes them */
static struct MHD_Daemon *plain_d;	/* only the main loop writes it */

/* what SIGHUP may change without a restart: max_body at once; the
 * connection limits, per-IP limit, connection memory and timeout by a new
 * listener on the same socket (lim: what the current listener runs with;
 * only the main loop writes it) */
static atomic_long max_body;
static atomic_int max_conns;
static struct hkms_config lim;

struct hkms_server_state *
hkms_server_current(void)
{
	return running;
}

struct conn_ctx {
	int overflow;		/* opened past max_connections: 429 */
};

struct req_ctx {
	struct timespec t0;
	unsigned char *body;
	size_t len, cap;
	int too_large;
	int drain;		/* too large, but read and dropped before
				 * the 413 (see access_cb) */
	int answered;		/* a response is queued: discard the rest */
	int counted;		/* in_flight raised */
	/* handed to a worker (access_cb): the connection is suspended
	 * from the job's queueing until the worker resumes it; the worker
	 * alone touches these in between, the I/O thread after */
	int ready;		/* resp, route and thumb are the answer */
	struct req_ctx *next;	/* in the queue */
	struct MHD_Connection *conn;
	const char *method, *url;	/* MHD's, valid for the request */
	struct listener *ls;
	struct hkms_http_resp resp;
	const char *route;
	char thumb[65];
	char meth[16];		/* method, for a line logged by
				 * completed_cb (MHD's may be gone) */
};

static double
elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* free() that first wipes the whole block: request bodies (a client's
 * passphrase), response bodies (a PKCS#12 in base64) and every block
 * jansson frees while serving (the parsed and the dumped copies). Only
 * the size malloc knows is used, so blocks of plain malloc() mix freely. */
static void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* ---- responses ---- */

static enum MHD_Result
send_resp(struct MHD_Connection *conn, struct hkms_http_resp *r, int close,
    int plain)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	char cd[200];
	size_t i;

	mr = MHD_create_response_from_buffer_with_free_callback(r->body_len,
	    r->body, wipe_free);
	if (mr == NULL)
		return MHD_NO;
	r->body = NULL;		/* MHD frees it */
	r->body_len = 0;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
	    r->content_type[0] ? r->content_type : "application/json");
	if (r->filename[0] != '\0') {
		snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"",
		    r->filename);
		MHD_add_response_header(mr, "Content-Disposition", cd);
	}
	MHD_add_response_header(mr, "Cache-Control", "no-store");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	/* the web console (issue 16b): every answer, so no page of this
	 * origin runs foreign or inline script or is framed */
	MHD_add_response_header(mr, "Content-Security-Policy",
	    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
	    "form-action 'self'");
	MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	if (!plain)
		MHD_add_response_header(mr, "Strict-Transport-Security",
		    "max-age=31536000");
	/* the default Retry-After unless the route gave its own (the
	 * lockout of wrong TOTP codes, issue 16a) */
	for (i = 0; i < HKMS_HTTP_RESP_HEADERS; i++)
		if (strcasecmp(r->hdr_name[i], "Retry-After") == 0)
			break;
	if ((r->status == 429 || r->status == 503) &&
	    i == HKMS_HTTP_RESP_HEADERS)
		MHD_add_response_header(mr, "Retry-After", "1");
	for (i = 0; i < HKMS_HTTP_RESP_HEADERS; i++)
		if (r->hdr_name[i][0] != '\0')
			MHD_add_response_header(mr, r->hdr_name[i],
			    r->hdr_value[i]);
	if (close)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	ret = MHD_queue_response(conn, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

/* An error the server answers before any route runs: the JSON envelope,
 * or under /acme/ a problem document (RFC 8555 §6.7), which is what ACME
 * clients parse for every error. */
static void
pre_error(struct hkms_http_resp *r, const char *url, const struct hkms_err *e)
{
	if (url != NULL && strncmp(url, "/acme/", 6) == 0)
		hkms_http_acme_problem(r, e);
	else
		hkms_http_resp_error(r, e, NULL);
}

#define error_resp(r, rc, code, ...) do {				\
	struct hkms_err e_ = { 0 };					\
									\
	hkms_err_setc(&e_, rc, code, __VA_ARGS__);			\
	pre_error(r, url, &e_);						\
} while (0)

/* ---- the request log ---- */

static void
log_request(struct hkms_service *svc, const char *method, const char *route,
    const char *thumb, const struct hkms_http_resp *r, double secs)
{
	json_t *f;

	srv_metrics_request(method, route, r->status, secs);
	if (!hkms_log_enabled(hkms_service_log(svc), HKMS_LOG_INFO))
		return;
	f = json_pack("{s:s,s:s,s:i,s:f}", "method", method, "route", route,
	    "status", r->status, "duration_ms", secs * 1000.0);
	if (f == NULL)
		return;
	if (thumb != NULL && thumb[0] != '\0')
		json_object_set_new(f, "client", json_string(thumb));
	if (r->error_code[0] != '\0')
		json_object_set_new(f, "error", json_string(r->error_code));
	hkms_log_event(hkms_service_log(svc), HKMS_LOG_INFO, "http.request", f);
	json_decref(f);
}

/* ---- one request ---- */

struct query_acc {
	struct hkms_http_query q[MAX_QUERY];
	char *copy[2 * MAX_QUERY];	/* the decoded keys and values */
	size_t n, ncopy;
	int overflow;
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A copy of s with %XX decoded (a bad escape is kept as is, and so is
 * %00: a NUL would cut the value short, "5%00x" read as 5). */
static char *
pct_decode(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0 && (hexval(s[i + 1]) |
		    hexval(s[i + 2])) != 0) {
			d[o++] = (char)(hexval(s[i + 1]) * 16 +
			    hexval(s[i + 2]));
			i += 2;
		} else
			d[o++] = s[i];
	}
	d[o] = '\0';
	return d;
}

/* libmicrohttpd leaves the URL as sent (unescape_none): the routes split
 * the path at '/' first and decode each name (docs/api.md, "Paths"), and
 * the query is decoded here, once. */
static enum MHD_Result
query_it(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct query_acc *a = cls;
	char *k, *v;

	(void)kind;
	if (a->n == MAX_QUERY) {
		a->overflow = 1;
		return MHD_NO;
	}
	k = pct_decode(key);
	v = pct_decode(value ? value : "");
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		a->overflow = 1;
		return MHD_NO;
	}
	a->copy[a->ncopy++] = k;
	a->copy[a->ncopy++] = v;
	a->q[a->n].key = k;
	a->q[a->n].value = v;
	a->n++;
	return MHD_YES;
}

static size_t
unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

#define MAX_PEERS 16

/* The client certificate chain of the connection (DER, leaf first, at
 * most MAX_PEERS; borrowed from the TLS session); the count. */
static size_t
peer_chain(struct MHD_Connection *conn, const unsigned char **der,
    size_t *len)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers = NULL;
	unsigned n = 0, i;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL)
		peers = gnutls_certificate_get_peers(
		    (gnutls_session_t)ci->tls_session, &n);
	if (peers == NULL)
		n = 0;
	if (n > MAX_PEERS)
		n = MAX_PEERS;
	for (i = 0; i < n; i++) {
		der[i] = peers[i].data;
		len[i] = peers[i].size;
	}
	return n;
}

static enum hkms_rc
authenticate(struct MHD_Connection *conn, struct hkms_client_principal *cp,
    struct hkms_err *err)
{
	const unsigned char *der[MAX_PEERS];
	size_t len[MAX_PEERS], n;

	n = peer_chain(conn, der, len);
	return hkms_client_authenticate(state.svc, der, len, n, cp, err);
}

/* A state-changing method (CSRF and Origin checks, issue 16a). */
static int
unsafe_method(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* A non-GET/HEAD request whose Origin is not https://<Host>: refused
 * (browsers send Origin on such requests; curl and the CLI do not). */
static int
origin_foreign(struct MHD_Connection *conn, const char *method,
    const char *host)
{
	const char *o = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Origin");

	if (o == NULL || !unsafe_method(method))
		return 0;
	return host == NULL || strncmp(o, "https://", 8) != 0 ||
	    strcmp(o + 8, host) != 0;
}

/* The request's live session for the authenticated principal: the
 * hkms_session cookie, matched with the certificate's thumbprint, the
 * client and its TOTP enrolment; for a client that requires a second
 * factor, only a session opened with a code (one opened while it did
 * not require it is none). 1 and *s when there is one. */
static int
session_of(struct MHD_Connection *conn, struct hkms_client_principal *cp,
    struct hkms_ops_session *s)
{
	const char *id = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
	    "hkms_session");
	const char *tid = json_string_value(json_object_get(cp->reg,
	    "totp_id"));

	if (id == NULL || cp->p.name == NULL)
		return 0;
	return hkms_ops_session_lookup(id, cp->p.thumbprint, cp->p.name,
	    tid ? tid : "", s) && (!cp->p.require_2fa || s->second_factor);
}

/* X-CSRF-Token equals the session's token (constant time). */
static int
csrf_ok(struct MHD_Connection *conn, const struct hkms_ops_session *s)
{
	const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-CSRF-Token");

	return t != NULL && strlen(t) == strlen(s->csrf) &&
	    CRYPTO_memcmp(t, s->csrf, strlen(s->csrf)) == 0;
}

#ifdef HKMS_TEST_HOOKS
/* Test builds only: HKMS_TEST_HANDLER_LATCH=FILE holds each request of
 * the route whose pattern is HKMS_TEST_HANDLER_LATCH_ROUTE in its handler
 * (after making FILE.held) until FILE exists, at most 30 s: a request
 * that keeps its worker busy (tests/e2e/serve_workers.sh). */
static void
test_latch(const struct hkms_http_route *route)
{
	const char *f = getenv("HKMS_TEST_HANDLER_LATCH");
	const char *r = getenv("HKMS_TEST_HANDLER_LATCH_ROUTE");
	char held[4096];
	int i, fd;

	if (f == NULL || r == NULL || strcmp(r, route->pattern) != 0)
		return;
	snprintf(held, sizeof(held), "%s.held", f);
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	for (i = 0; i < 3000 && access(f, F_OK) != 0; i++)
		usleep(10000);
}
#endif

static void
handle(struct MHD_Connection *conn, const char *method, const char *url,
    struct req_ctx *rq, int overflow, int plain, struct hkms_http_resp *resp,
    const char **route_name, char *thumb, size_t thumb_len)
{
	struct hkms_http_req req;
	struct query_acc qa;
	const struct hkms_http_route *route;
	struct hkms_client_principal cp;
	struct hkms_principal anon;
	struct hkms_ops_session sess;
	struct hkms_err e = { 0 };
	const unsigned char *peer_der[MAX_PEERS];
	size_t peer_len[MAX_PEERS];
	int path_known = 0, authed = 0;

	memset(&req, 0, sizeof(req));
	memset(&cp, 0, sizeof(cp));
	*route_name = "unmatched";
	if (overflow) {
		error_resp(resp, HKMS_E_IN_USE, "too_many_requests",
		    "the server is at its connection limit (%s); retry later",
		    "max_connections");
		return;
	}
	if (rq->too_large) {
		error_resp(resp, HKMS_E_INVALID, "too_large",
		    "the request body is larger than %s", "max_body");
		return;
	}
	qa.n = 0;
	qa.ncopy = 0;
	qa.overflow = 0;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_it, &qa);
	if (qa.overflow) {
		error_resp(resp, HKMS_E_INVALID, "invalid_field",
		    "too many query parameters (at most %d)", MAX_QUERY);
		goto out;
	}
	req.method = method;
	req.path = url;
	req.query = qa.q;
	req.nquery = qa.n;
	req.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT);
	req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	req.body = rq->len ? rq->body : NULL;
	req.body_len = rq->len;
	req.svc = state.svc;
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	req.npeer = peer_chain(conn, peer_der, peer_len);
	req.peer_der = peer_der;
	req.peer_len = peer_len;
	route = hkms_http_route_match(method, url, &req, &path_known);
	/* plain HTTP: the public routes of relying parties, nothing else
	 * exists there (not even as 405) */
	if (plain) {
		path_known = 0;
		if (route != NULL && !(route->flags & HKMS_ROUTE_PLAIN))
			route = NULL;
	}
	if (route == NULL) {
		if (path_known)
			error_resp(resp, HKMS_E_INVALID, "method_not_allowed",
			    "the route does not take %s", method);
		else
			error_resp(resp, HKMS_E_NOT_FOUND, "route_not_found",
			    "no route for this path");
		goto out;
	}
	*route_name = route->pattern;
	if (!(route->flags & HKMS_ROUTE_SEALED_OK) &&
	    hkms_service_sealed(state.svc)) {
		error_resp(resp, HKMS_E_PIN, "sealed", "the server is sealed: "
		    "run %s on its host", "hkms unseal");
		if (hkms_http_ui_route(route)) {
			hkms_err_setc(&e, HKMS_E_PIN, "sealed", "the server is "
			    "sealed: run %s on its host", "hkms unseal");
			hkms_http_ui_refusal(&req, resp, &e);
		}
		goto out;
	}
	if (!plain && origin_foreign(conn, method, req.host)) {
		error_resp(resp, HKMS_E_DENIED, "cross_origin", "the request's "
		    "Origin is not this server's (%s)", "https://<Host>");
		goto out;
	}
	if (route->flags & HKMS_ROUTE_PUBLIC) {
		memset(&anon, 0, sizeof(anon));
		anon.kind = HKMS_PRINCIPAL_CLIENT;
		anon.name = "anonymous";
		anon.clearance = HKMS_CLEARANCE_NONE;
		req.principal = &anon;
		req.actor = "anonymous";
	} else {
		if (authenticate(conn, &cp, &e) != HKMS_OK) {
			snprintf(thumb, thumb_len, "%s", cp.p.thumbprint);
			if (hkms_http_ui_route(route))
				hkms_http_ui_refusal(&req, resp, &e);
			else
				hkms_http_resp_error(resp, &e, NULL);
			hkms_client_principal_free(&cp);
			goto out;
		}
		authed = 1;
		snprintf(thumb, thumb_len, "%s", cp.p.thumbprint);
		req.principal = &cp.p;
		req.actor = cp.actor;
		/* a live session of this certificate is its second factor;
		 * a state-changing request it authenticates carries the
		 * session's CSRF token (issue 16a) */
		if (session_of(conn, &cp, &sess)) {
			if (unsafe_method(method) && !csrf_ok(conn, &sess)) {
				error_resp(resp, HKMS_E_DENIED, "csrf_invalid",
				    "the request has a session cookie but not "
				    "its %s", "X-CSRF-Token");
				goto out;
			}
			cp.p.second_factor = 1;
			req.session = &sess;
		}
	}
	if (route->flags & HKMS_ROUTE_TOKEN) {
		struct hkms_ops_ctx c;

		if (hkms_service_ctx(state.svc, req.principal, req.actor,
		    HKMS_SERVICE_NEED_TOKEN, &c, &e) != HKMS_OK) {
			hkms_http_resp_error(resp, &e, NULL);
			goto out;
		}
	}
#ifdef HKMS_TEST_HOOKS
	test_latch(route);
#endif
	hkms_http_dispatch(route, &req, resp);
out:
	if (authed)
		hkms_client_principal_free(&cp);
	OPENSSL_cleanse(&sess, sizeof(sess));
	while (qa.ncopy > 0)
		free(qa.copy[--qa.ncopy]);
}

/* ---- the handler workers ----
 *
 * A request whose body is complete is not handled on the I/O thread that
 * owns its connection (libmicrohttpd's, which also runs the TLS and the
 * other connections it accepted): its connection is suspended and the
 * request queued for a worker of a fixed pool ([server] threads); the
 * worker runs handle() into rq->resp and resumes the connection, and the
 * I/O thread's next call of access_cb for the request sends that answer.
 * So a signing request waiting on the token and its group commit never
 * holds up another connection of its I/O thread (a /v1/health, a second
 * sign). A suspended connection is not timed out by libmicrohttpd (its
 * timeout restarts at the resume) and MHD_stop_daemon() must not see
 * one: jobs_close() empties a listener's jobs before its daemon stops.
 * Lock order: pool.mu, then libmicrohttpd's (MHD_suspend_connection
 * under pool.mu); MHD_resume_connection is called without pool.mu.
 * The worker that became idle last takes the next job (a stack of idle
 * workers, each waiting on its own condition variable): at low
 * concurrency the same few threads run every request with their caches
 * warm, instead of a round robin over all of them (measured: RSA c1
 * cost about 1 ms more server CPU per request with one shared
 * condition variable).
 */
struct worker_slot {
	pthread_t tid;
	pthread_cond_t cv;
	int woken;		/* popped from the idle stack for a job */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t drained;	/* a listener's held count fell to 0 */
	struct req_ctx *head, *tail;
	int waiting;		/* queued, not yet taken by a worker */
	int stop;
	int cap;		/* test hook: the queue's bound; -1 = none */
	struct worker_slot *slot;
	int *idle;		/* the idle workers, the last one on top */
	int nidle;
	int n;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
    0, 0, -1, NULL, NULL, 0, 0 };

static void
busy_resp(struct hkms_http_resp *r, const char *url, const char *why)
{
	error_resp(r, HKMS_E_IN_USE, "server_busy", "%s; retry later", why);
}

/* The job's answer is in rq->resp: back to its I/O thread. Neither rq
 * nor its connection is touched after the resume (the I/O thread may
 * answer and free both at once); the listener lives until its daemon is
 * stopped, which waits for held to fall to 0 (jobs_close). */
static void
job_done(struct req_ctx *rq)
{
	struct listener *ls = rq->ls;

	rq->ready = 1;
	MHD_resume_connection(rq->conn);
	pthread_mutex_lock(&pool.mu);
	if (--ls->held == 0)
		pthread_cond_broadcast(&pool.drained);
	pthread_mutex_unlock(&pool.mu);
}

static void *
worker(void *arg)
{
	struct worker_slot *w = arg;
	struct req_ctx *rq;

	for (;;) {
		pthread_mutex_lock(&pool.mu);
		while (pool.head == NULL && !pool.stop) {
			w->woken = 0;
			pool.idle[pool.nidle++] = (int)(w - pool.slot);
			while (!w->woken && !pool.stop)
				pthread_cond_wait(&w->cv, &pool.mu);
		}
		if ((rq = pool.head) == NULL) {
			pthread_mutex_unlock(&pool.mu);
			return NULL;
		}
		if ((pool.head = rq->next) == NULL)
			pool.tail = NULL;
		pool.waiting--;
		pthread_mutex_unlock(&pool.mu);
		handle(rq->conn, rq->method, rq->url, rq, 0, rq->ls->plain,
		    &rq->resp, &rq->route, rq->thumb, sizeof(rq->thumb));
		job_done(rq);
	}
}

/* Queue rq for a worker with its connection suspended: 1. 0 with a 503
 * server_busy in rq->resp, nothing queued: as many requests as
 * [limits] max_connections already wait for a busy worker (more cannot
 * come from the TLS listener alone), or the listener is closing. */
static int
job_submit(struct req_ctx *rq, struct MHD_Connection *conn,
    struct listener *ls, const char *method, const char *url)
{
	int cap = pool.cap >= 0 ? pool.cap : atomic_load(&max_conns);

	pthread_mutex_lock(&pool.mu);
	if (atomic_load(&ls->closing) || pool.stop || pool.n == 0 ||
	    pool.waiting >= pool.nidle + cap) {
		int closing = atomic_load(&ls->closing) || pool.stop;

		pthread_mutex_unlock(&pool.mu);
		busy_resp(&rq->resp, url, closing ? "the server is stopping" :
		    "every request handler is busy and the queue is full");
		return 0;
	}
	rq->conn = conn;
	rq->method = method;
	rq->url = url;
	rq->ls = ls;
	rq->route = "unmatched";
	rq->next = NULL;
	snprintf(rq->meth, sizeof(rq->meth), "%s", method);
	/* suspended before a worker can see it: its resume must never
	 * come first */
	MHD_suspend_connection(conn);
	if (pool.tail != NULL)
		pool.tail->next = rq;
	else
		pool.head = rq;
	pool.tail = rq;
	pool.waiting++;
	ls->held++;
	if (pool.nidle > 0) {
		struct worker_slot *w = &pool.slot[pool.idle[--pool.nidle]];

		w->woken = 1;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&pool.mu);
	return 1;
}

/* ls's daemon is about to be stopped: no new job for it, its queued
 * ones are answered 503 server_busy, and those a worker runs are waited
 * for (a handler always returns). After it, none of its connections is
 * suspended. */
static void
jobs_close(struct listener *ls)
{
	struct req_ctx *rq, **pp, *cancel = NULL;

	pthread_mutex_lock(&pool.mu);
	atomic_store(&ls->closing, 1);
	pool.tail = NULL;
	for (pp = &pool.head; (rq = *pp) != NULL;) {
		if (rq->ls != ls) {
			pool.tail = rq;
			pp = &rq->next;
			continue;
		}
		*pp = rq->next;
		pool.waiting--;
		rq->next = cancel;
		cancel = rq;
	}
	pthread_mutex_unlock(&pool.mu);
	while ((rq = cancel) != NULL) {
		cancel = rq->next;
		busy_resp(&rq->resp, rq->url, "the server is stopping (or "
		    "replacing its listener)");
		job_done(rq);
	}
	pthread_mutex_lock(&pool.mu);
	while (ls->held > 0)
		pthread_cond_wait(&pool.drained, &pool.mu);
	pthread_mutex_unlock(&pool.mu);
}

static enum hkms_rc
pool_start(int n, struct hkms_err *err)
{
	int i, e = 0;
#ifdef HKMS_TEST_HOOKS
	const char *qm = getenv("HKMS_TEST_QUEUE_MAX");

	pool.cap = qm != NULL && qm[0] != '\0' ? atoi(qm) : -1;
#endif
	pool.slot = calloc((size_t)n, sizeof(*pool.slot));
	pool.idle = calloc((size_t)n, sizeof(*pool.idle));
	if (pool.slot == NULL || pool.idle == NULL) {
		free(pool.slot);
		free(pool.idle);
		pool.slot = NULL;
		pool.idle = NULL;
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	pool.stop = 0;
	pool.nidle = 0;
	/* the default stack, like libmicrohttpd's threads that ran the
	 * handlers before (only the pages touched count in the RSS) */
	for (i = 0; i < n; i++) {
		pthread_cond_init(&pool.slot[i].cv, NULL);
		if ((e = pthread_create(&pool.slot[i].tid, NULL, worker,
		    &pool.slot[i])) != 0) {
			pthread_cond_destroy(&pool.slot[i].cv);
			break;
		}
	}
	pool.n = i;
	if (i == 0) {
		free(pool.slot);
		free(pool.idle);
		pool.slot = NULL;
		pool.idle = NULL;
		return hkms_err_set(err, HKMS_E_INTERNAL,
		    "cannot start the request handlers: %s", strerror(e));
	}
	return HKMS_OK;
}

/* After every daemon stopped (the queue is empty): the workers end. */
static void
pool_stop(void)
{
	int i;

	pthread_mutex_lock(&pool.mu);
	pool.stop = 1;
	for (i = 0; i < pool.n; i++)
		pthread_cond_signal(&pool.slot[i].cv);
	pthread_mutex_unlock(&pool.mu);
	for (i = 0; i < pool.n; i++) {
		pthread_join(pool.slot[i].tid, NULL);
		pthread_cond_destroy(&pool.slot[i].cv);
	}
	free(pool.slot);
	free(pool.idle);
	pool.slot = NULL;
	pool.idle = NULL;
	pool.n = pool.nidle = 0;
}

#define DRAIN_MAX(limit) ((limit) * 8 < 16L * 1024 * 1024 ? \
	(limit) * 8 : 16L * 1024 * 1024)

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req_ctx *rq = *con_cls;
	struct listener *ls = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn_ctx *cc = NULL;
	const char *cl;
	long limit = atomic_load(&max_body);
	enum MHD_Result ret;
	int close = 0;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		rq->route = "unmatched";
		clock_gettime(CLOCK_MONOTONIC, &rq->t0);
		*con_cls = rq;
		atomic_fetch_add(&state.in_flight, 1);
		rq->counted = 1;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoll(cl, NULL, 10) > limit) {
			const char *ex = MHD_lookup_connection_value(conn,
			    MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

			rq->too_large = 1;
			/* A client that sends the body without waiting
			 * (no Expect: 100-continue) would lose an early
			 * 413 to the reset of a close with its body
			 * unread; a body up to 8 x max_body (16 MiB at
			 * most) is read and dropped first. Beyond that,
			 * or with Expect, the answer goes at once. */
			rq->drain = (ex == NULL || strcasecmp(ex,
			    "100-continue") != 0) &&
			    strtoll(cl, NULL, 10) <= DRAIN_MAX(limit);
		}
		if (!rq->too_large || rq->drain)
			return MHD_YES;
	}
	if (rq->drain && *upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0 && !rq->too_large) {
		if (rq->len + *upload_data_size > (size_t)limit) {
			/* a body without a Content-Length (chunked) grew
			 * past the limit: libmicrohttpd cannot answer in the
			 * middle of a body, and reading on would let the
			 * client stream forever, so the connection is cut */
			struct hkms_http_resp r413;

			memset(&r413, 0, sizeof(r413));
			error_resp(&r413, HKMS_E_INVALID, "too_large",
			    "the request body is larger than %s", "max_body");
			log_request(state.svc, method, "unmatched", "", &r413,
			    elapsed(&rq->t0));
			hkms_http_resp_free(&r413);
			return MHD_NO;
		} else {
			if (rq->len + *upload_data_size > rq->cap) {
				size_t nc = rq->cap ? rq->cap * 2 : 4096;
				unsigned char *nb;

				while (nc < rq->len + *upload_data_size)
					nc *= 2;
				if (nc > (size_t)limit)
					nc = (size_t)limit;
				if ((nb = realloc(rq->body, nc)) == NULL)
					return MHD_NO;
				rq->body = nb;
				rq->cap = nc;
			}
			memcpy(rq->body + rq->len, upload_data,
			    *upload_data_size);
			rq->len += *upload_data_size;
			*upload_data_size = 0;
			return MHD_YES;
		}
	}
	if (!rq->too_large && *upload_data_size > 0)
		return MHD_YES;
	ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL)
		cc = ci->socket_context;
	/* the body is complete: a worker handles the request (the
	 * connection suspended meanwhile) and this is called again once it
	 * resumed it, rq->ready; the refusals that need no route (too
	 * large, over max_connections) are answered here at once */
	if (rq->ready)
		;
	else if (rq->too_large || (cc && cc->overflow))
		handle(conn, method, url, rq, cc ? cc->overflow : 0, ls->plain,
		    &rq->resp, &rq->route, rq->thumb, sizeof(rq->thumb));
	else if (job_submit(rq, conn, ls, method, url))
		return MHD_YES;
	if (rq->resp.status == 0) {
		struct hkms_err e = { 0 };

		hkms_err_set(&e, HKMS_E_INTERNAL, "the handler gave no answer");
		hkms_http_resp_error(&rq->resp, &e, NULL);
	}
	/* a refused body is not read: the connection cannot be reused;
	 * an overflow connection is closed to make room */
	close = rq->too_large || (cc && cc->overflow) ||
	    atomic_load(&state.stopping) || atomic_load(&ls->closing);
	log_request(state.svc, method, rq->route, rq->thumb, &rq->resp,
	    elapsed(&rq->t0));
	ret = send_resp(conn, &rq->resp, close, ls->plain);
	rq->answered = 1;
	hkms_http_resp_free(&rq->resp);
	*upload_data_size = 0;
	return ret;
}

static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rq == NULL)
		return;
	/* answered by a worker but never sent: its client reset the
	 * connection while it was suspended (or the daemon stopped), and
	 * libmicrohttpd closed it without calling access_cb again. Its
	 * operation was done (a sign audited and stored): its line and its
	 * count here, so that every request handled has one
	 * (tests/e2e/attack_serve_workers.sh, "resets") */
	if (rq->ready && !rq->answered)
		log_request(state.svc, rq->meth, rq->route, rq->thumb, &rq->resp,
		    elapsed(&rq->t0));
	if (rq->counted)
		atomic_fetch_sub(&state.in_flight, 1);
	wipe_free(rq->body);
	/* answered by a worker but not sent (the daemon stopped) */
	wipe_free(rq->resp.body);
	free(rq);
	*con_cls = NULL;
}

static void
conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	const struct listener *ls = cls;
	struct conn_ctx *cc;
	int n;

	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		n = atomic_fetch_add(ls->open, 1) + 1;
		if ((cc = calloc(1, sizeof(*cc))) != NULL)
			cc->overflow = n > atomic_load(&max_conns);
		*socket_context = cc;
	} else {
		atomic_fetch_sub(ls->open, 1);
		free(*socket_context);
		*socket_context = NULL;
	}
}

/* libmicrohttpd's messages: its own printf-style format and arguments */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	hkms_log_msg(hkms_service_log(state.svc), HKMS_LOG_DEBUG, "http.mhd",
	    "%s", buf);
}

/* ---- the listener ---- */

static enum hkms_rc
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl,
    int *v6, struct hkms_err *err)
{
	char host[256];
	const char *colon;
	char *end;
	long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		goto bad;
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)
	    == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*sl = sizeof(struct sockaddr_in);
		*v6 = 0;
		return HKMS_OK;
	}
	if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*sl = sizeof(struct sockaddr_in6);
		*v6 = 1;
		return HKMS_OK;
	}
bad:
	return hkms_err_setc(err, HKMS_E_INVALID, "config_bad_value",
	    "listen address '%.100s' is not HOST:PORT with a numeric IPv4 or "
	    "[IPv6] address", s);
}

#define PRIORITIES "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:" \
	"+AES-128-GCM:+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ALL:" \
	"+COMP-NULL:+CTYPE-X509:%SERVER_PRECEDENCE"

/*
 * The handler workers ([server] threads). A signing request spends most
 * of its time on its worker waiting: on the token and on the fsyncs of
 * its group commit (docs/store.md), so there must be enough workers for
 * many requests to wait together and fill a batch (measured with one
 * thread per core: c8 over HTTPS got no faster than 2 library threads).
 * The default (0) is 8 per core, at least 16 and at most 64, each worker
 * costing a stack.
 */
static int
thread_count(const struct hkms_config *cfg)
{
	long n = cfg->threads;

	if (n <= 0) {
		n = 8 * sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 16)
			n = 16;
		if (n > 64)
			n = 64;
	}
	if (n < 1)
		n = 1;
	if (n > 256)
		n = 256;
	return (int)n;
}

/*
 * libmicrohttpd's epoll thread pool ([server] io_threads): TLS
 * handshakes, reading and writing, never a handler, so one per core
 * (0, the default) keeps every core busy. Each costs an epoll fd and a
 * wake-up pipe.
 */
static int
io_thread_count(const struct hkms_config *cfg)
{
	long n = cfg->io_threads;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	return (int)n;
}

/*
 * The heap. glibc gives each allocating thread an arena of its own (up to
 * 8 per core) and, once a large block is freed, raises its mmap threshold
 * so that later large blocks (a body near max_body, a deep JSON tree) are
 * carved from the arena and kept there. With a pool of 16 to 64 threads
 * the RSS then climbs for as long as threads meet their first large
 * request (measured: +16 MB over 4 rounds of bad input, no leak). One
 * arena per core and a fixed threshold (a large block is mapped and given
 * back when freed) bound it. MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_
 * in the environment, glibc's own tunables, win.
 */
static void
heap_bound(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (getenv("MALLOC_ARENA_MAX") == NULL)
		(void)mallopt(M_ARENA_MAX, cores > 0 ? (int)cores : 1);
	if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL)
		(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

static struct MHD_Daemon *
daemon_start(const struct hkms_config *cfg, const char *listen_addr,
    int listen_fd, const char *trust_pem, struct listener *ls,
    struct hkms_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS |
	    MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	int v6 = 0;

	if (parse_listen(listen_addr, &ss, &sl, &v6, err) != HKMS_OK)
		return NULL;
	if (v6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, ls,
	    listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
	    listen_fd >= 0 ? (void *)(intptr_t)listen_fd : (void *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)io_thread_count(cfg),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections +
	    OVERFLOW_SLOTS),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
	    /* no MHD_OPTION_LISTENING_ADDRESS_REUSE: MHD's default is
	     * SO_REUSEADDR (a restart binds past TIME_WAIT); the option
	     * adds SO_REUSEPORT, with which a second server on the same
	     * port starts and takes half of the connections */
	    MHD_OPTION_HTTPS_CERT_CALLBACK, srv_tls_cert_cb,
	    MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES,
	    MHD_OPTION_HTTPS_MEM_TRUST, trust_pem,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_cb, ls,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		hkms_err_setc(err, HKMS_E_IO, "listen_failed",
		    "cannot listen on %.100s (in use, or not an address of "
		    "this host)", listen_addr);
	return d;
}

/* The plain-HTTP listener of [server] public_listen: no TLS, no client
 * certificates, the same limits, callbacks, I/O threads and workers. */
static struct MHD_Daemon *
plain_daemon_start(const struct hkms_config *cfg, const char *listen_addr,
    int listen_fd, struct listener *ls, struct hkms_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	    MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	int v6 = 0;

	if (parse_listen(listen_addr, &ss, &sl, &v6, err) != HKMS_OK)
		return NULL;
	if (v6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, ls,
	    listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
	    listen_fd >= 0 ? (void *)(intptr_t)listen_fd : (void *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)io_thread_count(cfg),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections +
	    OVERFLOW_SLOTS),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_cb, ls,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		hkms_err_setc(err, HKMS_E_IO, "listen_failed",
		    "cannot listen on %.100s (in use, or not an address of "
		    "this host)", listen_addr);
	return d;
}

/* The client CAs the handshake asks for: the hkms CAs, or the service's
 * own certificate while there is none (GnuTLS needs one to ask). */
static char *
client_trust(struct hkms_service *svc)
{
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err e = { 0 };
	char *pem = NULL;

	hkms_principal_local(&p, "hkms-serve");
	if (!hkms_service_sealed(svc) && hkms_service_ctx(svc, &p, "serve",
	    HKMS_SERVICE_NEED_STORE, &c, &e) == HKMS_OK &&
	    hkms_ops_client_cas_pem(&c, &pem, &e) == HKMS_OK &&
	    pem != NULL && pem[0] != '\0')
		return pem;
	free(pem);
	return srv_tls_cert_pem();
}

/* ---- sd_notify ---- */

static void
sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t sl;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, sl);
	close(fd);
}

/* ---- the main loop ---- */

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct listener *
listener_new(int plain)
{
	struct listener *ls = calloc(1, sizeof(*ls));

	if (ls != NULL) {
		ls->plain = plain;
		ls->open = plain ? &plain_open : &state.open_connections;
	}
	return ls;
}

/* Stop d (of listener ls, freed) after its in-flight requests finished
 * (at most timeout_s; those still queued for a worker then are answered
 * 503, those a worker runs are waited for, and the answers of both get
 * up to a second more to be sent). */
static void
daemon_drain(struct MHD_Daemon *d, struct listener *ls, int timeout_s)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&state.in_flight) > 0 && elapsed(&t0) < timeout_s)
		usleep(10000);
	jobs_close(ls);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&state.in_flight) > 0 && elapsed(&t0) < 1)
		usleep(10000);
	MHD_stop_daemon(d);
	free(ls);
}

/* New limits for the plain listener: a new daemon on the same socket,
 * then the old one finishes its requests. */
static void
plain_restart(const struct hkms_config *nlim)
{
	struct hkms_err e = { 0 };
	struct MHD_Daemon *nd;
	struct listener *nls;
	MHD_socket fd;

	if ((nls = listener_new(1)) == NULL)
		return;
	if ((fd = MHD_quiesce_daemon(plain_d)) == MHD_INVALID_SOCKET) {
		free(nls);
		return;
	}
	if ((nd = plain_daemon_start(nlim, state.cfg->public_listen, fd,
	    nls, &e)) == NULL) {
		hkms_log_err(hkms_service_log(state.svc), HKMS_LOG_ERROR,
		    "server.reload", &e, NULL);
		free(nls);
		atomic_store(&state.stopping, 1);
		return;
	}
	daemon_drain(plain_d, plain_ls, lim.timeout_s);
	plain_d = nd;
	plain_ls = nls;
}

/* SIGHUP: the config's limits, the client CA trust, the certificate. */
static struct MHD_Daemon *
reload(struct MHD_Daemon *d, const struct hkms_server_opts *opts,
    const char *listen_addr, char **trust)
{
	struct hkms_service *svc = state.svc;
	struct hkms_config *ncfg = NULL;
	struct hkms_err e = { 0 };
	struct MHD_Daemon *nd;
	struct listener *nls;
	struct hkms_config nlim = lim;
	char *nt;
	int changed = 0, limits_changed = 0;
	MHD_socket fd;

	if (opts->config_path != NULL) {
		if (hkms_config_load(opts->config_path, &ncfg, &e) != HKMS_OK)
			hkms_log_err(hkms_service_log(svc), HKMS_LOG_ERROR,
			    "server.reload", &e, NULL);
		else {
			atomic_store(&max_body, ncfg->max_body);
			if (ncfg->max_connections != lim.max_connections ||
			    ncfg->per_ip != lim.per_ip ||
			    ncfg->connection_memory != lim.connection_memory ||
			    ncfg->timeout_s != lim.timeout_s) {
				nlim.max_connections = ncfg->max_connections;
				nlim.per_ip = ncfg->per_ip;
				nlim.connection_memory =
				    ncfg->connection_memory;
				nlim.timeout_s = ncfg->timeout_s;
				limits_changed = 1;
			}
			hkms_config_free(ncfg);
		}
	}
	if (!hkms_service_sealed(svc) &&
	    srv_tls_load(svc, &changed, &e) != HKMS_OK)
		hkms_log_err(hkms_service_log(svc), HKMS_LOG_ERROR,
		    "server.reload", &e, NULL);
	else if (changed)
		hkms_log_msg(hkms_service_log(svc), HKMS_LOG_INFO,
		    "server.reload", "serving a new service certificate");
	if (limits_changed && plain_d != NULL && state.cfg->public_listen)
		plain_restart(&nlim);
	nt = client_trust(svc);
	if (nt == NULL || (!limits_changed && *trust != NULL &&
	    strcmp(nt, *trust) == 0)) {
		free(nt);
		return d;
	}
	/* new trust or limits: a new listener on the same socket, then the
	 * old one finishes its requests */
	if ((nls = listener_new(0)) == NULL) {
		free(nt);
		return d;
	}
	if ((fd = MHD_quiesce_daemon(d)) == MHD_INVALID_SOCKET) {
		free(nls);
		free(nt);
		return d;
	}
	if ((nd = daemon_start(&nlim, listen_addr, fd, nt, nls, &e)) ==
	    NULL) {
		hkms_log_err(hkms_service_log(svc), HKMS_LOG_ERROR,
		    "server.reload", &e, NULL);
		free(nls);
		free(nt);
		/* the old daemon no longer accepts: keep the process going
		 * would serve nothing; stop instead */
		atomic_store(&state.stopping, 1);
		return d;
	}
	daemon_drain(d, tls_ls, lim.timeout_s);
	tls_ls = nls;
	lim = nlim;
	atomic_store(&max_conns, lim.max_connections);
	free(*trust);
	*trust = nt;
	hkms_log_msg(hkms_service_log(svc), HKMS_LOG_INFO, "server.reload",
	    "%s changed: new listener", limits_changed ? "limits" :
	    "client CA trust");
	return nd;
}

enum hkms_rc
hkms_server_run(struct hkms_service *svc, const struct hkms_config *cfg,
    const struct hkms_server_opts *opts, struct hkms_err *err)
{
	const char *listen_addr = opts && opts->listen ? opts->listen :
	    cfg->listen ? cfg->listen : HKMS_DEFAULT_LISTEN;
	struct hkms_server_opts o = { 0 };
	struct MHD_Daemon *d = NULL;
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	sigset_t set;
	char *trust = NULL, ready[400];
	int sfd = -1, ufd = -1, uc, changed, loaded;
	enum hkms_rc rc;
	time_t last_check, last_try = 0;
	MHD_socket lfd;
	char last_code[48] = "";

	if (opts != NULL)
		o = *opts;
	memset(&state, 0, sizeof(state));
	state.svc = svc;
	state.cfg = cfg;
	atomic_store(&max_body, cfg->max_body);
	lim = *cfg;
	atomic_store(&max_conns, cfg->max_connections);
	/* jansson's own copies of secrets (a parsed passphrase, a PKCS#12
	 * being dumped) are wiped when freed */
	json_set_alloc_funcs(malloc, wipe_free);
	heap_bound();
	raise_nofile();
	/* every thread MHD starts inherits this mask: signals reach only
	 * the signalfd below */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		return hkms_err_set(err, HKMS_E_INTERNAL,
		    "cannot set up the signals: %s", strerror(errno));
	loaded = 0;
	if (!hkms_service_sealed(svc)) {
		rc = srv_tls_load(svc, &changed, err);
		if (rc == HKMS_OK)
			loaded = 1;
		else if (rc != HKMS_E_TOKEN_DOWN && rc != HKMS_E_TOKEN)
			goto out;
		else	/* the token is down: start anyway, try again below */
			hkms_log_err(hkms_service_log(svc), HKMS_LOG_ERROR,
			    "server.certificate", err, NULL);
	}
	if (!loaded && (rc = srv_tls_sealed_init(err)) != HKMS_OK)
		goto out;
	if ((rc = srv_unseal_listen(cfg, &ufd, err)) != HKMS_OK)
		goto out;
	/* after the signal mask: the workers inherit it */
	if ((rc = pool_start(thread_count(cfg), err)) != HKMS_OK)
		goto out;
	if ((tls_ls = listener_new(0)) == NULL || (cfg->public_listen !=
	    NULL && (plain_ls = listener_new(1)) == NULL)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	trust = client_trust(svc);
	if ((d = daemon_start(cfg, listen_addr, -1, trust, tls_ls, err)) ==
	    NULL) {
		rc = err ? err->rc : HKMS_E_IO;
		goto out;
	}
	if (cfg->public_listen != NULL && (plain_d = plain_daemon_start(cfg,
	    cfg->public_listen, -1, plain_ls, err)) == NULL) {
		rc = err ? err->rc : HKMS_E_IO;
		goto out;
	}
	running = &state;
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving https://%s%s",
	    listen_addr, loaded ? "" : " (sealed)");
	sd_notify_msg(ready);
	hkms_log_msg(hkms_service_log(svc), HKMS_LOG_WARN, "server.start",
	    "listening on https://%s%s", listen_addr,
	    loaded ? "" : "; sealed until hkms unseal");
	if (plain_d != NULL)
		hkms_log_msg(hkms_service_log(svc), HKMS_LOG_WARN,
		    "server.start", "public routes on http://%s",
		    cfg->public_listen);
	last_check = time(NULL);
	while (!atomic_load(&state.stopping)) {
		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = ufd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				break;
			if (si.ssi_signo == SIGHUP) {
				sd_notify_msg("RELOADING=1");
				d = reload(d, &o, listen_addr, &trust);
				sd_notify_msg("READY=1");
			}
		}
		uc = (pfd[1].revents & POLLIN) ? srv_unseal_accept(svc, ufd) :
		    -1;
		/* unsealed, or the token that was down at start is back (the
		 * service's backoff spaces the real tries) */
		if (!loaded && !hkms_service_sealed(svc) &&
		    (uc >= 0 || time(NULL) != last_try)) {
			struct hkms_err e = { 0 };

			last_try = time(NULL);
			if (srv_tls_load(svc, &changed, &e) == HKMS_OK) {
				loaded = 1;
				hkms_log_msg(hkms_service_log(svc),
				    HKMS_LOG_WARN, "server.certificate",
				    "serving the service certificate");
				d = reload(d, &o, listen_addr, &trust);
			} else if (strcmp(e.code, last_code) != 0) {
				snprintf(last_code, sizeof(last_code), "%s",
				    e.code);
				hkms_log_err(hkms_service_log(svc),
				    HKMS_LOG_ERROR, "server.certificate", &e,
				    NULL);
			}
			/* the unseal is answered once HTTPS serves the
			 * service certificate (or with why it cannot) */
			if (uc >= 0)
				srv_unseal_reply(uc, loaded ? NULL : &e);
		} else if (uc >= 0)
			srv_unseal_reply(uc, NULL);
		/* CRLs re-signed before they expire (issue 14a) */
		if (loaded)
			srv_crl_tick(svc, cfg);
		/* a record replaced under the running server (applied by
		 * another process: its stamp changed) is served to new
		 * connections within a second; a full check every minute */
		if (loaded && (srv_tls_changed(svc) ||
		    time(NULL) - last_check >= 60)) {
			struct hkms_err e = { 0 };

			last_check = time(NULL);
			if (srv_tls_load(svc, &changed, &e) != HKMS_OK)
				hkms_log_err(hkms_service_log(svc),
				    HKMS_LOG_ERROR, "server.certificate", &e,
				    NULL);
			else if (changed)
				hkms_log_msg(hkms_service_log(svc),
				    HKMS_LOG_WARN, "server.certificate",
				    "serving a new service certificate");
		}
	}
	sd_notify_msg("STOPPING=1");
	hkms_log_msg(hkms_service_log(svc), HKMS_LOG_WARN, "server.stop",
	    "stopping: finishing %d request(s) in flight",
	    atomic_load(&state.in_flight));
	atomic_store(&state.stopping, 1);
	/* no new connection: the listening socket is closed at once (the
	 * kernel would still complete handshakes into its backlog) */
	lfd = MHD_quiesce_daemon(d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	if (plain_d != NULL &&
	    (lfd = MHD_quiesce_daemon(plain_d)) != MHD_INVALID_SOCKET)
		close(lfd);
	daemon_drain(d, tls_ls, cfg->timeout_s);
	d = NULL;
	tls_ls = NULL;
	if (plain_d != NULL)
		daemon_drain(plain_d, plain_ls, 1);
	plain_d = NULL;
	plain_ls = NULL;
	rc = HKMS_OK;
out:
	running = NULL;
	if (d != NULL) {
		jobs_close(tls_ls);
		MHD_stop_daemon(d);
	}
	if (plain_d != NULL) {
		jobs_close(plain_ls);
		MHD_stop_daemon(plain_d);
	}
	plain_d = NULL;
	free(tls_ls);
	free(plain_ls);
	tls_ls = plain_ls = NULL;
	if (pool.slot != NULL)
		pool_stop();
	if (ufd >= 0) {
		char *p = srv_unseal_path(cfg);

		close(ufd);
		if (p != NULL)
			unlink(p);
		free(p);
	}
	if (sfd >= 0)
		close(sfd);
	free(trust);
	srv_tls_free();
	return rc;
}
