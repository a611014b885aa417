/*
 * Validation of ACME challenges (RFC 8555 §8, RFC 8737), confined.
 *
 * A challenge POST queues its authorization (acme_validate_queue); a
 * bounded pool of VALIDATORS worker threads takes QUEUE_MAX entries at
 * most (a full queue is rateLimited, never a blocked request thread) and
 * runs each with a deadline. Where a validation may go is the config's
 * [acme] section (docs/acme.md, "How validation is confined"):
 *
 *  - names resolve through the system resolver, or all to [acme] resolve
 *    (tests); dns-01 asks [acme] dns_resolver (HOST:PORT) over UDP;
 *  - an address is refused when it is loopback, link-local, unspecified,
 *    multicast or broadcast (so the service cannot probe its own host),
 *    unless allow_loopback (loopback only) — private ranges are allowed
 *    unless allow_private = false;
 *  - http-01 goes to port 80 (http01_port), follows at most MAX_REDIRECTS
 *    http:// redirects, each target checked again, reads at most
 *    MAX_BODY bytes; tls-alpn-01 goes to 443 (tlsalpn01_port);
 *  - every connection and read has the deadline TIMEOUT_S.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hkms/config.h"
#include "hkms/ops.h"
#include "hkms/service.h"

#include "acme_int.h"

#define VALIDATORS 2
#define QUEUE_MAX 64
#define MAX_REDIRECTS 10
#define MAX_BODY 8192
#define MAX_RESP (MAX_BODY + 8192)
#define TIMEOUT_S 10

/* ---- the worker pool ----------------------------------------------- */

struct job {
	char ca[65];
	char authz[65];
};

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct job queue[QUEUE_MAX];
static size_t q_head, q_len;
static int started, stopping, busy;
static struct hkms_service *q_svc;

static void *
worker(void *arg)
{
	struct job j;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&q_mu);
		while (q_len == 0 && !stopping)
			pthread_cond_wait(&q_cv, &q_mu);
		if (stopping) {
			pthread_cond_broadcast(&q_cv);
			pthread_mutex_unlock(&q_mu);
			return NULL;
		}
		j = queue[q_head];
		q_head = (q_head + 1) % QUEUE_MAX;
		q_len--;
		busy++;
		pthread_mutex_unlock(&q_mu);
		acme_validation_done(q_svc, j.ca, j.authz);
		pthread_mutex_lock(&q_mu);
		busy--;
		pthread_cond_broadcast(&q_cv);
		pthread_mutex_unlock(&q_mu);
	}
	return NULL;
}

void
hkms_ops_acme_stop(void)
{
	struct timespec until;

	/* queued validations are dropped (their authorizations are queued
	 * again when polled, acme.c); running ones finish within their
	 * deadline, waited for here so that none outlives the service */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TIMEOUT_S + 5;
	pthread_mutex_lock(&q_mu);
	stopping = 1;
	q_len = 0;
	pthread_cond_broadcast(&q_cv);
	while (busy > 0 && pthread_cond_timedwait(&q_cv, &q_mu, &until) == 0)
		;
	pthread_mutex_unlock(&q_mu);
}

enum hkms_rc
acme_validate_queue(struct hkms_service *svc, const char *ca,
    const char *authz, struct hkms_err *err)
{
	pthread_t t;
	int i;

	pthread_mutex_lock(&q_mu);
	if (!started) {
		q_svc = svc;
		for (i = 0; i < VALIDATORS; i++)
			if (pthread_create(&t, NULL, worker, NULL) == 0) {
				pthread_detach(t);
				started++;
			}
	}
	if (!started || stopping || q_len >= QUEUE_MAX) {
		pthread_mutex_unlock(&q_mu);
		return hkms_err_setc(err, HKMS_E_IN_USE, "acme_busy",
		    "too many validations are waiting; retry later");
	}
	snprintf(queue[(q_head + q_len) % QUEUE_MAX].ca, 65, "%s", ca);
	snprintf(queue[(q_head + q_len) % QUEUE_MAX].authz, 65, "%s", authz);
	q_len++;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	return HKMS_OK;
}

