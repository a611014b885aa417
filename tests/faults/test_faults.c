/*
 * The token layer under injected PKCS#11 faults: SoftHSM2 behind the
 * project's shim (tests/shim). Shows that transient faults are survived
 * with one retry, that a token that is gone fails fast and works again when
 * it returns, that a wrong or locked PIN is tried at most once, and that no
 * session is used by two threads at once. Figures come from the shim's
 * stats file, not from the layer's own word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hkms/hsm.h"
#include "hkms/util.h"

static char dir[256], stats[300], control[300];
static struct hkms_secret *pin;
static struct hkms_hsm_opts opts;
static struct hkms_hsm_opts direct;

static void
set_control(const char *text)
{
	char tmp[320];
	FILE *f;

	/* replace atomically: the shim polls it on every call */
	snprintf(tmp, sizeof(tmp), "%s.new", control);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, control), 0);
	/* the shim compares mtimes; make sure the change is seen */
	usleep(20000);
}

static json_t *
read_stats(void)
{
	json_error_t je;
	json_t *j = json_load_file(stats, 0, &je);

	if (j == NULL)
		fail_msg("no shim stats in %s: %s", stats, je.text);
	return j;
}

/* The shim's counters live as long as the module stays loaded (the whole
 * test run), so every figure is a difference from the stats at the start
 * of the test. */
static json_t *base;

static unsigned long
raw_num(json_t *j, const char *k)
{
	return (unsigned long)json_integer_value(json_object_get(j, k));
}

static unsigned long
stat_num(json_t *j, const char *k)
{
	return raw_num(j, k) - raw_num(base, k);
}

static unsigned long
raw_fn(json_t *j, const char *fn, const char *what)
{
	return (unsigned long)json_integer_value(json_object_get(
	    json_object_get(json_object_get(j, "functions"), fn), what));
}

static unsigned long
fn_calls(json_t *j, const char *fn, const char *what)
{
	return raw_fn(j, fn, what) - raw_fn(base, fn, what);
}

