/*
 * tpm_sign: the token layer on a TPM token (tests/tpm). Two modes:
 *
 *   tpm_sign bench N            sign N times with each key type, print
 *                               ms/sign per type (the figures in docs/tpm.md)
 *   tpm_sign recover DIR        sign, take the TPM down (tpm-token.sh
 *                               tpm-down DIR), check calls fail fast,
 *                               bring it back, check signing resumes
 *
 * The token comes from the environment of hsm/scripts/tpm-token.sh
 * (HKMS_TPM_MODULE, HKMS_TPM_LABEL, HKMS_TPM_PIN_FILE). Exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hkms/hsm.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static enum hkms_rc
sign_once(struct hkms_hsm *h, const char *key, struct hkms_err *err)
{
	unsigned char dg[32], sig[1024];
	size_t len = sizeof(sig);

	RAND_bytes(dg, sizeof(dg));
	return hkms_hsm_sign_digest(h, key, EVP_sha256(), dg, sizeof(dg),
	    sig, &len, err);
}

static struct hkms_hsm *
open_tpm(void)
{
	struct hkms_hsm_opts o = { getenv("HKMS_TPM_MODULE"),
	    getenv("HKMS_TPM_LABEL"), NULL, NULL, NULL, 0, 0 };
	struct hkms_secret *pin = NULL;
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;

	if (o.module == NULL || o.label == NULL ||
	    hkms_secret_from_file(getenv("HKMS_TPM_PIN_FILE"), "PIN", &pin,
	    &err) != HKMS_OK || hkms_hsm_open(&o, pin, &h, &err) != HKMS_OK) {
		fprintf(stderr, "cannot open the TPM token: %s\n", err.detail);
		exit(1);
	}
	hkms_secret_free(pin);
	return h;
}

static void
ensure(struct hkms_hsm *h, const char *name, enum hkms_key_type t)
{
	struct hkms_key_info ki;
	struct hkms_err err = { 0 };

	if (hkms_hsm_key_find(h, name, &ki, &err) == HKMS_OK)
		return;
	if (hkms_hsm_key_generate(h, name, t, &ki, &err) != HKMS_OK) {
		fprintf(stderr, "keygen %s: %s\n", name, err.detail);
		exit(1);
	}
}

static int
bench(int n)
{
	static const struct { const char *name; enum hkms_key_type t; } k[] = {
		{ "bench-p256", HKMS_KEY_EC_P256 },
		{ "bench-p384", HKMS_KEY_EC_P384 },
		{ "bench-rsa2048", HKMS_KEY_RSA2048 },
		{ "bench-rsa3072", HKMS_KEY_RSA3072 },
	};
	struct hkms_hsm *h = open_tpm();
	struct hkms_err err = { 0 };
	double t0;
	size_t i;
	int j;

	for (i = 0; i < 4; i++) {
		ensure(h, k[i].name, k[i].t);
		if (sign_once(h, k[i].name, &err) != HKMS_OK) {	/* warm-up */
			fprintf(stderr, "sign: %s\n", err.detail);
			return 1;
		}
		t0 = now_ms();
		for (j = 0; j < n; j++)
			if (sign_once(h, k[i].name, &err) != HKMS_OK) {
				fprintf(stderr, "sign: %s\n", err.detail);
				return 1;
			}
		printf("%-8s %6.2f ms/sign (%d signs)\n",
		    hkms_hsm_key_type_name(k[i].t), (now_ms() - t0) / n, n);
	}
	hkms_hsm_close(h);
	return 0;
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return rc == 0 ? 0 : 1;
}

static int
recover(const char *dir)
{
	struct hkms_hsm *h = open_tpm();
	struct hkms_err err = { 0 };
	struct hkms_token_info ti;
	char cmd[1024];
	const char *script = getenv("TPM_TOKEN_SH");
	double t0, worst = 0;
	int i, ok = 0;

	ensure(h, "recover-ec", HKMS_KEY_EC_P256);
	if (sign_once(h, "recover-ec", &err) != HKMS_OK) {
		fprintf(stderr, "first sign: %s\n", err.detail);
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "'%s' tpm-down '%s'", script, dir);
	if (run(cmd) != 0)
		return 1;
	for (i = 0; i < 5; i++) {
		t0 = now_ms();
		if (sign_once(h, "recover-ec", &err) == HKMS_OK) {
			fprintf(stderr, "signed while the TPM was down\n");
			return 1;
		}
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
	}
	printf("while down: '%s' (slowest call %.0f ms)\n", err.detail, worst);
	snprintf(cmd, sizeof(cmd), "'%s' tpm-up '%s'", script, dir);
	if (run(cmd) != 0)
		return 1;
	/* the backoff (HKMS_TOKEN_BACKOFF_MAX) may hold the next attempt */
	for (i = 0; i < 50 && !ok; i++) {
		if (sign_once(h, "recover-ec", &err) == HKMS_OK)
			ok = 1;
		else
			usleep(200000);
	}
	if (!ok) {
		fprintf(stderr, "no service after the TPM came back: %s\n",
		    err.detail);
		return 1;
	}
	if (hkms_hsm_token_info(h, &ti, &err) != HKMS_OK) {
		fprintf(stderr, "token info: %s\n", err.detail);
		return 1;
	}
	printf("recovered after %lu context rebuild(s)\n", ti.rebuilds);
	hkms_hsm_close(h);
	return ti.rebuilds >= 1 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "bench") == 0)
		return bench(atoi(argv[2]) > 0 ? atoi(argv[2]) : 50);
	if (argc == 3 && strcmp(argv[1], "recover") == 0)
		return recover(argv[2]);
	fprintf(stderr, "usage: tpm_sign bench N | recover DIR\n");
	return 2;
}