/* ---- where a validation may go ------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
left_ms(double deadline)
{
	double l = deadline - now_s();

	return l <= 0 ? 0 : (int)(l * 1000) + 1;
}

/* 0 allowed; -1 refused (why in *why) */
static int
addr_allowed(const struct hkms_config *cfg, const struct sockaddr *sa,
    const char **why)
{
	const unsigned char *b;
	unsigned char v4[4];
	int loop = 0, link = 0, bad = 0, priv = 0;

	if (sa->sa_family == AF_INET6) {
		b = ((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			memcpy(v4, b + 12, 4);
			goto v4;
		}
		{
			static const unsigned char zero[16];
			static const unsigned char one[16] = { [15] = 1 };

			loop = memcmp(b, one, 16) == 0;
			bad = memcmp(b, zero, 16) == 0 || b[0] == 0xff;
			link = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
			priv = (b[0] & 0xfe) == 0xfc;
		}
		goto decide;
	}
	memcpy(v4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
	    4);
v4:
	loop = v4[0] == 127;
	link = v4[0] == 169 && v4[1] == 254;
	bad = v4[0] == 0 || v4[0] >= 224;
	priv = v4[0] == 10 || (v4[0] == 172 && (v4[1] & 0xf0) == 16) ||
	    (v4[0] == 192 && v4[1] == 168) || (v4[0] == 100 &&
	    (v4[1] & 0xc0) == 64);
decide:
	if (loop && !cfg->acme_allow_loopback) {
		*why = "a loopback address";
		return -1;
	}
	if (link) {
		*why = "a link-local address";
		return -1;
	}
	if (bad) {
		*why = "an unspecified, multicast or reserved address";
		return -1;
	}
	if (priv && cfg->acme_refuse_private) {
		*why = "a private address";
		return -1;
	}
	return 0;
}

/* Connect to name:port within deadline, to an allowed address only. */
static int
dial(const struct hkms_config *cfg, const char *name, int port,
    double deadline, struct hkms_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char ps[8];
	const char *host = cfg->acme_resolve[0] ? cfg->acme_resolve : name;
	const char *why = NULL;
	int fd = -1, rc, soerr;
	socklen_t sl;
	struct pollfd pfd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	if ((rc = getaddrinfo(host, ps, &hints, &res)) != 0) {
		hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns", "cannot resolve "
		    "'%.255s': %s", name, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (addr_allowed(cfg, ai->ai_addr, &why) != 0)
			continue;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		sl = sizeof(soerr);
		if (poll(&pfd, 1, left_ms(deadline)) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
		    soerr != 0) {
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (why != NULL)
			hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_rejected_target", "'%.255s' resolves to %s, "
			    "where validation may not go", name, why);
		else
			hkms_err_setc(err, HKMS_E_VERIFY, "acme_connection",
			    "cannot connect to '%.255s' port %d", name, port);
	}
	return fd;
}

/* ---- http-01 (§8.3) ------------------------------------------------ */

static int
send_all(int fd, const char *s, size_t n, double deadline)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	ssize_t w;

	while (n > 0) {
		if (poll(&pfd, 1, left_ms(deadline)) != 1)
			return -1;
		if ((w = send(fd, s, n, MSG_NOSIGNAL)) <= 0) {
			if (w < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read until EOF, MAX_RESP or the deadline; -1 on timeout/too large. */
static ssize_t
recv_all(int fd, char *buf, size_t cap, double deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t n = 0;
	ssize_t r;

	for (;;) {
		if (poll(&pfd, 1, left_ms(deadline)) != 1)
			return -1;
		r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n >= cap - 1)
			return -1;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static const char *
header(const char *head, const char *name, size_t *len)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strstr(v, "\r\n");
			*len = e ? (size_t)(e - v) : strlen(v);
			return v;
		}
	}
	return NULL;
}

/* Decode a chunked body in place; -1 if malformed. */
static int
dechunk(char *body, size_t *len)
{
	char *r = body, *w = body, *end = body + *len, *e;
	unsigned long n;

	for (;;) {
		n = strtoul(r, &e, 16);
		if (e == r || (e = strstr(e, "\r\n")) == NULL)
			return -1;
		r = e + 2;
		if (n == 0)
			break;
		if (n > (unsigned long)(end - r))
			return -1;
		memmove(w, r, n);
		w += n;
		r += n;
		if (end - r < 2 || r[0] != '\r' || r[1] != '\n')
			return -1;
		r += 2;
	}
	*len = (size_t)(w - body);
	return 0;
}

static enum hkms_rc
http01(const struct hkms_config *cfg, const char *name, const char *token,
    const char *ka, struct hkms_err *err)
{
	double deadline = now_s() + TIMEOUT_S;
	char host[256], path[512], req[1024], *buf = NULL, *body, *loc;
	int port = cfg->acme_http01_port ? cfg->acme_http01_port : 80;
	int hops, fd, status;
	enum hkms_rc rc = HKMS_E_VERIFY;
	const char *v;
	size_t vl, blen;
	ssize_t n;

	snprintf(host, sizeof(host), "%s", name);
	snprintf(path, sizeof(path), "/.well-known/acme-challenge/%s", token);
	if ((buf = malloc(MAX_RESP)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (hops = 0; hops <= MAX_REDIRECTS; hops++) {
		if ((fd = dial(cfg, host, port, deadline, err)) < 0) {
			rc = err->rc;
			goto out;
		}
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: hkms-acme\r\nAccept: */*\r\nConnection: "
		    "close\r\n\r\n", path, host);
		if (send_all(fd, req, strlen(req), deadline) != 0 ||
		    (n = recv_all(fd, buf, MAX_RESP, deadline)) < 0) {
			close(fd);
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "acme_connection", "no complete answer from "
			    "'%.255s' in time (at most %d bytes, %d s)", host,
			    MAX_BODY, TIMEOUT_S);
			goto out;
		}
		close(fd);
		if (sscanf(buf, "HTTP/1.%*1d %3d", &status) != 1 ||
		    (body = strstr(buf, "\r\n\r\n")) == NULL) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "acme_connection", "'%.255s' did not answer HTTP",
			    host);
			goto out;
		}
		*body = '\0';
		body += 4;
		blen = (size_t)n - (size_t)(body - buf);
		if (status == 301 || status == 302 || status == 303 ||
		    status == 307 || status == 308) {
			char *slash;

			if ((v = header(buf, "Location", &vl)) == NULL ||
			    vl >= 512 || strncmp(v, "http://", 7) != 0) {
				rc = hkms_err_setc(err, HKMS_E_VERIFY,
				    "acme_connection", "a redirect from "
				    "'%.255s' that is not to an http:// URL",
				    host);
				goto out;
			}
			if ((loc = strndup(v + 7, vl - 7)) == NULL) {
				rc = hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory");
				goto out;
			}
			slash = strchr(loc, '/');
			snprintf(path, sizeof(path), "%s", slash ? slash : "/");
			if (slash)
				*slash = '\0';
			/* the port stays ours: a redirect names no other */
			if (strchr(loc, ':') != NULL || loc[0] == '\0') {
				free(loc);
				rc = hkms_err_setc(err, HKMS_E_VERIFY,
				    "acme_connection", "a redirect to another "
				    "port is not followed");
				goto out;
			}
			snprintf(host, sizeof(host), "%s", loc);
			free(loc);
			continue;
		}
		if (status != 200) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "acme_incorrect_response", "'%.255s' answered "
			    "HTTP %d for the challenge", host, status);
			goto out;
		}
		if ((v = header(buf, "Transfer-Encoding", &vl)) != NULL &&
		    strncasecmp(v, "chunked", 7) == 0 && dechunk(body,
		    &blen) != 0) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "acme_incorrect_response", "a malformed chunked "
			    "answer");
			goto out;
		}
		if (blen > MAX_BODY)
			blen = MAX_BODY + 1;
		while (blen > 0 && (body[blen - 1] == '\n' ||
		    body[blen - 1] == '\r' || body[blen - 1] == ' ' ||
		    body[blen - 1] == '\t'))
			blen--;
		if (blen != strlen(ka) || memcmp(body, ka, blen) != 0) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "acme_incorrect_response", "the key authorization "
			    "served by '%.255s' is not the expected one", name);
			goto out;
		}
		rc = HKMS_OK;
		goto out;
	}
	rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_connection", "more than "
	    "%d redirects", MAX_REDIRECTS);