static int
group_setup(void **state)
{
	char conf[300], tok[300], buf[600];
	const char *shim = getenv("P11SHIM_LIB");
	const char *softhsm = getenv("HKMS_SOFTHSM2_MODULE");
	struct hkms_secret *so = NULL;
	struct hkms_err err = { 0 };
	FILE *f;

	(void)state;
	if (shim == NULL) {
		fprintf(stderr, "P11SHIM_LIB not set\n");
		return -1;
	}
	if (softhsm == NULL)
		softhsm = "/usr/lib/softhsm/libsofthsm2.so";
	snprintf(dir, sizeof(dir), "/tmp/hkms-faults.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(tok, sizeof(tok), "%s/tokens", dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(stats, sizeof(stats), "%s/stats.json", dir);
	snprintf(control, sizeof(control), "%s/control", dir);
	if (hkms_mkdir_p(tok, 0700, &err) != HKMS_OK ||
	    (f = fopen(conf, "w")) == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tok);
	fputs(buf, f);
	fclose(f);
	setenv("P11SHIM_TARGET", softhsm, 1);
	setenv("P11SHIM_STATS", stats, 1);
	setenv("P11SHIM_CONTROL", control, 1);
	setenv("HKMS_TOKEN_BACKOFF_MAX", "0", 1);
	set_control("");
	direct.module = softhsm;
	direct.label = "faults";
	direct.softhsm2_conf = strdup(conf);
	opts = direct;
	opts.module = shim;
	if (hkms_secret_new("11223344", 8, &pin, &err) != HKMS_OK ||
	    hkms_secret_new("44332211", 8, &so, &err) != HKMS_OK ||
	    hkms_hsm_token_init(&direct, "faults", so, pin, &err) != HKMS_OK) {
		fprintf(stderr, "token init: %s\n", err.detail);
		return -1;
	}
	hkms_secret_free(so);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	hkms_secret_free(pin);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts with a clean shim configuration. */
static int
test_setup(void **state)
{
	(void)state;
	unsetenv("P11SHIM_FAULTS");
	unsetenv("P11SHIM_TOKENINFO_FLAGS");
	unsetenv("P11SHIM_KILL_SESSIONS_AT");
	set_control("");
	json_decref(base);
	base = json_load_file(stats, 0, NULL);
	if (base == NULL)
		base = json_object();
	return 0;
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

static enum hkms_rc
sign_once(struct hkms_hsm *h, const char *key, struct hkms_err *err)
{
	unsigned char dg[32], sig[512];
	size_t len = sizeof(sig);

	RAND_bytes(dg, sizeof(dg));
	return hkms_hsm_sign_digest(h, key, EVP_sha256(), dg, sizeof(dg), sig,
	    &len, err);
}

static void
ensure_key(struct hkms_hsm *h, const char *name)
{
	struct hkms_err err = { 0 };
	struct hkms_key_info ki;

	if (hkms_hsm_key_find(h, name, &ki, &err) == HKMS_OK)
		return;
	assert_int_equal(hkms_hsm_key_generate(h, name, HKMS_KEY_EC_P256, &ki,
	    &err), HKMS_OK);
}

/* One transient fault of each kind on the signing path: one retry. */
static void
transient(const char *rule)
{
	struct hkms_err err = { 0 };
	struct hkms_token_info ti;
	struct hkms_hsm *h;
	json_t *st;
	char ctl[200];

	h = open_ok();
	ensure_key(h, "k");
	assert_int_equal(sign_once(h, "k", &err), HKMS_OK);
	snprintf(ctl, sizeof(ctl), "P11SHIM_FAULTS=%s\n", rule);
	set_control(ctl);
	if (sign_once(h, "k", &err) != HKMS_OK)
		fail_msg("%s not survived: %s", rule, err.detail);
	assert_int_equal(hkms_hsm_token_info(h, &ti, &err), HKMS_OK);
	assert_int_equal(ti.rebuilds, 1);
	hkms_hsm_close(h);
	st = read_stats();
	assert_int_equal(stat_num(st, "injected_total"), 1);
	assert_int_equal(stat_num(st, "concurrency_violations"), 0);
	json_decref(st);
}

static void
test_transient_device_error(void **state)
{
	(void)state;
	transient("C_Sign:CKR_DEVICE_ERROR@n=1");
}

static void
test_transient_session_invalid(void **state)
{
	(void)state;
	transient("C_SignInit:CKR_SESSION_HANDLE_INVALID@n=1");
}

static void
test_transient_not_logged_in(void **state)
{
	(void)state;
	transient("C_Sign:CKR_USER_NOT_LOGGED_IN@n=1");
}

static void
test_transient_device_removed(void **state)
{
	(void)state;
	transient("C_SignInit:CKR_DEVICE_REMOVED@n=1");
}

/* A fault that does not go away: exactly one retry, then a clear error. */
static void
test_persistent_fault_no_loop(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h;
	json_t *st;

	(void)state;
	h = open_ok();
	ensure_key(h, "k");
	set_control("P11SHIM_FAULTS=C_Sign:CKR_DEVICE_ERROR@always\n");
	assert_int_not_equal(sign_once(h, "k", &err), HKMS_OK);
	assert_true(strlen(err.detail) > 0);
	hkms_hsm_close(h);
	st = read_stats();
	print_message("persistent fault: C_SignInit %lu, C_Sign %lu calls, "
	    "%lu injected\n", fn_calls(st, "C_SignInit", "calls"),
	    fn_calls(st, "C_Sign", "calls"), stat_num(st, "injected_total"));
	/* the first try and one retry after the rebuild: no loop */
	assert_int_equal(stat_num(st, "injected_total"), 2);
	json_decref(st);
}

static void
test_pin_incorrect_tried_once(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;
	json_t *st;

	(void)state;
	setenv("P11SHIM_FAULTS", "C_Login:CKR_PIN_INCORRECT@always", 1);
	assert_int_equal(hkms_hsm_open(&opts, pin, &h, &err), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err), "pin_incorrect");
	assert_null(strstr(err.detail, "11223344"));
	st = read_stats();
	assert_int_equal(stat_num(st, "login_attempts"), 1);
	json_decref(st);
}

static void
test_pin_locked_by_login(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;
	json_t *st;

	(void)state;
	setenv("P11SHIM_FAULTS", "C_Login:CKR_PIN_LOCKED@always", 1);
	assert_int_equal(hkms_hsm_open(&opts, pin, &h, &err), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err), "pin_locked");
	st = read_stats();
	assert_int_equal(stat_num(st, "login_attempts"), 1);
	json_decref(st);
}

/* Flags say locked / final try: no login attempt at all. */
static void
flags_refuse(const char *flags, const char *code)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h = NULL;
	json_t *st;

	setenv("P11SHIM_TOKENINFO_FLAGS", flags, 1);
	assert_int_equal(hkms_hsm_open(&opts, pin, &h, &err), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err), code);
	st = read_stats();
	assert_int_equal(stat_num(st, "login_attempts"), 0);
	json_decref(st);
}

static void
test_pin_flags_locked(void **state)
{
	(void)state;
	flags_refuse("+CKF_USER_PIN_LOCKED", "pin_locked");
}

static void
test_pin_flags_final_try(void **state)
{
	(void)state;
	flags_refuse("+CKF_USER_PIN_FINAL_TRY", "pin_final_try");
}

/* The PIN stops working while we run (changed by an operator): after one
 * refused re-login the layer stays sealed and never tries again. */
