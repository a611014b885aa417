/*
 * sign_bench: signatures per second through hkms' token layer, by key type
 * and thread count, on any token (SoftHSM2 by default via bench.sh).
 *
 *   HKMS_BENCH_MODULE=… HKMS_BENCH_LABEL=… HKMS_BENCH_PIN_FILE=… \
 *       sign_bench SECONDS THREADS...
 *
 * Prints one line per key type and thread count: signatures/s and the
 * ratio to one thread, measured in the same run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hkms/hsm.h"

struct worker {
	struct hkms_hsm *h;
	const char *key;
	double until;
	long n, failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	unsigned char dg[32], sig[1024];
	struct hkms_err err;
	size_t len;

	RAND_bytes(dg, sizeof(dg));
	while (now() < w->until) {
		len = sizeof(sig);
		if (hkms_hsm_sign_digest(w->h, w->key, EVP_sha256(), dg,
		    sizeof(dg), sig, &len, &err) == HKMS_OK)
			w->n++;
		else
			w->failed++;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct { const char *name; enum hkms_key_type t; } k[] = {
		{ "bench-p256", HKMS_KEY_EC_P256 },
		{ "bench-p384", HKMS_KEY_EC_P384 },
		{ "bench-rsa2048", HKMS_KEY_RSA2048 },
		{ "bench-rsa3072", HKMS_KEY_RSA3072 },
	};
	struct hkms_hsm_opts o = { getenv("HKMS_BENCH_MODULE"),
	    getenv("HKMS_BENCH_LABEL"), NULL, NULL, NULL, 0, 0 };
	struct hkms_secret *pin = NULL;
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;
	struct hkms_hsm *h = NULL;
	struct worker w[64];
	pthread_t th[64];
	double secs, base = 0;
	size_t i;
	int a, t, nt;
	long total, failed;

	if (argc < 3 || o.module == NULL || o.label == NULL) {
		fprintf(stderr, "usage: HKMS_BENCH_MODULE=… HKMS_BENCH_LABEL=… "
		    "HKMS_BENCH_PIN_FILE=… sign_bench SECONDS THREADS...\n");
		return 2;
	}
	secs = atof(argv[1]);
	if (hkms_secret_from_file(getenv("HKMS_BENCH_PIN_FILE"), "PIN", &pin,
	    &err) != HKMS_OK || hkms_hsm_open(&o, pin, &h, &err) != HKMS_OK) {
		fprintf(stderr, "%s\n", err.detail);
		return 1;
	}
	hkms_secret_free(pin);
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		if (hkms_hsm_key_find(h, k[i].name, &ki, &err) != HKMS_OK &&
		    hkms_hsm_key_generate(h, k[i].name, k[i].t, &ki, &err) !=
		    HKMS_OK) {
			fprintf(stderr, "%s: %s\n", k[i].name, err.detail);
			return 1;
		}
		for (a = 2; a < argc; a++) {
			nt = atoi(argv[a]);
			if (nt < 1 || nt > 64)
				continue;
			for (t = 0; t < nt; t++) {
				w[t] = (struct worker){ h, k[i].name,
				    now() + secs, 0, 0 };
				pthread_create(&th[t], NULL, work, &w[t]);
			}
			total = failed = 0;
			for (t = 0; t < nt; t++) {
				pthread_join(th[t], NULL);
				total += w[t].n;
				failed += w[t].failed;
			}
			if (a == 2)
				base = (double)total / secs;
			printf("%-9s %2d thread(s): %8.0f sig/s  x%.2f  "
			    "(%ld failed)\n", hkms_hsm_key_type_name(k[i].t),
			    nt, (double)total / secs,
			    base > 0 ? (double)total / secs / base : 0, failed);
			fflush(stdout);
		}
	}
	hkms_hsm_close(h);
	return 0;
}
