/*
 * The server's metrics in Prometheus text format 0.0.4 (GET /metrics):
 * requests by method, route pattern and status, a request latency
 * histogram, a handshake signing latency histogram, and the service's
 * counters (operations, token errors and rebuilds, group commit).
 * Counting is one mutex-protected table update per request; rendering
 * copies under the same mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hkms/ops.h"
#include "server_int.h"

#define NROUTES 256
#define NBUCKETS 12

static const double buckets[NBUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

struct hist {
	unsigned long long b[NBUCKETS];
	unsigned long long count;
	double sum;
};

struct req_counter {
	char method[8];
	char route[96];
	int status;
	unsigned long long count;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct req_counter reqs[NROUTES];
static size_t nreqs;
static struct hist req_latency, sign_latency;
/* EST (issue 17b): time of the enrollments (simpleenroll and
 * simplereenroll, whatever their result) from headers to response */
static struct hist est_latency;
static unsigned long long sign_errors;

static void
hist_add(struct hist *h, double v)
{
	size_t i;

	for (i = 0; i < NBUCKETS; i++)
		if (v <= buckets[i])
			h->b[i]++;
	h->count++;
	h->sum += v;
}

void
srv_metrics_request(const char *method, const char *route, int status,
    double seconds)
{
	size_t i;

	pthread_mutex_lock(&mu);
	hist_add(&req_latency, seconds);
	if (strncmp(route, "/.well-known/est/", 17) == 0 &&
	    strlen(route) > 6 && strcmp(route + strlen(route) - 6, "enroll")
	    == 0)
		hist_add(&est_latency, seconds);
	for (i = 0; i < nreqs; i++)
		if (reqs[i].status == status &&
		    strcmp(reqs[i].route, route) == 0 &&
		    strcmp(reqs[i].method, method) == 0)
			break;
	if (i == nreqs && nreqs < NROUTES) {
		snprintf(reqs[i].method, sizeof(reqs[i].method), "%s", method);
		snprintf(reqs[i].route, sizeof(reqs[i].route), "%s", route);
		reqs[i].status = status;
		nreqs++;
	}
	if (i < NROUTES)
		reqs[i].count++;
	pthread_mutex_unlock(&mu);
}

void
srv_metrics_sign(double seconds, int ok)
{
	pthread_mutex_lock(&mu);
	hist_add(&sign_latency, seconds);
	if (!ok)
		sign_errors++;
	pthread_mutex_unlock(&mu);
}

static void
hist_print(FILE *f, const char *name, const char *help, const struct hist *h)
{
	size_t i;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < NBUCKETS; i++)
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, buckets[i],
		    h->b[i]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
	    name, h->count, name, h->sum, name, h->count);
}

/* ACME (issue 17a): orders, finalized orders and the issuance latency
 * of finalize (challenges by type and result are operations:
 * hkms_operations_total{op="acme.challenge.<type>"}) */
static void
acme_metrics(FILE *f)
{
	json_t *a = hkms_ops_acme_metrics(), *h, *it;
	size_t i;

	if (a == NULL)
		return;
	h = json_object_get(a, "issue_seconds");
	fprintf(f, "# HELP hkms_acme_orders_total ACME orders created.\n"
	    "# TYPE hkms_acme_orders_total counter\nhkms_acme_orders_total "
	    "%lld\n# HELP hkms_acme_issue_duration_seconds Time finalize "
	    "took to issue a certificate.\n# TYPE "
	    "hkms_acme_issue_duration_seconds histogram\n",
	    (long long)json_integer_value(json_object_get(a, "orders")));
	json_array_foreach(json_object_get(h, "buckets"), i, it)
		fprintf(f, "hkms_acme_issue_duration_seconds_bucket{le=\"%g\"} "
		    "%lld\n", json_real_value(json_object_get(it, "le")),
		    (long long)json_integer_value(json_object_get(it,
		    "count")));
	fprintf(f, "hkms_acme_issue_duration_seconds_bucket{le=\"+Inf\"} "
	    "%lld\nhkms_acme_issue_duration_seconds_sum %.6f\n"
	    "hkms_acme_issue_duration_seconds_count %lld\n",
	    (long long)json_integer_value(json_object_get(h, "count")),
	    json_real_value(json_object_get(h, "sum")),
	    (long long)json_integer_value(json_object_get(h, "count")));
	json_decref(a);
}

