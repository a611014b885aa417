/*
 * Token layer tests against a real SoftHSM2 token made in a temp dir:
 * key generation and attributes, lookups, concurrent signing, recovery
 * after the token's store goes away and comes back, and PIN handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hkms/hsm.h"
#include "hkms/util.h"

static char tmpdir[256];
static char tokdir[300];
static struct hkms_secret *pin;
static struct hkms_hsm_opts opts;

static const char *
module(void)
{
	const char *m = getenv("HKMS_SOFTHSM2_MODULE");

	return m ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

static int
group_setup(void **state)
{
	char conf[400], buf[512];
	struct hkms_secret *so = NULL;
	struct hkms_err err = { 0 };
	FILE *f;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hkms-unit-hsm.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(tokdir, sizeof(tokdir), "%s/tokens", tmpdir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	if (hkms_mkdir_p(tokdir, 0700, &err) != HKMS_OK ||
	    (f = fopen(conf, "w")) == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokdir);
	fputs(buf, f);
	fclose(f);
	opts.module = module();
	opts.label = "unit";
	opts.softhsm2_conf = strdup(conf);
	if (hkms_secret_new("12345678", 8, &pin, &err) != HKMS_OK ||
	    hkms_secret_new("87654321", 8, &so, &err) != HKMS_OK ||
	    hkms_hsm_token_init(&opts, "unit", so, pin, &err) != HKMS_OK) {
		fprintf(stderr, "token init: %s\n", err.detail);
		return -1;
	}
	hkms_secret_free(so);
	setenv("HKMS_TOKEN_BACKOFF_MAX", "0", 1);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	hkms_secret_free(pin);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct hkms_hsm *
open_ok(void)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;

	if (hkms_hsm_open(&opts, pin, &h, &err) != HKMS_OK)
		fail_msg("open: %s", err.detail);
	return h;
}

static void
test_key_type_parse(void **state)
{
	struct hkms_err err = { 0 };
	enum hkms_key_type t;

	(void)state;
	assert_int_equal(hkms_hsm_key_type_parse("ec:p384", &t, &err), HKMS_OK);
	assert_int_equal(t, HKMS_KEY_EC_P384);
	assert_int_equal(hkms_hsm_key_type_parse("rsa:1024", &t, &err),
	    HKMS_E_POLICY);
	assert_string_equal(hkms_err_code(&err), "weak_key");
	assert_int_equal(hkms_hsm_key_type_parse("ec:p192", &t, &err),
	    HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "unknown_key_type");
}

static void
test_key_generate_attributes(void **state)
{
	static const enum hkms_key_type types[] = { HKMS_KEY_RSA2048,
	    HKMS_KEY_EC_P256, HKMS_KEY_EC_P384, HKMS_KEY_EC_P521 };
	static const int bits[] = { 2048, 256, 384, 521 };
	struct hkms_hsm *h = open_ok();
	struct hkms_err err = { 0 };
	struct hkms_key_info ki, found;
	EVP_PKEY *pub = NULL;
	char name[160];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "gen%zu", i);
		assert_int_equal(hkms_hsm_key_generate(h, name, types[i], &ki,
		    &err), HKMS_OK);
		assert_string_equal(ki.name, name);
		assert_int_equal(ki.type, types[i]);
		assert_int_equal(ki.bits, bits[i]);
		assert_int_equal(ki.sensitive, 1);
		assert_int_equal(ki.extractable, 0);
		assert_int_equal(ki.always_sensitive, 1);
		assert_int_equal(ki.never_extractable, 1);
		assert_int_equal(ki.is_private, 1);
		assert_int_equal(ki.is_token, 1);
		assert_non_null(strstr(ki.uri, "token=unit;"));
		assert_int_equal(hkms_hsm_key_public(h, name, &pub, &err),
		    HKMS_OK);
		assert_int_equal(EVP_PKEY_get_bits(pub), bits[i]);
		EVP_PKEY_free(pub);
		/* found again by id */
		snprintf(name, sizeof(name), "id:%s", ki.id_hex);
		assert_int_equal(hkms_hsm_key_find(h, name, &found, &err),
		    HKMS_OK);
		assert_string_equal(found.name, ki.name);
	}
	/* duplicate names are refused */
	assert_int_equal(hkms_hsm_key_generate(h, "gen0", HKMS_KEY_EC_P256,
	    &ki, &err), HKMS_E_EXISTS);
	hkms_hsm_close(h);
}