out:
	free(buf);
	return rc;
}

/* ---- tls-alpn-01 (RFC 8737) ---------------------------------------- */

static enum hkms_rc
tlsalpn01(const struct hkms_config *cfg, const char *name, const char *ka,
    struct hkms_err *err)
{
	static const unsigned char alpn[] = { 10, 'a', 'c', 'm', 'e', '-',
	    't', 'l', 's', '/', '1' };
	double deadline = now_s() + TIMEOUT_S;
	int port = cfg->acme_tlsalpn01_port ? cfg->acme_tlsalpn01_port : 443;
	unsigned char want[SHA256_DIGEST_LENGTH];
	const unsigned char *sel = NULL;
	unsigned int sellen = 0;
	enum hkms_rc rc = HKMS_E_VERIFY;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *x = NULL;
	GENERAL_NAMES *gens = NULL;
	ASN1_OBJECT *oid = NULL;
	int fd, r, i, found = 0, nsan = 0;

	if ((fd = dial(cfg, name, port, deadline, err)) < 0)
		return err->rc;
	SHA256((const unsigned char *)ka, strlen(ka), want);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (ssl = SSL_new(ctx)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_tls",
		    "cannot set up TLS");
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);	/* self-signed by
							 * design (RFC 8737) */
	SSL_set_tlsext_host_name(ssl, name);
	SSL_set_alpn_protos(ssl, alpn, sizeof(alpn));
	SSL_set_fd(ssl, fd);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if ((r = SSL_connect(ssl)) == 1)
			break;
		r = SSL_get_error(ssl, r);
		if (r == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else if (r != SSL_ERROR_WANT_READ) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_tls",
			    "the TLS handshake with '%.255s' failed", name);
			goto out;
		}
		if (poll(&pfd, 1, left_ms(deadline)) != 1) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_tls",
			    "the TLS handshake with '%.255s' timed out", name);
			goto out;
		}
	}
	SSL_get0_alpn_selected(ssl, &sel, &sellen);
	if (sellen != 10 || memcmp(sel, "acme-tls/1", 10) != 0) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_tls", "'%.255s' "
		    "did not negotiate acme-tls/1", name);
		goto out;
	}
	if ((x = SSL_get1_peer_certificate(ssl)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_tls", "no "
		    "certificate from '%.255s'", name);
		goto out;
	}
	/* exactly one SAN, the dNSName being validated */
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	nsan = gens ? sk_GENERAL_NAME_num(gens) : 0;
	if (nsan == 1) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);

		found = g->type == GEN_DNS && (size_t)ASN1_STRING_length(
		    g->d.dNSName) == strlen(name) && strncasecmp((const char *)
		    ASN1_STRING_get0_data(g->d.dNSName), name,
		    strlen(name)) == 0;
	}
	if (!found) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY,
		    "acme_incorrect_response", "the challenge certificate must "
		    "name exactly '%.255s'", name);
		goto out;
	}
	found = 0;
	oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	for (i = 0; oid != NULL && i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *e = X509_get_ext(x, i);
		ASN1_OCTET_STRING *d;
		const unsigned char *p;
		ASN1_OCTET_STRING *inner;

		if (OBJ_cmp(X509_EXTENSION_get_object(e), oid) != 0)
			continue;
		if (!X509_EXTENSION_get_critical(e))
			break;
		d = X509_EXTENSION_get_data(e);
		p = ASN1_STRING_get0_data(d);
		inner = d2i_ASN1_OCTET_STRING(NULL, &p,
		    ASN1_STRING_length(d));
		found = inner != NULL && ASN1_STRING_length(inner) ==
		    SHA256_DIGEST_LENGTH && memcmp(ASN1_STRING_get0_data(inner),
		    want, SHA256_DIGEST_LENGTH) == 0;
		ASN1_OCTET_STRING_free(inner);
		break;
	}
	rc = found ? HKMS_OK : hkms_err_setc(err, HKMS_E_VERIFY,
	    "acme_incorrect_response", "the acmeIdentifier of '%.255s' is "
	    "missing, not critical or not the key authorization's digest",
	    name);