char *
srv_metrics_render(struct hkms_service *svc)
{
	struct hkms_server_state *s = hkms_server_current();
	struct req_counter *rc;
	struct hist rl, sl, el;
	unsigned long long se;
	json_t *m, *ops, *o;
	const char *k;
	char *buf = NULL;
	size_t len = 0, i, n;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	if ((rc = malloc(sizeof(reqs))) == NULL) {
		fclose(f);
		free(buf);
		return NULL;
	}
	pthread_mutex_lock(&mu);
	n = nreqs;
	memcpy(rc, reqs, n * sizeof(reqs[0]));
	rl = req_latency;
	sl = sign_latency;
	el = est_latency;
	se = sign_errors;
	pthread_mutex_unlock(&mu);
	fprintf(f, "# HELP hkms_http_requests_total HTTP requests by method, "
	    "route pattern and status.\n# TYPE hkms_http_requests_total "
	    "counter\n");
	for (i = 0; i < n; i++)
		fprintf(f, "hkms_http_requests_total{method=\"%s\",route=\"%s\","
		    "status=\"%d\"} %llu\n", rc[i].method, rc[i].route,
		    rc[i].status, rc[i].count);
	free(rc);
	hist_print(f, "hkms_http_request_duration_seconds",
	    "Time from the request's headers to its response.", &rl);
	hist_print(f, "hkms_tls_sign_duration_seconds",
	    "Time the token took to sign a TLS handshake.", &sl);
	hist_print(f, "hkms_est_enroll_duration_seconds",
	    "Time of an EST simpleenroll or simplereenroll request.", &el);
	fprintf(f, "# HELP hkms_tls_sign_errors_total TLS handshake signatures "
	    "the token refused or could not make.\n# TYPE "
	    "hkms_tls_sign_errors_total counter\nhkms_tls_sign_errors_total "
	    "%llu\n", se);
	if (s != NULL)
		fprintf(f, "# HELP hkms_http_connections Open connections.\n"
		    "# TYPE hkms_http_connections gauge\nhkms_http_connections "
		    "%d\n# HELP hkms_http_requests_in_flight Requests being "
		    "handled.\n# TYPE hkms_http_requests_in_flight gauge\n"
		    "hkms_http_requests_in_flight %d\n",
		    atomic_load(&s->open_connections),
		    atomic_load(&s->in_flight));
	m = hkms_service_metrics(svc);
	ops = json_object_get(m, "operations");
	fprintf(f, "# HELP hkms_operations_total Operations by audit name and "
	    "result.\n# TYPE hkms_operations_total counter\n");
	json_array_foreach(ops, i, o)
		fprintf(f, "hkms_operations_total{op=\"%s\",result=\"%s\"} "
		    "%lld\n", json_string_value(json_object_get(o, "op")),
		    json_string_value(json_object_get(o, "result")),
		    (long long)json_integer_value(json_object_get(o,
		    "count")));
	fprintf(f, "# HELP hkms_token_errors_total Token errors (token "
	    "refused, down, PIN).\n# TYPE hkms_token_errors_total counter\n"
	    "hkms_token_errors_total %lld\n"
	    "# HELP hkms_token_rebuilds_total Token contexts rebuilt after a "
	    "lost token.\n# TYPE hkms_token_rebuilds_total counter\n"
	    "hkms_token_rebuilds_total %lld\n"
	    "# HELP hkms_token_open Whether the token is open and logged in.\n"
	    "# TYPE hkms_token_open gauge\nhkms_token_open %d\n"
	    "# HELP hkms_sealed Whether the server waits for hkms unseal.\n"
	    "# TYPE hkms_sealed gauge\nhkms_sealed %d\n"
	    "# HELP hkms_group_commit_batch_size Operations per group commit "
	    "(the data lock taken once per batch).\n"
	    "# TYPE hkms_group_commit_batch_size summary\n"
	    "hkms_group_commit_batch_size_sum %lld\n"
	    "hkms_group_commit_batch_size_count %lld\n",
	    (long long)json_integer_value(json_object_get(m, "token_errors")),
	    (long long)json_integer_value(json_object_get(m,
	    "token_rebuilds")),
	    json_is_true(json_object_get(m, "token_open")),
	    hkms_service_sealed(svc),
	    (long long)json_integer_value(json_object_get(m,
	    "group_commit_operations")),
	    (long long)json_integer_value(json_object_get(m,
	    "group_commit_batches")));
	json_decref(m);
	/* the OCSP responder (issue 14a) */
	m = hkms_ops_ocsp_metrics();
	fprintf(f, "# HELP hkms_ocsp_requests_total OCSP requests by "
	    "answer.\n# TYPE hkms_ocsp_requests_total counter\n");
	json_object_foreach(json_object_get(m, "requests"), k, o)
		fprintf(f, "hkms_ocsp_requests_total{status=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(o));
	fprintf(f, "# HELP hkms_ocsp_signatures_total OCSP responses signed "
	    "in the token.\n# TYPE hkms_ocsp_signatures_total counter\n"
	    "hkms_ocsp_signatures_total %lld\n"
	    "# HELP hkms_ocsp_sign_errors_total OCSP signatures the token "
	    "refused or could not make.\n"
	    "# TYPE hkms_ocsp_sign_errors_total counter\n"
	    "hkms_ocsp_sign_errors_total %lld\n"
	    "# HELP hkms_ocsp_cache_hits_total OCSP answers served from the "
	    "cache of signed responses.\n"
	    "# TYPE hkms_ocsp_cache_hits_total counter\n"
	    "hkms_ocsp_cache_hits_total %lld\n",
	    (long long)json_integer_value(json_object_get(m, "signatures")),
	    (long long)json_integer_value(json_object_get(m, "sign_errors")),
	    (long long)json_integer_value(json_object_get(m, "cache_hits")));
	json_decref(m);
	acme_metrics(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