struct signer {
	struct hkms_hsm *h;
	EVP_PKEY *pub;
	const char *key;
	int n, ok;
};

static void *
sign_loop(void *arg)
{
	struct signer *s = arg;
	unsigned char dg[32], sig[512];
	struct hkms_err err = { 0 };
	EVP_PKEY_CTX *v;
	size_t len;
	int i;

	for (i = 0; i < s->n; i++) {
		RAND_bytes(dg, sizeof(dg));
		len = sizeof(sig);
		if (hkms_hsm_sign_digest(s->h, s->key, EVP_sha256(), dg,
		    sizeof(dg), sig, &len, &err) != HKMS_OK)
			continue;
		v = EVP_PKEY_CTX_new(s->pub, NULL);
		if (EVP_PKEY_verify_init(v) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(v, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(v, sig, len, dg, sizeof(dg)) == 1)
			s->ok++;
		EVP_PKEY_CTX_free(v);
	}
	return NULL;
}

static void
run_signers(struct hkms_hsm *h, const char *key, int nthreads, int n)
{
	struct hkms_err err = { 0 };
	struct signer s[2];
	pthread_t th[2];
	EVP_PKEY *pub = NULL;
	int i;

	assert_int_equal(hkms_hsm_key_public(h, key, &pub, &err), HKMS_OK);
	for (i = 0; i < nthreads; i++) {
		s[i] = (struct signer){ h, pub, key, n, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &s[i]), 0);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(s[i].ok, n);
	}
	EVP_PKEY_free(pub);
}

static void
test_sign_two_threads(void **state)
{
	struct hkms_hsm *h = open_ok();
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;

	(void)state;
	assert_int_equal(hkms_hsm_key_generate(h, "threads-ec",
	    HKMS_KEY_EC_P256, &ki, &err), HKMS_OK);
	assert_int_equal(hkms_hsm_key_generate(h, "threads-rsa",
	    HKMS_KEY_RSA2048, &ki, &err), HKMS_OK);
	/* two threads, one key, 1000 verified signatures each */
	run_signers(h, "threads-ec", 2, 1000);
	run_signers(h, "threads-rsa", 2, 1000);
	hkms_hsm_close(h);
}

static void
test_recover_after_store_loss(void **state)
{
	struct hkms_hsm *h = open_ok();
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;
	struct hkms_token_info ti;
	unsigned char dg[32] = { 1 }, sig[256];
	size_t len = sizeof(sig);
	char moved[320];

	(void)state;
	assert_int_equal(hkms_hsm_key_generate(h, "recover",
	    HKMS_KEY_EC_P256, &ki, &err), HKMS_OK);
	assert_int_equal(hkms_hsm_sign_digest(h, "recover", EVP_sha256(), dg,
	    32, sig, &len, &err), HKMS_OK);
	/* the token's store disappears: sessions and handles go stale */
	snprintf(moved, sizeof(moved), "%s.gone", tokdir);
	assert_int_equal(rename(tokdir, moved), 0);
	len = sizeof(sig);
	assert_int_not_equal(hkms_hsm_sign_digest(h, "recover", EVP_sha256(),
	    dg, 32, sig, &len, &err), HKMS_OK);
	assert_true(err.rc == HKMS_E_TOKEN_DOWN || err.rc == HKMS_E_TOKEN ||
	    err.rc == HKMS_E_NOT_FOUND);
	/* ... and comes back: the layer rebuilds, logs in, finds the key by
	 * CKA_ID and signs again */
	assert_int_equal(rename(moved, tokdir), 0);
	len = sizeof(sig);
	if (hkms_hsm_sign_digest(h, "recover", EVP_sha256(), dg, 32, sig,
	    &len, &err) != HKMS_OK)
		fail_msg("no recovery: %s", err.detail);
	assert_int_equal(hkms_hsm_token_info(h, &ti, &err), HKMS_OK);
	assert_true(ti.rebuilds >= 1);
	assert_int_equal(ti.logged_in, 1);
	hkms_hsm_close(h);
}