out:
	ERR_clear_error();
	ASN1_OBJECT_free(oid);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}

/* ---- dns-01 (§8.4): one TXT query over UDP to the configured resolver
 * (or the first nameserver of /etc/resolv.conf) ---- */

static int
resolver_addr(const struct hkms_config *cfg, struct sockaddr_storage *ss,
    socklen_t *sl)
{
	char host[128] = "", *colon;
	int port = 53;
	FILE *f;
	char line[256];
	struct addrinfo hints, *res = NULL;
	char ps[8];

	if (cfg->acme_dns_resolver[0]) {
		snprintf(host, sizeof(host), "%s", cfg->acme_dns_resolver);
		if ((colon = strrchr(host, ':')) != NULL && strchr(host, ':') ==
		    colon) {
			*colon = '\0';
			port = atoi(colon + 1);
		}
	} else if ((f = fopen("/etc/resolv.conf", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "nameserver %127s", host) == 1)
				break;
		fclose(f);
	}
	if (host[0] == '\0' || port <= 0 || port > 65535)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST;
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static enum hkms_rc
dns01(const struct hkms_config *cfg, const char *name, const char *ka,
    struct hkms_err *err)
{
	unsigned char q[512], r[4096], md[SHA256_DIGEST_LENGTH];
	char qname[300], *want = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t qn = 0, i, off;
	const char *lab;
	unsigned id, an, qd;
	ssize_t n;
	int fd = -1, found = 0;
	double deadline = now_s() + TIMEOUT_S;
	enum hkms_rc rc;

	if (resolver_addr(cfg, &ss, &sl) != 0)
		return hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns", "no dns "
		    "resolver configured");
	SHA256((const unsigned char *)ka, strlen(ka), md);
	if ((want = acme_b64url_encode(md, sizeof(md))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	snprintf(qname, sizeof(qname), "_acme-challenge.%s", name);
	{
		unsigned char rb[2];

		if (RAND_bytes(rb, 2) != 1)
			abort();
		id = (unsigned)rb[0] << 8 | rb[1];
	}
	q[0] = (unsigned char)(id >> 8);
	q[1] = (unsigned char)id;
	q[2] = 0x01;	/* RD */
	q[3] = 0;
	memset(q + 4, 0, 8);
	q[5] = 1;	/* one question */
	qn = 12;
	for (lab = qname; *lab != '\0';) {
		const char *dot = strchr(lab, '.');
		size_t l = dot ? (size_t)(dot - lab) : strlen(lab);

		if (l == 0 || l > 63 || qn + l + 6 > sizeof(q)) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns",
			    "bad name for dns");
			goto out;
		}
		q[qn++] = (unsigned char)l;
		memcpy(q + qn, lab, l);
		qn += l;
		lab += l + (dot ? 1 : 0);
	}
	q[qn++] = 0;
	q[qn++] = 0;
	q[qn++] = 16;	/* TXT */
	q[qn++] = 0;
	q[qn++] = 1;	/* IN */
	/* connected: datagrams from any other address are not received */
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    send(fd, q, qn, 0) != (ssize_t)qn) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns", "cannot ask "
		    "the dns resolver");
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (poll(&pfd, 1, left_ms(deadline)) != 1) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns",
			    "the dns resolver did not answer in %d s",
			    TIMEOUT_S);
			goto out;
		}
		n = recv(fd, r, sizeof(r), 0);
		/* a response (QR) to our id and our one question */
		if (n >= (ssize_t)qn && ((unsigned)r[0] << 8 | r[1]) == id &&
		    (r[2] & 0x80) != 0 && r[4] == 0 && r[5] == 1 &&
		    memcmp(r + 12, q + 12, qn - 12) == 0)
			break;
	}
	if ((r[3] & 0x0f) != 0 && (r[3] & 0x0f) != 3) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "acme_dns", "the dns "
		    "resolver answered rcode %d", r[3] & 0x0f);
		goto out;
	}
	qd = (unsigned)r[4] << 8 | r[5];
	an = (unsigned)r[6] << 8 | r[7];
	off = 12;
	/* skip the questions */
	for (i = 0; i < qd; i++) {
		while (off < (size_t)n && r[off] != 0 && (r[off] & 0xc0) == 0)
			off += (size_t)r[off] + 1;
		off += (off < (size_t)n && (r[off] & 0xc0) == 0xc0) ? 2 : 1;
		off += 4;
	}
	for (i = 0; i < an && off < (size_t)n; i++) {
		unsigned type, rdlen;
		size_t p, end;

		while (off < (size_t)n && r[off] != 0 && (r[off] & 0xc0) == 0)
			off += (size_t)r[off] + 1;
		off += (off < (size_t)n && (r[off] & 0xc0) == 0xc0) ? 2 : 1;
		if (off + 10 > (size_t)n)
			break;
		type = (unsigned)r[off] << 8 | r[off + 1];
		rdlen = (unsigned)r[off + 8] << 8 | r[off + 9];
		off += 10;
		if (off + rdlen > (size_t)n)
			break;
		end = off + rdlen;
		if (type == 16) {
			/* TXT: character-strings, joined */
			char txt[1024];
			size_t tl = 0;

			for (p = off; p < end;) {
				size_t l = r[p++];

				if (p + l > end || tl + l >= sizeof(txt))
					break;
				memcpy(txt + tl, r + p, l);
				tl += l;
				p += l;
			}
			txt[tl] = '\0';
			if (strcmp(txt, want) == 0)
				found = 1;
		}
		off = end;
	}
	rc = found ? HKMS_OK : hkms_err_setc(err, HKMS_E_VERIFY,
	    "acme_incorrect_response", "no TXT record at '%.255s' holds the "
	    "key authorization's digest", qname);
out:
	if (fd >= 0)
		close(fd);
	free(want);
	return rc;
}

enum hkms_rc
acme_validate_run(const struct hkms_config *cfg, const char *type,
    const char *name, const char *token, const char *ka,
    struct hkms_err *err)
{
	if (cfg == NULL || type == NULL || name == NULL || token == NULL ||
	    ka == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (strcmp(type, "http-01") == 0)
		return http01(cfg, name, token, ka, err);
	if (strcmp(type, "tls-alpn-01") == 0)
		return tlsalpn01(cfg, name, ka, err);
	if (strcmp(type, "dns-01") == 0)
		return dns01(cfg, name, ka, err);
	return hkms_err_setc(err, HKMS_E_INVALID, "acme_malformed",
	    "unknown challenge type");
}