static void
test_pin_refused_on_relogin_sealed(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h;
	json_t *st;
	int i;

	(void)state;
	h = open_ok();
	ensure_key(h, "k");
	set_control("P11SHIM_FAULTS=C_Login:CKR_PIN_INCORRECT@always;"
	    "C_Sign:CKR_USER_NOT_LOGGED_IN@always\n");
	for (i = 0; i < 5; i++)
		assert_int_equal(sign_once(h, "k", &err), HKMS_E_PIN);
	hkms_hsm_close(h);
	st = read_stats();
	/* one good login at open, one refused after the loss: no more */
	assert_int_equal(stat_num(st, "login_attempts"), 2);
	json_decref(st);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The token goes away (every call fails) and comes back. */
static void
test_token_gone_and_back(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h;
	double t0, worst = 0;
	int i;

	(void)state;
	h = open_ok();
	ensure_key(h, "k");
	assert_int_equal(sign_once(h, "k", &err), HKMS_OK);
	set_control("P11SHIM_FAULTS=*:CKR_DEVICE_REMOVED@always\n");
	for (i = 0; i < 20; i++) {
		t0 = now_s();
		assert_int_not_equal(sign_once(h, "k", &err), HKMS_OK);
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
		assert_true(err.rc == HKMS_E_TOKEN_DOWN ||
		    err.rc == HKMS_E_TOKEN || err.rc == HKMS_E_CRYPTO);
	}
	/* fails fast: no call waits on a dead token */
	assert_true(worst < 1.0);
	set_control("P11SHIM_FAULTS=\n");
	if (sign_once(h, "k", &err) != HKMS_OK)
		fail_msg("no service after the token came back: %s",
		    err.detail);
	hkms_hsm_close(h);
}

/* The HSM restarts: every session is closed behind our back. */
static void
test_sessions_killed(void **state)
{
	struct hkms_err err = { 0 };
	struct hkms_hsm *h;
	json_t *st;
	int i;

	(void)state;
	h = open_ok();
	ensure_key(h, "k");
	set_control("P11SHIM_KILL_SESSIONS_AT=40\n");
	for (i = 0; i < 50; i++)
		if (sign_once(h, "k", &err) != HKMS_OK)
			fail_msg("sign %d after the restart: %s", i, err.detail);
	hkms_hsm_close(h);
	st = read_stats();
	assert_true(stat_num(st, "kill_events") >= 1);
	json_decref(st);
}

struct worker {
	struct hkms_hsm *h;
	int n, ok, failed_clearly;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct hkms_err err;
	int i;

	for (i = 0; i < w->n; i++) {
		memset(&err, 0, sizeof(err));
		if (sign_once(w->h, "k", &err) == HKMS_OK)
			w->ok++;
		else if (err.detail[0] != '\0')
			w->failed_clearly++;
	}
	return NULL;
}

/* Random session faults under two signing threads: everything succeeds or
 * fails with a message, and the shim never sees a session shared. */
static void
test_random_faults_two_threads(void **state)
{
	struct worker w[2];
	pthread_t th[2];
	struct hkms_hsm *h;
	json_t *st;
	int i, ok = 0;

	(void)state;
	h = open_ok();
	ensure_key(h, "k");
	setenv("P11SHIM_SEED", "42", 1);
	set_control("P11SHIM_FAULTS=C_Sign:CKR_SESSION_HANDLE_INVALID@p=0.01\n");
	for (i = 0; i < 2; i++) {
		w[i] = (struct worker){ h, 500, 0, 0 };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok + w[i].failed_clearly, 500);
		ok += w[i].ok;
	}
	hkms_hsm_close(h);
	st = read_stats();
	print_message("random faults: %lu injected, %d/1000 signatures ok\n",
	    stat_num(st, "injected_total"), ok);
	assert_true(stat_num(st, "injected_total") > 0);
	assert_true(ok >= 990);
	assert_int_equal(stat_num(st, "concurrency_violations"), 0);
	json_decref(st);
}

int
main(void)
{
	/* token_gone_and_back first: its failed reloads once made libp11
	 * unload the module under later tests (fixed with RTLD_NODELETE in
	 * hsm/token.c); this order keeps that regression covered. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_token_gone_and_back, test_setup),
		cmocka_unit_test_setup(test_transient_device_error, test_setup),
		cmocka_unit_test_setup(test_transient_session_invalid, test_setup),
		cmocka_unit_test_setup(test_transient_not_logged_in, test_setup),
		cmocka_unit_test_setup(test_transient_device_removed, test_setup),
		cmocka_unit_test_setup(test_persistent_fault_no_loop, test_setup),
		cmocka_unit_test_setup(test_pin_incorrect_tried_once, test_setup),
		cmocka_unit_test_setup(test_pin_locked_by_login, test_setup),
		cmocka_unit_test_setup(test_pin_flags_locked, test_setup),
		cmocka_unit_test_setup(test_pin_flags_final_try, test_setup),
		cmocka_unit_test_setup(test_pin_refused_on_relogin_sealed, test_setup),
		cmocka_unit_test_setup(test_sessions_killed, test_setup),
		cmocka_unit_test_setup(test_random_faults_two_threads, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