static void
test_recover_after_reinit(void **state)
{
	/* The token is re-initialised under us (all objects wiped) and the
	 * key re-created with the same name by another party: the cached
	 * object handle is stale, the layer must find the new key by name. */
	struct hkms_hsm *h = open_ok(), *h2;
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;
	unsigned char dg[32] = { 2 }, sig[256];
	size_t len = sizeof(sig);

	(void)state;
	assert_int_equal(hkms_hsm_key_generate(h, "stale", HKMS_KEY_EC_P256,
	    &ki, &err), HKMS_OK);
	assert_int_equal(hkms_hsm_sign_digest(h, "stale", EVP_sha256(), dg,
	    32, sig, &len, &err), HKMS_OK);
	h2 = open_ok();
	assert_int_equal(hkms_hsm_key_delete(h2, "stale", &err), HKMS_OK);
	assert_int_equal(hkms_hsm_key_generate(h2, "stale", HKMS_KEY_EC_P256,
	    &ki, &err), HKMS_OK);
	len = sizeof(sig);
	if (hkms_hsm_sign_digest(h, "stale", EVP_sha256(), dg, 32, sig, &len,
	    &err) != HKMS_OK)
		fail_msg("no recovery: %s", err.detail);
	hkms_hsm_close(h2);
	hkms_hsm_close(h);
}

static void
test_wrong_pin_once(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_secret *bad = NULL;
	struct hkms_hsm *h = NULL;

	(void)state;
	assert_int_equal(hkms_secret_new("00000000", 8, &bad, &err), HKMS_OK);
	assert_int_equal(hkms_hsm_open(&opts, bad, &h, &err), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err), "pin_incorrect");
	assert_null(strstr(err.detail, "00000000"));
	assert_null(h);
	hkms_secret_free(bad);
	/* the right PIN still works */
	h = open_ok();
	hkms_hsm_close(h);
}

static void
test_missing_token(void **state)
{
	struct hkms_hsm_opts o = opts;
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;

	(void)state;
	o.label = "no-such-token";
	assert_int_equal(hkms_hsm_open(&o, pin, &h, &err), HKMS_E_TOKEN_DOWN);
	assert_string_equal(hkms_err_code(&err), "token_not_found");
}

static void
test_import_key(void **state)
{
	struct hkms_hsm *h = open_ok();
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;
	EVP_PKEY *sw, *weak, *pub = NULL;

	(void)state;
	sw = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_int_equal(hkms_hsm_key_import(h, "imported", sw, &ki, &err),
	    HKMS_OK);
	assert_int_equal(ki.sensitive, 1);
	assert_int_equal(ki.extractable, 0);
	assert_int_equal(hkms_hsm_key_public(h, "imported", &pub, &err),
	    HKMS_OK);
	assert_int_equal(EVP_PKEY_eq(pub, sw), 1);
	EVP_PKEY_free(pub);
	weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_int_equal(hkms_hsm_key_import(h, "weak", weak, &ki, &err),
	    HKMS_E_POLICY);
	assert_string_equal(hkms_err_code(&err), "weak_key");
	EVP_PKEY_free(weak);
	EVP_PKEY_free(sw);
	hkms_hsm_close(h);
}

/* Seal/unseal (hsm/seal.c): round trip into a secret; every changed byte,
 * a wrong aad, another version, a cut blob are refused (seal_invalid); a
 * second context (another process's view) opens the blob, so the token
 * holds one seal key that both use. */
