/*
 * https_load: a small HTTP(S) load generator for tests/bench, on libcurl's
 * multi interface (mTLS with wrk or h2load is awkward).
 *
 *   https_load --url URL [--body FILE] [--type CONTENT-TYPE]
 *       [--cert PEM --key PEM] [--cacert PEM] [-c CONCURRENCY]
 *       [-d SECONDS] [-n MAX-REQUESTS] [--expect STRING] [--new-conn]
 *
 * CONCURRENCY transfers run at once (default 1), each POSTing the body
 * (GET without one) again as soon as its answer is in, for SECONDS
 * (default 5; requests still in flight then are finished, bounded by
 * the per-request timeout of 30 s) or MAX-REQUESTS in all. Connections
 * are kept alive and reused; --new-conn forbids reuse and TLS session
 * resumption, so every request pays a full handshake (handshakes/s).
 * A request counts as ok when its status is 2xx and, with --expect, the
 * answer contains STRING; anything else is an error (the first one is
 * printed in "first_error"). Latencies are kept per request and sorted:
 * the percentiles are exact (nearest rank).
 *
 * Prints one JSON object:
 *   {"requests","ok","errors","seconds","per_second","p50_ms","p99_ms",
 *    "p999_ms","max_ms","mean_ms","first_error"}
 * per_second counts ok requests only. Exit 0, or 2 on bad arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

struct xfer {
	CURL *h;
	double start;
	char *buf;
	size_t len, cap;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;

	if (x->len + len + 1 > x->cap) {
		size_t cap = (x->len + len + 1) * 2;
		char *b = realloc(x->buf, cap);

		if (b == NULL)
			return 0;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(q * (double)n);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static char *
slurp(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)n + 1)) == NULL ||
	    fread(b, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "https_load: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

/* a JSON string of s (short error texts only) */
static void
put_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
usage(void)
{
	fprintf(stderr, "usage: https_load --url URL [--body FILE] [--type T] "
	    "[--cert PEM --key PEM] [--cacert PEM] [-c N] [-d SECONDS] "
	    "[-n MAX] [--expect STRING] [--new-conn]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *body_file = NULL, *type = "application/json";
	const char *cert = NULL, *key = NULL, *cacert = NULL, *expect = NULL;
	char ctype[256], first_err[512] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer *xs;
	CURLM *m;
	char *body = NULL;
	long body_len = 0, max_req = 0, started = 0, done = 0, ok = 0;
	int conc = 1, new_conn = 0, running = 0, active;
	double secs = 5, t0, deadline, t_end, *lat = NULL, sum = 0;
	size_t nlat = 0, caplat = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--new-conn") == 0) {
			new_conn = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--url") == 0) url = v;
		else if (strcmp(a, "--body") == 0) body_file = v;
		else if (strcmp(a, "--type") == 0) type = v;
		else if (strcmp(a, "--cert") == 0) cert = v;
		else if (strcmp(a, "--key") == 0) key = v;
		else if (strcmp(a, "--cacert") == 0) cacert = v;
		else if (strcmp(a, "--expect") == 0) expect = v;
		else if (strcmp(a, "-c") == 0) conc = atoi(v);
		else if (strcmp(a, "-d") == 0) secs = atof(v);
		else if (strcmp(a, "-n") == 0) max_req = atol(v);
		else
			usage();
	}
	if (url == NULL || conc < 1 || conc > 4096 || secs <= 0 ||
	    secs > 3600 || max_req < 0)
		usage();
	if (body_file != NULL)
		body = slurp(body_file, &body_len);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", type);
	hdrs = curl_slist_append(hdrs, ctype);
	hdrs = curl_slist_append(hdrs, "Expect:");	/* no 100-continue */
	m = curl_multi_init();
	/* keep every connection: one per transfer */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc * 2);
	xs = calloc((size_t)conc, sizeof(*xs));
	if (m == NULL || xs == NULL)
		return 1;
	for (int i = 0; i < conc; i++) {
		CURL *h = curl_easy_init();

		if (h == NULL)
			return 1;
		xs[i].h = h;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &xs[i]);
		curl_easy_setopt(h, CURLOPT_PRIVATE, &xs[i]);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		if (body != NULL) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, body_len);
		}
		if (cert != NULL)
			curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
		if (key != NULL)
			curl_easy_setopt(h, CURLOPT_SSLKEY, key);
		if (cacert != NULL)
			curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
		if (new_conn) {
			curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
			curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
			curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		}
	}
	t0 = now();
	deadline = t0 + secs;
	for (int i = 0; i < conc && (max_req == 0 || started < max_req); i++) {
		xs[i].start = now();
		xs[i].len = 0;
		curl_multi_add_handle(m, xs[i].h);
		started++;
	}
	active = (int)started;
	while (active > 0) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct xfer *x;
			long code = 0;
			double t;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&x);
			t = now();
			curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
			done++;
			if (msg->data.result == CURLE_OK && code >= 200 &&
			    code < 300 && (expect == NULL || (x->buf != NULL &&
			    strstr(x->buf, expect) != NULL))) {
				ok++;
				if (nlat == caplat) {
					caplat = caplat ? caplat * 2 : 4096;
					lat = realloc(lat, caplat * sizeof(*lat));
					if (lat == NULL)
						return 1;
				}
				lat[nlat++] = (t - x->start) * 1000.0;
				sum += (t - x->start) * 1000.0;
			} else if (first_err[0] == '\0') {
				if (msg->data.result != CURLE_OK)
					snprintf(first_err, sizeof(first_err),
					    "curl: %s",
					    curl_easy_strerror(msg->data.result));
				else
					snprintf(first_err, sizeof(first_err),
					    "HTTP %ld: %.300s", code,
					    x->buf ? x->buf : "");
			}
			curl_multi_remove_handle(m, x->h);
			active--;
			if (t < deadline && (max_req == 0 || started < max_req)) {
				x->start = now();
				x->len = 0;
				if (x->buf)
					x->buf[0] = '\0';
				curl_multi_add_handle(m, x->h);
				started++;
				active++;
			}
		}
		if (active > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	t_end = now();
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	printf("{\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"seconds\":%.3f,"
	    "\"per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	    "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
	    "\"first_error\":", done, ok, done - ok, t_end - t0,
	    (double)ok / (t_end - t0), pct(lat, nlat, 0.50),
	    pct(lat, nlat, 0.99), pct(lat, nlat, 0.999),
	    nlat ? lat[nlat - 1] : 0, nlat ? sum / (double)nlat : 0);
	if (first_err[0])
		put_json_str(first_err);
	else
		printf("null");
	printf("}\n");
	for (int i = 0; i < conc; i++) {
		curl_easy_cleanup(xs[i].h);
		free(xs[i].buf);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	free(xs);
	free(lat);
	free(body);
	return 0;
}