static void
test_seal_unseal(void **state)
{
	static const char aad[] = "purpose\0ca\0kid-a";
	static const char aad2[] = "purpose\0ca\0kid-b";
	unsigned char plain[32], *blob = NULL, *b2 = NULL, *bad;
	size_t blen = 0, b2len = 0, i;
	struct hkms_hsm *h = open_ok(), *h2;
	struct hkms_secret *out = NULL;
	struct hkms_err err = { 0 };

	(void)state;
	assert_int_equal(RAND_bytes(plain, sizeof(plain)), 1);
	assert_int_equal(hkms_hsm_seal(h, plain, sizeof(plain), aad,
	    sizeof(aad) - 1, &blob, &blen, &err), HKMS_OK);
	assert_int_equal(blen, sizeof(plain) + HKMS_SEAL_OVERHEAD);
	assert_int_equal(blob[0], HKMS_SEAL_VERSION);
	assert_null(memmem(blob, blen, plain, sizeof(plain)));
	/* a fresh IV each time */
	assert_int_equal(hkms_hsm_seal(h, plain, sizeof(plain), aad,
	    sizeof(aad) - 1, &b2, &b2len, &err), HKMS_OK);
	assert_memory_not_equal(blob + 1, b2 + 1, HKMS_SEAL_IV_LEN);
	free(b2);
	assert_int_equal(hkms_hsm_unseal(h, blob, blen, aad, sizeof(aad) - 1,
	    &out, &err), HKMS_OK);
	assert_int_equal(hkms_secret_len(out), sizeof(plain));
	assert_memory_equal(hkms_secret_str(out), plain, sizeof(plain));
	hkms_secret_free(out);
	out = NULL;

	/* wrong aad: the blob of kid-a in kid-b's record */
	assert_int_equal(hkms_hsm_unseal(h, blob, blen, aad2, sizeof(aad2) - 1,
	    &out, &err), HKMS_E_VERIFY);
	assert_string_equal(hkms_err_code(&err), "seal_invalid");
	assert_int_equal(hkms_hsm_unseal(h, blob, blen, NULL, 0, &out, &err),
	    HKMS_E_VERIFY);
	assert_null(out);
	/* each byte changed: version, IV, ciphertext, tag */
	bad = malloc(blen);
	assert_non_null(bad);
	for (i = 0; i < blen; i++) {
		memcpy(bad, blob, blen);
		bad[i] ^= 0x01;
		assert_int_equal(hkms_hsm_unseal(h, bad, blen, aad,
		    sizeof(aad) - 1, &out, &err), HKMS_E_VERIFY);
		assert_string_equal(hkms_err_code(&err), "seal_invalid");
		assert_null(out);
	}
	/* cut short (tag gone), or nothing but the header */
	assert_int_equal(hkms_hsm_unseal(h, blob, blen - 1, aad,
	    sizeof(aad) - 1, &out, &err), HKMS_E_VERIFY);
	assert_int_equal(hkms_hsm_unseal(h, blob, HKMS_SEAL_OVERHEAD, aad,
	    sizeof(aad) - 1, &out, &err), HKMS_E_VERIFY);
	free(bad);

	/* another context finds the same seal key and opens the blob */
	assert_int_equal(hkms_hsm_open(&opts, pin, &h2, &err), HKMS_OK);
	assert_int_equal(hkms_hsm_unseal(h2, blob, blen, aad, sizeof(aad) - 1,
	    &out, &err), HKMS_OK);
	assert_memory_equal(hkms_secret_str(out), plain, sizeof(plain));
	hkms_secret_free(out);
	hkms_hsm_close(h2);
	free(blob);

	/* the seal key is a secret key, not a key pair hkms lists */
	{
		struct hkms_key_info ki;

		assert_int_equal(hkms_hsm_key_find(h, HKMS_SEAL_KEY_LABEL,
		    &ki, &err), HKMS_E_NOT_FOUND);
	}
	hkms_hsm_close(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_type_parse),
		cmocka_unit_test(test_key_generate_attributes),
		cmocka_unit_test(test_sign_two_threads),
		cmocka_unit_test(test_recover_after_store_loss),
		cmocka_unit_test(test_recover_after_reinit),
		cmocka_unit_test(test_wrong_pin_once),
		cmocka_unit_test(test_missing_token),
		cmocka_unit_test(test_import_key),
		cmocka_unit_test(test_seal_unseal),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
