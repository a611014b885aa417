/*
 * Unit tests for the file store (src/store): atomic writes, records,
 * locks, the consistency check and the audit log, on real files in a
 * mkdtemp directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "hkms/store.h"
#include "store_int.h"

struct fx {
	char dir[64];
	struct hkms_store *st;
};

static const char PEM1[] = "-----BEGIN CERTIFICATE-----\nAAAA\n"
    "-----END CERTIFICATE-----\n";
static const char PEM2[] = "-----BEGIN CERTIFICATE-----\nBBBBBBBB\n"
    "-----END CERTIFICATE-----\n";

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct hkms_err err = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/hkms-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	strcat(f->dir, "/data");
	/* like `hkms init`: only init_dir creates a data dir */
	if (hkms_store_init_dir(f->dir, &err) != HKMS_OK ||
	    hkms_store_open(f->dir, &f->st, &err) != HKMS_OK) {
		fprintf(stderr, "open: %s\n", err.detail);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	hkms_store_close(f->st);
	*strrchr(f->dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static char *
path_of(struct fx *f, const char *rel)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->dir, rel);
	return buf[i];
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

static void
spit(const char *path, const char *data)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
}

/* Number of entries in dir whose name contains needle. */
static int
count_files(const char *dir, const char *needle)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, needle) != NULL)
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */

static void
test_store_write_atomic_replaces(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	const char *p = path_of(f, "certs/file.bin");
	struct stat sb;
	char *s;

	assert_int_equal(hkms_store_write_atomic(p, "first", 5, 0600, &err),
	    HKMS_OK);
	assert_int_equal(hkms_store_write_atomic(p, "second!", 7, 0600, &err),
	    HKMS_OK);
	s = slurp(p);
	assert_string_equal(s, "second!");
	free(s);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(count_files(path_of(f, "certs"), ".tmp."), 0);
	/* an empty file is a valid content */
	assert_int_equal(hkms_store_write_atomic(p, "", 0, 0644, &err),
	    HKMS_OK);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
}

static void
test_store_write_atomic_failure_keeps_old(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	const char *p = path_of(f, "certs/keep.bin");
	char big[4096];
	int status;
	pid_t pid;
	char *s;

	assert_int_equal(hkms_store_write_atomic(p, "old", 3, 0644, &err),
	    HKMS_OK);
	memset(big, 'x', sizeof(big));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a file size limit makes write() fail with EFBIG midway */
		struct rlimit rl = { 100, 100 };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		_exit(hkms_store_write_atomic(p, big, sizeof(big), 0644,
		    &err) == HKMS_E_IO && strstr(err.detail, "keep.bin") ?
		    0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s = slurp(p);
	assert_string_equal(s, "old");
	free(s);
	assert_int_equal(count_files(path_of(f, "certs"), ".tmp."), 0);

	/* no directory: a clear error, nothing created */
	assert_int_equal(hkms_store_write_atomic(path_of(f, "nodir/x"), "a", 1,
	    0644, &err), HKMS_E_IO);
	assert_non_null(strstr(err.detail, "nodir/x"));
	assert_int_equal(hkms_store_write_atomic(NULL, "a", 1, 0644, &err),
	    HKMS_E_INVALID);
}

static void
test_store_put_get(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *meta = json_pack("{s:s, s:i}", "subject", "CN=a", "days", 30);
	json_t *got = NULL;
	char *pem = NULL;
	struct stat sb;

	assert_int_equal(hkms_store_put(f->st, "certs", "web", meta, PEM1,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_get(f->st, "certs", "web", &got, &pem,
	    &err), HKMS_OK);
	assert_string_equal(pem, PEM1);
	assert_int_equal(json_integer_value(json_object_get(got, "schema")),
	    1);
	assert_string_equal(json_string_value(json_object_get(got, "name")),
	    "web");
	assert_string_equal(json_string_value(json_object_get(got,
	    "subject")), "CN=a");
	assert_non_null(json_object_get(got, "updated"));
	assert_non_null(json_object_get(got, "pem_sha256"));
	/* caller's meta is not modified */
	assert_null(json_object_get(meta, "schema"));
	json_decref(got);
	free(pem);
	assert_int_equal(stat(path_of(f, "certs/web.json"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(stat(path_of(f, "certs/web.pem"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_true(hkms_store_exists(f->st, "certs", "web"));
	assert_false(hkms_store_exists(f->st, "certs", "nope"));

	/* overwrite with another PEM, then with none */
	assert_int_equal(hkms_store_put(f->st, "certs", "web", meta, PEM2,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_get(f->st, "certs", "web", NULL, &pem,
	    &err), HKMS_OK);
	assert_string_equal(pem, PEM2);
	free(pem);
	assert_int_equal(hkms_store_put(f->st, "certs", "web", meta, NULL,
	    &err), HKMS_OK);
	pem = (char *)1;
	assert_int_equal(hkms_store_get(f->st, "certs", "web", NULL, &pem,
	    &err), HKMS_OK);
	assert_null(pem);
	assert_int_equal(stat(path_of(f, "certs/web.pem"), &sb), -1);

	/* sensitive kind is 0600; sub-kinds are created on demand */
	assert_int_equal(hkms_store_put(f->st, "secrets", "s1", NULL, PEM1,
	    &err), HKMS_OK);
	assert_int_equal(stat(path_of(f, "secrets/s1.json"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(path_of(f, "secrets/s1.pem"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(hkms_store_put(f->st, "issued/ca1", "0a1b", meta,
	    PEM1, &err), HKMS_OK);
	assert_int_equal(hkms_store_get(f->st, "issued/ca1", "0a1b", NULL,
	    NULL, &err), HKMS_OK);

	assert_int_equal(hkms_store_get(f->st, "certs", "missing", &got, NULL,
	    &err), HKMS_E_NOT_FOUND);
	/* non-object meta refused */
	got = json_array();
	assert_int_equal(hkms_store_put(f->st, "certs", "arr", got, NULL,
	    &err), HKMS_E_INVALID);
	json_decref(got);
	json_decref(meta);
}

static void
test_store_list_sorted_ignores_strays(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	const char *names[] = { "charlie", "alpha", "bravo" };
	json_t *arr = NULL;
	size_t i;

	for (i = 0; i < 3; i++)
		assert_int_equal(hkms_store_put(f->st, "cas", names[i], NULL,
		    i == 1 ? PEM1 : NULL, &err), HKMS_OK);
	spit(path_of(f, "cas/delta.json.tmp.123.abcd"), "{\"schema\":1");
	spit(path_of(f, "cas/orphan.pem"), PEM1);
	spit(path_of(f, "cas/echo.pem.next"), PEM1);
	assert_int_equal(hkms_store_list(f->st, "cas", &arr, &err), HKMS_OK);
	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(arr, 0), "name")), "alpha");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(arr, 1), "name")), "bravo");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(arr, 2), "name")), "charlie");
	json_decref(arr);
	/* a sub-kind that was never written is an empty list */
	assert_int_equal(hkms_store_list(f->st, "issued/none", &arr, &err),
	    HKMS_OK);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);

	/* reopen: temp and staged strays are gone, data is not */
	hkms_store_close(f->st);
	assert_int_equal(hkms_store_open(f->dir, &f->st, &err), HKMS_OK);
	assert_int_equal(count_files(path_of(f, "cas"), ".tmp."), 0);
	assert_int_equal(count_files(path_of(f, "cas"), ".next"), 0);
	assert_int_equal(hkms_store_list(f->st, "cas", &arr, &err), HKMS_OK);
	assert_int_equal(json_array_size(arr), 3);
	json_decref(arr);
}

static void
test_store_delete_rename(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *m = NULL;
	char *pem = NULL;

	assert_int_equal(hkms_store_put(f->st, "certs", "a", NULL, PEM1,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_put(f->st, "certs", "b", NULL, PEM2,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_rename(f->st, "certs", "a", "b", &err),
	    HKMS_E_EXISTS);
	assert_int_equal(hkms_store_rename(f->st, "certs", "zz", "c", &err),
	    HKMS_E_NOT_FOUND);
	assert_int_equal(hkms_store_rename(f->st, "certs", "a", "../c", &err),
	    HKMS_E_INVALID);
	assert_int_equal(hkms_store_rename(f->st, "certs", "a", "c", &err),
	    HKMS_OK);
	assert_false(hkms_store_exists(f->st, "certs", "a"));
	assert_int_equal(access(path_of(f, "certs/a.pem"), F_OK), -1);
	assert_int_equal(hkms_store_get(f->st, "certs", "c", &m, &pem, &err),
	    HKMS_OK);
	assert_string_equal(pem, PEM1);
	assert_string_equal(json_string_value(json_object_get(m, "name")),
	    "c");
	json_decref(m);
	free(pem);

	assert_int_equal(hkms_store_delete(f->st, "certs", "c", &err),
	    HKMS_OK);
	assert_int_equal(access(path_of(f, "certs/c.pem"), F_OK), -1);
	assert_int_equal(access(path_of(f, "certs/c.json"), F_OK), -1);
	assert_int_equal(hkms_store_get(f->st, "certs", "c", NULL, NULL,
	    &err), HKMS_E_NOT_FOUND);
	assert_int_equal(hkms_store_delete(f->st, "certs", "c", &err),
	    HKMS_E_NOT_FOUND);
}

static void
test_store_damaged_json_is_error(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *m = NULL, *rep = NULL;
	char *pm = NULL;

	assert_int_equal(hkms_store_put(f->st, "certs", "good", NULL, PEM1,
	    &err), HKMS_OK);
	spit(path_of(f, "certs/bad.json"), "{\"schema\":1,\"name\":\"ba");
	assert_int_equal(hkms_store_get(f->st, "certs", "bad", &m, NULL,
	    &err), HKMS_E_INVALID);
	assert_non_null(strstr(err.detail, "bad.json"));
	assert_int_equal(hkms_store_list(f->st, "certs", &m, &err),
	    HKMS_E_INVALID);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_E_VERIFY);
	assert_false(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);

	spit(path_of(f, "certs/bad.json"), "");
	assert_int_equal(hkms_store_get(f->st, "certs", "bad", &m, NULL,
	    &err), HKMS_E_INVALID);
	spit(path_of(f, "certs/bad.json"), "[1,2]");
	assert_int_equal(hkms_store_get(f->st, "certs", "bad", &m, NULL,
	    &err), HKMS_E_INVALID);
	spit(path_of(f, "certs/bad.json"), "{\"schema\":1,\"name\":\"other\"}");
	assert_int_equal(hkms_store_get(f->st, "certs", "bad", &m, NULL,
	    &err), HKMS_E_INVALID);
	spit(path_of(f, "certs/bad.json"), "{\"schema\":2,\"name\":\"bad\"}");
	assert_int_equal(hkms_store_get(f->st, "certs", "bad", &m, NULL,
	    &err), HKMS_E_UNSUPPORTED);
	assert_string_equal(err.code, "schema_version");
	unlink(path_of(f, "certs/bad.json"));

	/* a PEM that does not match its record */
	spit(path_of(f, "certs/good.pem"), PEM2);
	assert_int_equal(hkms_store_get(f->st, "certs", "good", NULL, NULL,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_get(f->st, "certs", "good", NULL, &pm,
	    &err), HKMS_E_INVALID);
	assert_null(pm);
}

static void
test_store_invalid_names(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	const char *bad[] = { "../x", "a/b", "", ".hidden", "-x", "x.tmp.1",
	    "..", "a b" };
	const char *badkinds[] = { "foo", "../etc", "issued/../x", "issued/",
	    "issued/a/b", "", "certs/.." };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hkms_store_put(f->st, "certs", bad[i], NULL,
		    NULL, &err), HKMS_E_INVALID);
		assert_int_equal(hkms_store_get(f->st, "certs", bad[i], NULL,
		    NULL, &err), HKMS_E_INVALID);
		assert_int_equal(hkms_store_delete(f->st, "certs", bad[i],
		    &err), HKMS_E_INVALID);
	}
	assert_int_equal(hkms_store_put(f->st, "certs", NULL, NULL, NULL,
	    &err), HKMS_E_INVALID);
	for (i = 0; i < sizeof(badkinds) / sizeof(badkinds[0]); i++) {
		assert_false(hkms_store_kind_valid(badkinds[i]));
		assert_int_equal(hkms_store_put(f->st, badkinds[i], "x", NULL,
		    NULL, &err), HKMS_E_INVALID);
	}
	assert_true(hkms_store_kind_valid("issued/ca-1"));
	assert_true(hkms_store_kind_valid("trust"));
	assert_int_equal(hkms_store_put_file(f->st, "crl", "x.json", "a", 1,
	    0644, &err), HKMS_E_INVALID);
	assert_int_equal(hkms_store_put_file(f->st, "crl", "../x", "a", 1,
	    0644, &err), HKMS_E_INVALID);
}

static void
test_store_counter_and_files(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	unsigned char *data = NULL;
	uint64_t v = 0;
	size_t len;
	int i;

	for (i = 1; i <= 3; i++) {
		assert_int_equal(hkms_store_counter_next(f->st, "state",
		    "crl-ca1", 0, &v, &err), HKMS_OK);
		assert_int_equal(v, (uint64_t)i);
	}
	/* a floor lifts it; a damaged value is an error, not a restart */
	assert_int_equal(hkms_store_counter_next(f->st, "state", "crl-ca1",
	    10, &v, &err), HKMS_OK);
	assert_int_equal(v, 11);
	{
		json_t *bad = json_pack("{s:s}", "value", "12");

		assert_int_equal(hkms_store_put(f->st, "state", "crl-ca1", bad,
		    NULL, &err), HKMS_OK);
		json_decref(bad);
	}
	assert_int_equal(hkms_store_counter_next(f->st, "state", "crl-ca1",
	    0, &v, &err), HKMS_E_VERIFY);
	assert_string_equal(err.code, "counter_damaged");
	assert_int_equal(hkms_store_counter_check(f->st, "state", "crl-ca1",
	    NULL, &err), HKMS_E_VERIFY);
	assert_int_equal(hkms_store_put_file(f->st, "crl/ca1", "ca1.crl",
	    "\x30\x82\x00", 3, 0644, &err), HKMS_OK);
	assert_int_equal(hkms_store_get_file(f->st, "crl/ca1", "ca1.crl",
	    &data, &len, &err), HKMS_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "\x30\x82\x00", 3);
	free(data);
	assert_int_equal(hkms_store_delete_file(f->st, "crl/ca1", "ca1.crl",
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_get_file(f->st, "crl/ca1", "ca1.crl",
	    &data, &len, &err), HKMS_E_NOT_FOUND);
}

static void
test_store_lock(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store *st2 = NULL;

	/* nested begin/end and put inside */
	assert_int_equal(hkms_store_begin(f->st, &err), HKMS_OK);
	assert_int_equal(hkms_store_begin(f->st, &err), HKMS_OK);
	assert_int_equal(hkms_store_put(f->st, "keys", "k", NULL, NULL, &err),
	    HKMS_OK);
	hkms_store_end(f->st);
	hkms_store_end(f->st);

	/* a second daemon on the same dir is refused */
	assert_int_equal(hkms_store_open(f->dir, &st2, &err), HKMS_OK);
	assert_int_equal(hkms_store_lock_daemon(f->st, &err), HKMS_OK);
	assert_int_equal(hkms_store_lock_daemon(st2, &err), HKMS_E_LOCKED);
	hkms_store_close(st2);
}

/* A child that crashes at step (HKMS_STORE_CRASH_AT) while it rewrites
 * certs/r with PEM2; returns its exit status. */
static int
crash_put(struct fx *f, const char *step)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct hkms_err e;

		setenv("HKMS_STORE_CRASH_AT", step, 1);
		hkms_store_put(f->st, "certs", "r", NULL, PEM2, &e);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_store_put_crash_points(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
#ifndef HKMS_TEST_HOOKS
	skip();	/* needs HKMS_STORE_CRASH_AT: a -DHKMS_TEST_HOOKS=ON build */
#endif
	/* write_atomic #1 is the staged PEM, #2 the JSON */
	static const struct {
		const char *step;
		const char *want;
	} cases[] = {
		{ "after_write:1", PEM1 }, { "after_fsync:1", PEM1 },
		{ "after_rename:1", PEM1 }, { "after_write:2", PEM1 },
		{ "after_fsync:2", PEM1 }, { "after_rename:2", PEM2 },
	};
	json_t *rep = NULL;
	char *pem = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hkms_store_put(f->st, "certs", "r", NULL,
		    PEM1, &err), HKMS_OK);
		assert_int_equal(crash_put(f, cases[i].step), 137);
		/* readers see old or new even before recovery */
		assert_int_equal(hkms_store_get(f->st, "certs", "r", NULL,
		    &pem, &err), HKMS_OK);
		assert_string_equal(pem, cases[i].want);
		free(pem);
		hkms_store_close(f->st);
		assert_int_equal(hkms_store_open(f->dir, &f->st, &err),
		    HKMS_OK);
		assert_int_equal(hkms_store_get(f->st, "certs", "r", NULL,
		    &pem, &err), HKMS_OK);
		assert_string_equal(pem, cases[i].want);
		free(pem);
		assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
		assert_int_equal(json_array_size(json_object_get(rep,
		    "warnings")), 0);
		json_decref(rep);
	}
}

/* ------------------------------------------------------------------ */
/* audit                                                              */
/* ------------------------------------------------------------------ */

static void
append_n(struct hkms_store *st, int n)
{
	struct hkms_err err = { 0 };
	char obj[32];
	int i;

	for (i = 0; i < n; i++) {
		json_t *d = json_pack("{s:i}", "i", i);

		snprintf(obj, sizeof(obj), "key-%d", i);
		assert_int_equal(hkms_audit_append(st, "admin", "key.generate",
		    obj, "ok", d, &err), HKMS_OK);
		json_decref(d);
	}
}

static long long
verify_bad_line(struct fx *f, char *reason, size_t cap)
{
	struct hkms_err err = { 0 };
	json_t *rep = NULL;
	long long line;

	if (hkms_audit_verify(f->st, &rep, &err) == HKMS_OK) {
		json_decref(rep);
		return 0;
	}
	assert_int_equal(err.rc, HKMS_E_VERIFY);
	line = json_integer_value(json_object_get(rep, "bad_line"));
	snprintf(reason, cap, "%s", err.detail);
	json_decref(rep);
	return line;
}

/* Read the log into lines (each with its '\n'). */
static int
log_lines(struct fx *f, char ***out)
{
	char *s = slurp(path_of(f, "audit.log")), *p, *nl;
	char **v = calloc(1024, sizeof(*v));
	int n = 0;

	for (p = s; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		v[n++] = strndup(p, (size_t)(nl - p + 1));
	free(s);
	*out = v;
	return n;
}

static void
write_lines(struct fx *f, char **v, int n)
{
	FILE *fp = fopen(path_of(f, "audit.log"), "w");
	int i;

	for (i = 0; i < n; i++)
		fputs(v[i], fp);
	fclose(fp);
}

static void
free_lines(char **v, int n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

static void
test_audit_append_verify(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *rep = NULL, *d;
	char *log;

	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    0);
	json_decref(rep);
	append_n(f->st, 10);
	d = json_pack("{s:s, s:{s:s}, s:s}", "pin", "123456", "nested",
	    "db_password", "hunter2", "subject", "CN=x");
	assert_int_equal(hkms_audit_append(f->st, "op1", "cert.sign", "c",
	    "error", d, &err), HKMS_OK);
	json_decref(d);
	assert_int_equal(hkms_audit_append(f->st, "op1", "x", "c", "maybe",
	    NULL, &err), HKMS_E_INVALID);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    11);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    11);
	json_decref(rep);
	log = slurp(path_of(f, "audit.log"));
	assert_null(strstr(log, "123456"));
	assert_null(strstr(log, "hunter2"));
	assert_non_null(strstr(log, "CN=x"));
	assert_non_null(strstr(log, "\"seq\":11,"));
	free(log);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
	json_decref(rep);
}

static void
test_audit_tamper_flip_byte(void **state)
{
	struct fx *f = *state;
	char **v, reason[256], *p;
	int n;

	append_n(f->st, 10);
	n = log_lines(f, &v);
	assert_int_equal(n, 10);
	p = strstr(v[2], "key-2");
	assert_non_null(p);
	p[4] = '7';		/* key-2 -> key-7 */
	write_lines(f, v, n);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 3);
	assert_non_null(strstr(reason, "line 3"));
	assert_non_null(strstr(reason, "altered"));
	/* a flipped hash byte is caught on its own line too */
	p[4] = '2';
	p = strstr(v[5], "\"hash\":\"") + 8;
	*p = *p == 'a' ? 'b' : 'a';
	write_lines(f, v, n);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 6);
	free_lines(v, n);
}

static void
test_audit_tamper_delete_line(void **state)
{
	struct fx *f = *state;
	char **v, reason[256];
	int n;

	append_n(f->st, 10);
	n = log_lines(f, &v);
	free(v[3]);
	memmove(&v[3], &v[4], (size_t)(n - 4) * sizeof(*v));
	n--;
	write_lines(f, v, n);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 4);
	assert_non_null(strstr(reason, "deleted"));
	free_lines(v, n);
}

static void
test_audit_tamper_reorder(void **state)
{
	struct fx *f = *state;
	char **v, reason[256], *t;
	int n;

	append_n(f->st, 10);
	n = log_lines(f, &v);
	t = v[6];
	v[6] = v[7];
	v[7] = t;
	write_lines(f, v, n);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 7);
	assert_non_null(strstr(reason, "reordered"));
	free_lines(v, n);
}

static void
test_audit_tamper_truncate_tail(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	char **v, reason[256];
	int n;

	append_n(f->st, 10);
	n = log_lines(f, &v);
	write_lines(f, v, 8);	/* drop records 9 and 10 */
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 9);
	assert_non_null(strstr(reason, "truncated"));
	/* and an append refuses to paper over it */
	assert_int_equal(hkms_audit_append(f->st, "a", "op", "o", "ok", NULL,
	    &err), HKMS_E_VERIFY);
	/* dropping just the last one is caught as well */
	write_lines(f, v, 9);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 10);
	/* an empty log against a head of 10 */
	write_lines(f, v, 0);
	assert_int_equal(verify_bad_line(f, reason, sizeof(reason)), 1);
	free_lines(v, n);
}

static void
test_audit_torn_tail_recovery(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *rep = NULL;
	char **v;
	FILE *fp;
	int n, status, i;
	pid_t pid;

	append_n(f->st, 5);
	/* a crash in the middle of the 6th write */
	fp = fopen(path_of(f, "audit.log"), "a");
	fputs("{\"actor\":\"admin\",\"detail\":null,\"obj", fp);
	fclose(fp);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep,
	    "torn_tail_bytes")), 35);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    5);
	json_decref(rep);
	append_n(f->st, 1);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    7);
	assert_int_equal(json_integer_value(json_object_get(rep,
	    "torn_tail_bytes")), 0);
	json_decref(rep);
	n = log_lines(f, &v);
	assert_int_equal(n, 7);
	assert_non_null(strstr(v[5], "\"op\":\"audit.recover\""));
	assert_non_null(strstr(v[5], "\"torn_bytes\":35"));
	free_lines(v, n);

#ifndef HKMS_TEST_HOOKS
	skip();	/* the rest needs HKMS_STORE_CRASH_AT (a test build) */
#endif
	/* the same with a real crash between the halves of one write */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("HKMS_STORE_CRASH_AT", "audit_partial", 1);
		append_n(f->st, 1);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 137);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_true(json_integer_value(json_object_get(rep,
	    "torn_tail_bytes")) > 0);
	json_decref(rep);
	append_n(f->st, 1);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    9);
	json_decref(rep);

	/* crash after the line is durable but before the head moved */
	pid = fork();
	if (pid == 0) {
		setenv("HKMS_STORE_CRASH_AT", "audit_after_sync", 1);
		append_n(f->st, 1);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 137);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    9);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    10);
	json_decref(rep);
	append_n(f->st, 1);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    11);
	json_decref(rep);

	/* torn tail, then a crash after the recover record and the new
	 * record are durable: the head must lag by one at most */
	fp = fopen(path_of(f, "audit.log"), "a");
	fputs("{\"actor\":", fp);
	fclose(fp);
	pid = fork();
	if (pid == 0) {
		setenv("HKMS_STORE_CRASH_AT", "audit_after_sync:2", 1);
		append_n(f->st, 1);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 137);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    13);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    12);
	json_decref(rep);

	/* two crashes in a row after the line was durable */
	for (i = 0; i < 2; i++) {
		pid = fork();
		if (pid == 0) {
			setenv("HKMS_STORE_CRASH_AT", "audit_after_sync", 1);
			append_n(f->st, 1);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		assert_int_equal(WEXITSTATUS(status), 137);
		assert_int_equal(hkms_audit_verify(f->st, &rep, &err),
		    HKMS_OK);
		assert_int_equal(json_integer_value(json_object_get(rep,
		    "records")), 14 + i);
		assert_int_equal(json_integer_value(json_object_get(rep,
		    "head_seq")), 13 + i);
		json_decref(rep);
	}
	append_n(f->st, 1);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    16);
	json_decref(rep);
}

static void
test_audit_concurrent_processes(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *rep = NULL;
	pid_t pids[2];
	int i, status;

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct hkms_store *st = NULL;
			struct hkms_err e;
			int k, bad = 0;

			if (hkms_store_open(f->dir, &st, &e) != HKMS_OK)
				_exit(2);
			for (k = 0; k < 200; k++)
				if (hkms_audit_append(st, i ? "p1" : "p0",
				    "op", "obj", "ok", NULL, &e) != HKMS_OK) {
					/* say why: seen once on a fresh
					 * machine under ASan, not since */
					fprintf(stderr, "append %d/%d: %s\n",
					    i, k, e.detail);
					bad++;
				}
			hkms_store_close(st);
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    400);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    400);
	json_decref(rep);
}

static void
test_store_check_reports_strays(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	json_t *rep = NULL;

	assert_int_equal(hkms_store_put(f->st, "certs", "a", NULL, PEM1,
	    &err), HKMS_OK);
	append_n(f->st, 2);
	spit(path_of(f, "certs/a.json.tmp.1.2"), "garbage");
	spit(path_of(f, "trust/x.pem"), PEM1);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    1);
	assert_int_equal(json_array_size(json_object_get(rep, "warnings")),
	    2);
	json_decref(rep);
	unlink(path_of(f, "certs/a.pem"));
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_E_VERIFY);
	assert_non_null(strstr(err.detail, "certs/a"));
	json_decref(rep);
}

/* Lock files (.lock, .daemon.lock, .audit.lock) that are symlinks are
 * refused, and their targets are never created (O_NOFOLLOW). */
static void
test_store_lock_files_no_follow(void **state)
{
	static const char *const locks[] = { ".lock", ".daemon.lock",
	    ".audit.lock" };
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store *st2 = NULL;
	char lp[PATH_MAX + 16], tp[PATH_MAX];
	struct stat sb;
	enum hkms_rc rc;
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(lp, sizeof(lp), "%s/%s", f->dir, locks[i]);
		snprintf(tp, sizeof(tp), "%s/../target%zu", f->dir, i);
		(void)unlink(lp);
		assert_int_equal(symlink(tp, lp), 0);
		hkms_err_clear(&err);
		if (i == 0) {
			rc = hkms_store_put(f->st, "keys", "k", NULL, NULL,
			    &err);
		} else if (i == 1) {
			rc = hkms_store_lock_daemon(f->st, &err);
		} else {
			rc = hkms_audit_append(f->st, "actor", "op", "obj",
			    "ok", NULL, &err);
		}
		assert_int_not_equal(rc, HKMS_OK);
		assert_string_equal(err.code, "unsafe_path");
		assert_non_null(strstr(err.detail, locks[i]));
		assert_int_equal(lstat(tp, &sb), -1);	/* never created */
		assert_int_equal(unlink(lp), 0);
	}
	/* a kind dir replaced by a symlink: open refuses the store */
	snprintf(lp, sizeof(lp), "%s/certs", f->dir);
	snprintf(tp, sizeof(tp), "%s/../certs-elsewhere", f->dir);
	assert_int_equal(rename(lp, tp), 0);
	assert_int_equal(symlink(tp, lp), 0);
	assert_int_equal(hkms_store_open(f->dir, &st2, &err), HKMS_E_DENIED);
	assert_string_equal(err.code, "unsafe_path");
	assert_int_equal(hkms_store_put(f->st, "certs", "c", NULL, PEM1,
	    &err), HKMS_E_DENIED);
	snprintf(lp, sizeof(lp), "%s/c.json", tp);
	assert_int_equal(lstat(lp, &sb), -1);	/* nothing written through */
}

/* A reservation swapped for a hard link to a file outside the data dir
 * (or for another user's file) while its issuance signs: the commit
 * refuses it and writes nothing through it. The O_TRUNC of the record
 * write once happened in open(), before the link count was checked, and
 * emptied the outside file. */
static void
test_store_commit_rsv_hardlink(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r = NULL;
	char outside[600], *got;
	json_t *m;

	snprintf(outside, sizeof(outside), "%s/../outside", f->dir);
	spit(outside, "precious\n");
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "AB", &r,
	    &err), HKMS_OK);
	assert_int_equal(unlink(path_of(f, "issued/ca1/AB.rsv")), 0);
	assert_int_equal(link(outside, path_of(f, "issued/ca1/AB.rsv")), 0);
	m = json_pack("{s:s}", "serial", "AB");
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	json_decref(m);
	hkms_store_release(r);
	got = slurp(outside);
	assert_non_null(got);
	assert_string_equal(got, "precious\n");
	free(got);
	unlink(path_of(f, "issued/ca1/AB.rsv"));
	if (geteuid() == 0) {
		/* another user's file in its place: refused before it is
		 * emptied */
		assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "CD",
		    &r, &err), HKMS_OK);
		spit(path_of(f, "issued/ca1/CD.rsv"), "theirs\n");
		assert_int_equal(chown(path_of(f, "issued/ca1/CD.rsv"), 65534,
		    65534), 0);
		m = json_pack("{s:s}", "serial", "CD");
		assert_int_not_equal(hkms_store_commit(f->st, r, m, "t",
		    "ca.sign", "ca1", NULL, NULL, &err), HKMS_OK);
		json_decref(m);
		hkms_store_release(r);
		/* dropped with the reservation or left as it was, never
		 * emptied, never made a record */
		got = slurp(path_of(f, "issued/ca1/CD.rsv"));
		if (got != NULL)
			assert_string_equal(got, "theirs\n");
		free(got);
		assert_null(slurp(path_of(f, "issued/ca1/CD.json")));
		unlink(path_of(f, "issued/ca1/CD.rsv"));
	}
	unlink(outside);
}

/* Reservations: exclusive, released, refused over a record; a stale one
 * (dead pid) is named by the check and dropped by the next open. */
static void
test_store_reserve(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r1 = NULL, *r2 = NULL;
	struct hkms_store *ro = NULL, *st2 = NULL;
	json_t *rep = NULL, *m;
	struct stat sb;
	char *dump;

	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "AB", &r1,
	    &err), HKMS_OK);
	assert_int_equal(stat(path_of(f, "issued/ca1/AB.rsv"), &sb), 0);
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "AB", &r2,
	    &err), HKMS_E_EXISTS);
	hkms_store_release(r1);
	assert_int_equal(stat(path_of(f, "issued/ca1/AB.rsv"), &sb), -1);
	/* a record of that name: refused */
	assert_int_equal(hkms_store_put(f->st, "issued/ca1", "CD", NULL, NULL,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "CD", &r2,
	    &err), HKMS_E_EXISTS);
	assert_int_equal(stat(path_of(f, "issued/ca1/CD.rsv"), &sb), -1);
	/* commit: the record with its line */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "EF", &r1,
	    &err), HKMS_OK);
	m = json_pack("{s:s}", "serial", "EF");
	assert_int_equal(hkms_store_commit(f->st, r1, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	json_decref(m);
	hkms_store_release(r1);
	assert_int_equal(stat(path_of(f, "issued/ca1/EF.rsv"), &sb), -1);
	assert_int_equal(hkms_store_get(f->st, "issued/ca1", "EF", &m, NULL,
	    &err), HKMS_OK);
	assert_true(json_is_integer(json_object_get(m, "audit_seq")));
	json_decref(m);
	/* a dead process's reservation, and one holding a half-written
	 * record: the read-only check says what open would do */
	spit(path_of(f, "issued/ca1/11.rsv"),
	    "{\"pid\":999999999,\"pid_start\":1}\n");
	spit(path_of(f, "issued/ca1/22.rsv"), "{\"schema\":1,\"na");
	assert_int_equal(hkms_store_open_readonly(f->dir, &ro, &err), HKMS_OK);
	assert_int_equal(hkms_store_check(ro, &rep, &err), HKMS_OK);
	dump = json_dumps(json_object_get(rep, "would_recover"), 0);
	assert_non_null(strstr(dump, "issued/ca1/11.rsv: stale reservation"));
	assert_non_null(strstr(dump, "issued/ca1/22.rsv: stale reservation"));
	free(dump);
	json_decref(rep);
	hkms_store_close(ro);
	assert_int_equal(stat(path_of(f, "issued/ca1/11.rsv"), &sb), 0);
	assert_int_equal(hkms_store_open(f->dir, &st2, &err), HKMS_OK);
	assert_int_equal(stat(path_of(f, "issued/ca1/11.rsv"), &sb), -1);
	assert_int_equal(stat(path_of(f, "issued/ca1/22.rsv"), &sb), -1);
	/* a live one (ours) stays */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "33", &r1,
	    &err), HKMS_OK);
	hkms_store_close(st2);
	st2 = NULL;
	assert_int_equal(hkms_store_open(f->dir, &st2, &err), HKMS_OK);
	assert_int_equal(stat(path_of(f, "issued/ca1/33.rsv"), &sb), 0);
	hkms_store_release(r1);
	hkms_store_close(st2);
	assert_int_equal(hkms_store_check(f->st, NULL, &err), HKMS_OK);
}

struct gc_worker {
	struct hkms_store *st;
	int id, n, failed;
};

static void *
gc_work(void *arg)
{
	struct gc_worker *w = arg;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r;
	char name[32];
	json_t *m;
	int i;

	for (i = 0; i < w->n; i++) {
		snprintf(name, sizeof(name), "S%02dX%04d", w->id, i);
		m = json_pack("{s:s}", "serial", name);
		hkms_store_commit_intent(w->st, 1);
		if (hkms_store_reserve(w->st, "issued/ca", name, &r, &err) !=
		    HKMS_OK || hkms_store_commit(w->st, r, m, "t", "ca.sign",
		    "ca", m, NULL, &err) != HKMS_OK)
			w->failed++;
		hkms_store_commit_intent(w->st, -1);
		hkms_store_release(r);
		json_decref(m);
	}
	return NULL;
}

/* 8 threads commit through the group committer: every record is there
 * with its own line, batches were shared, the log verifies. */
static void
test_store_group_commit_threads(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct gc_worker w[8];
	pthread_t th[8];
	unsigned long long batches = 0, ops = 0;
	json_t *rep = NULL, *list = NULL, *it, *m;
	size_t i;

	for (i = 0; i < 8; i++) {
		w[i] = (struct gc_worker){ f->st, (int)i, 50, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, gc_work, &w[i]),
		    0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	hkms_store_commit_stats(f->st, &batches, &ops);
	assert_int_equal(ops, 400);
	assert_true(batches < ops);	/* some were shared */
	assert_int_equal(hkms_store_list(f->st, "issued/ca", &list, &err),
	    HKMS_OK);
	assert_int_equal(json_array_size(list), 400);
	json_array_foreach(list, i, it) {
		m = json_object_get(it, "audit_seq");
		assert_true(json_is_integer(m));
	}
	json_decref(list);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "records")),
	    400);
	json_decref(rep);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
	json_decref(rep);
}

/* After the head, the lines of one group are accepted (a crash between a
 * batch's lines and its head), two loose lines are not. */
static void
test_audit_group_after_head(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct gc_worker w[3];
	pthread_t th[3];
	char *head, cmd[1024];
	json_t *rep = NULL;
	FILE *fp;
	int i;

	append_n(f->st, 1);
	head = slurp(path_of(f, "audit.head"));
	assert_non_null(head);
	/* a batch of two, for certain: while we hold the data lock, the
	 * first committer leads a batch of itself and waits for the lock;
	 * the other two queue and then go in one batch */
	assert_int_equal(hkms_store_begin(f->st, &err), HKMS_OK);
	for (i = 0; i < 3; i++) {
		w[i] = (struct gc_worker){ f->st, 90 + i, 1, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, gc_work, &w[i]),
		    0);
		usleep(100000);
	}
	hkms_store_end(f->st);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	/* rewind the head to just before that last batch */
	snprintf(cmd, sizeof(cmd), "python3 - '%s' <<'PY'\n"
	    "import json,sys\n"
	    "d=sys.argv[1]; ls=open(d+'/audit.log','rb').read()"
	    ".split(b'\\n')[:-1]\n"
	    "g=json.loads(ls[-1]).get('group')\n"
	    "assert g and g[1]==2 and g[0]==len(ls)-1, g\n"
	    "prev=json.loads(ls[g[0]-2])\n"
	    "off=sum(len(l)+1 for l in ls[:g[0]-1])\n"
	    "open(d+'/audit.head','w').write(json.dumps({'seq':"
	    "g[0]-1,'hash':prev['hash'],'off':off})+'\\n')\n"
	    "PY", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	json_decref(rep);
	/* the next append catches the head up over the group */
	append_n(f->st, 1);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	json_decref(rep);
	/* the head from before those 4 lines: 2 loose ones after it */
	fp = fopen(path_of(f, "audit.head"), "w");
	assert_non_null(fp);
	fputs(head, fp);
	fclose(fp);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_E_VERIFY);
	assert_non_null(strstr(err.detail, "behind the log"));
	json_decref(rep);
	free(head);
}

/* audit.head is replaced through a kept spare file exchanged with it
 * (atomic.c): 30 appends use two inodes, never a new one per write (the
 * freed inodes made ext4's allocator slow), leave no temp file, verify
 * and check clean; a link in place of the spare is refused, not written
 * through, and the head stays as it was. */
static void
test_audit_head_spare(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	ino_t seen[3] = { 0, 0, 0 };
	struct stat sb;
	json_t *rep = NULL;
	char *before, *after;
	int i, k, nseen = 0;
	DIR *d;
	struct dirent *de;

	for (i = 0; i < 30; i++) {
		append_n(f->st, 1);
		assert_int_equal(lstat(path_of(f, "audit.head"), &sb), 0);
		for (k = 0; k < nseen && seen[k] != sb.st_ino; k++)
			;
		if (k == nseen) {
			assert_true(nseen < 2);	/* a third inode: new files */
			seen[nseen++] = sb.st_ino;
		}
	}
	assert_int_equal(nseen, 2);
	assert_int_equal(lstat(path_of(f, "audit.head.spare"), &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_non_null(d = opendir(f->dir));
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    30);
	json_decref(rep);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "errors")), 0);
	assert_int_equal(json_array_size(json_object_get(rep, "warnings")), 0);
	json_decref(rep);
	/* a link where the spare should be */
	before = slurp(path_of(f, "audit.head"));
	assert_int_equal(unlink(path_of(f, "audit.head.spare")), 0);
	assert_int_equal(symlink(path_of(f, "outside"),
	    path_of(f, "audit.head.spare")), 0);
	assert_int_not_equal(hkms_audit_append(f->st, "admin", "x", "o", "ok",
	    NULL, &err), HKMS_OK);
	assert_non_null(strstr(err.detail, "audit.head.spare"));
	assert_int_equal(lstat(path_of(f, "outside"), &sb), -1);
	after = slurp(path_of(f, "audit.head"));
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* The head spare and a reservation are overwritten from their start, not
 * emptied first (no block freed per batch): a spare or a reservation
 * longer than what is written over it is cut to the new contents, so
 * the head and the record are whole. */
static void
test_store_overwrite_longer(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r = NULL;
	char junk[9000], *got;
	json_t *m, *rep = NULL;
	FILE *fp;

	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	append_n(f->st, 2);	/* audit.head and its spare exist */
	spit(path_of(f, "audit.head.spare"), junk);
	append_n(f->st, 1);	/* written into that spare, swapped in */
	got = slurp(path_of(f, "audit.head"));
	assert_non_null(got);
	assert_null(strchr(got, 'x'));
	assert_true(strlen(got) < 200);
	free(got);
	assert_int_equal(hkms_audit_verify(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_integer_value(json_object_get(rep, "head_seq")),
	    3);
	json_decref(rep);
	/* a reservation longer than its record */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "EF", &r,
	    &err), HKMS_OK);
	assert_non_null(fp = fopen(path_of(f, "issued/ca1/EF.rsv"), "a"));
	assert_int_equal(fputs(junk, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	m = json_pack("{s:s}", "serial", "EF");
	assert_int_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign", "ca1",
	    NULL, NULL, &err), HKMS_OK);
	json_decref(m);
	hkms_store_release(r);
	assert_int_equal(hkms_store_get(f->st, "issued/ca1", "EF", &m, NULL,
	    &err), HKMS_OK);
	assert_string_equal(json_string_value(json_object_get(m, "serial")),
	    "EF");
	json_decref(m);
	got = slurp(path_of(f, "issued/ca1/EF.json"));
	assert_non_null(got);
	assert_null(strchr(got, 'x'));
	free(got);
	assert_int_equal(hkms_store_check(f->st, &rep, &err), HKMS_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "errors")), 0);
	json_decref(rep);
}

/*
 * The record is written through the descriptor the reservation was made
 * with: a reservation name replaced meanwhile by another file (of ours,
 * a single link: what an open by name would accept) or given a second
 * name is refused, and the replacement never becomes the record.
 */
static void
test_store_commit_rsv_replaced(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r = NULL;
	char *got;
	json_t *m;

	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "EF", &r,
	    &err), HKMS_OK);
	assert_int_equal(unlink(path_of(f, "issued/ca1/EF.rsv")), 0);
	spit(path_of(f, "issued/ca1/EF.rsv"), "someone else's\n");
	m = json_pack("{s:s}", "serial", "EF");
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	assert_string_equal(err.code, "unsafe_path");
	assert_null(slurp(path_of(f, "issued/ca1/EF.json")));
	got = slurp(path_of(f, "issued/ca1/EF.rsv"));
	assert_non_null(got);
	assert_string_equal(got, "someone else's\n");
	free(got);
	hkms_store_release(r);
	unlink(path_of(f, "issued/ca1/EF.rsv"));

	/* a second name for the reserved file: refused, nothing written
	 * through it */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "EF", &r,
	    &err), HKMS_OK);
	assert_int_equal(link(path_of(f, "issued/ca1/EF.rsv"),
	    path_of(f, "issued/ca1/other")), 0);
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	assert_null(slurp(path_of(f, "issued/ca1/EF.json")));
	got = slurp(path_of(f, "issued/ca1/other"));
	assert_non_null(got);
	assert_null(strstr(got, "serial"));
	free(got);
	hkms_store_release(r);
	unlink(path_of(f, "issued/ca1/other"));

	/* untouched, it commits */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "EF", &r,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	got = slurp(path_of(f, "issued/ca1/EF.json"));
	assert_non_null(got);
	assert_non_null(strstr(got, "\"audit_seq\""));
	free(got);
	json_decref(m);
}

/*
 * A reservation name swapped while its issuance signs for a symlink to a
 * file outside, for a fifo, or gone with its whole kind directory
 * (removed, then made again empty): each commit is refused, nothing is
 * written through the name or blocks on it, no record appears, and the
 * next reservation of the kind commits.
 */
static void
test_store_commit_rsv_odd(void **state)
{
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r = NULL;
	char outside[600], *got;
	json_t *m;

	snprintf(outside, sizeof(outside), "%s/../outside-odd", f->dir);
	spit(outside, "precious\n");
	m = json_pack("{s:s}", "serial", "A1");
	/* a symlink to a file outside */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "A1", &r,
	    &err), HKMS_OK);
	assert_int_equal(unlink(path_of(f, "issued/ca1/A1.rsv")), 0);
	assert_int_equal(symlink(outside, path_of(f, "issued/ca1/A1.rsv")), 0);
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	assert_null(slurp(path_of(f, "issued/ca1/A1.json")));
	got = slurp(outside);
	assert_non_null(got);
	assert_string_equal(got, "precious\n");
	free(got);
	unlink(path_of(f, "issued/ca1/A1.rsv"));
	/* a fifo: refused without opening it (an open would block) */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "A1", &r,
	    &err), HKMS_OK);
	assert_int_equal(unlink(path_of(f, "issued/ca1/A1.rsv")), 0);
	assert_int_equal(mkfifo(path_of(f, "issued/ca1/A1.rsv"), 0600), 0);
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	assert_null(slurp(path_of(f, "issued/ca1/A1.json")));
	unlink(path_of(f, "issued/ca1/A1.rsv"));
	/* the kind directory removed and made again */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "A1", &r,
	    &err), HKMS_OK);
	assert_int_equal(unlink(path_of(f, "issued/ca1/A1.rsv")), 0);
	assert_int_equal(rmdir(path_of(f, "issued/ca1")), 0);
	assert_int_equal(mkdir(path_of(f, "issued/ca1"), 0755), 0);
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	assert_null(slurp(path_of(f, "issued/ca1/A1.json")));
	/* untouched, the next one commits */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "A1", &r,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	got = slurp(path_of(f, "issued/ca1/A1.json"));
	assert_non_null(got);
	assert_non_null(strstr(got, "\"audit_seq\""));
	free(got);
	json_decref(m);
	unlink(outside);
}

#ifdef HKMS_TEST_HOOKS
static char swap_path[600], swap_tmp[600];

/* at gc_after_head (lines and head durable, records synced, none
 * renamed): another file renamed over the reservation's name */
static void
swap_at_after_head(const char *step)
{
	if (strcmp(step, "gc_after_head") != 0 || swap_path[0] == '\0')
		return;
	spit(swap_tmp, "{\"forged\":true}\n");
	assert_int_equal(rename(swap_tmp, swap_path), 0);
	swap_path[0] = '\0';
}
#endif

/*
 * A reservation name replaced by another file after its record was
 * written and checked, during the batch's syncs: the name is checked
 * again just before its rename, the commit is refused and the
 * replacement never becomes the record (it once did: the rename took
 * whatever the name was by then).
 */
static void
test_store_commit_rsv_swapped(void **state)
{
#ifndef HKMS_TEST_HOOKS
	(void)state;
	skip();	/* needs the store's test step hook */
#else
	struct fx *f = *state;
	struct hkms_err err = { 0 };
	struct hkms_store_rsv *r = NULL;
	json_t *m;
	char *got;

	snprintf(swap_path, sizeof(swap_path), "%s",
	    path_of(f, "issued/ca1/B7.rsv"));
	snprintf(swap_tmp, sizeof(swap_tmp), "%s", path_of(f, "issued/ca1/x"));
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "B7", &r,
	    &err), HKMS_OK);
	hkms_store_test_step = swap_at_after_head;
	m = json_pack("{s:s}", "serial", "B7");
	assert_int_not_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_test_step = NULL;
	assert_string_equal(err.code, "unsafe_path");
	assert_int_equal(swap_path[0], '\0');	/* the swap happened */
	hkms_store_release(r);
	got = slurp(path_of(f, "issued/ca1/B7.json"));
	assert_null(got);
	/* untouched, it commits */
	assert_int_equal(hkms_store_reserve(f->st, "issued/ca1", "B7", &r,
	    &err), HKMS_OK);
	assert_int_equal(hkms_store_commit(f->st, r, m, "t", "ca.sign",
	    "ca1", NULL, NULL, &err), HKMS_OK);
	hkms_store_release(r);
	got = slurp(path_of(f, "issued/ca1/B7.json"));
	assert_non_null(got);
	assert_null(strstr(got, "forged"));
	free(got);
	json_decref(m);
#endif
}

/*
 * The group commit dumps each record before its line is known and fills
 * in audit_seq/audit_hash under the lock: the result must be the very
 * bytes hkms_store_record_dump gives, whatever the record holds (odd
 * names, unicode, escapes, keys that look like the stamp, nested stamps,
 * a stamp already in the metadata) and whatever the seq's width.
 */
static void
test_store_rec_tmpl(void **state)
{
	static const char *const metas[] = {
		NULL,
		"{}",
		"{\"serial\":\"AB\",\"pem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n"
		    "-----END CERTIFICATE-----\\n\"}",
		"{\"subject\":\"CN=caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\","
		    "\"a\":\"\\n  \\\"audit_seq\\\": 1,\\n  \\\"audit_hash\\\": \\\"\"}",
		"{\"audit_seq\":77,\"audit_hash\":\"zz\",\"renamed_from\":\"x\","
		    "\"pem_sha256\":\"y\",\"z\":[1,{\"audit_seq\":1,"
		    "\"audit_hash\":\"0000000000000000000000000000000000000000"
		    "000000000000000000000000\"}]}",
		"{\"audit\":1,\"audit_s\":\"q\",\"audit_seq0\":2,\"aaa\":"
		    "{\"b\":{\"c\":\"\\u0000\\t\\\"\\\\\"}},\"zzz\":null}",
	};
	static const char *const names[] = { "AB", "x.y-z_1",
	    "caf\xc3\xa9", "0123456789ABCDEF0123456789ABCDEF01234567" };
	static const long long seqs[] = { 1, 2, 9, 10, 99, 12345,
	    9007199254740993LL };
	char hash[65], *a = NULL, *b = NULL;
	struct hkms_rec_tmpl t;
	struct hkms_err err = { 0 };
	size_t i, k, s, len;
	json_t *m;

	(void)state;
	for (i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		m = metas[i] ? json_loads(metas[i], JSON_ALLOW_NUL, NULL) :
		    NULL;
		assert_true(metas[i] == NULL || m != NULL);
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			assert_int_equal(hkms_store_rec_tmpl_make(names[k], m,
			    1700000000 + (long long)i, &t, &err), HKMS_OK);
			/* found, not the whole-dump fallback */
			assert_non_null(t.text);
			for (s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {
				snprintf(hash, sizeof(hash), "%016llx%016llx"
				    "%016llx%016llx", seqs[s] * 7919ULL,
				    (unsigned long long)i, (unsigned long long)k,
				    0xfedcba9876543210ULL);
				assert_int_equal(hkms_store_record_dump_at(
				    names[k], m, seqs[s], hash,
				    1700000000 + (long long)i, &a, &err),
				    HKMS_OK);
				assert_int_equal(hkms_store_rec_tmpl_fill(&t,
				    seqs[s], hash, &b, &len, &err), HKMS_OK);
				assert_int_equal(len, strlen(a));
				assert_string_equal(b, a);
				free(a);
				free(b);
			}
			/* a stamp that is not one is refused, never written */
			assert_int_not_equal(hkms_store_rec_tmpl_fill(&t, 0,
			    hash, &b, &len, &err), HKMS_OK);
			assert_int_not_equal(hkms_store_rec_tmpl_fill(&t, 3,
			    "\"},\"x", &b, &len, &err), HKMS_OK);
			hkms_store_rec_tmpl_free(&t);
		}
		json_decref(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_store_write_atomic_replaces),
		T(test_store_commit_rsv_hardlink),
		T(test_store_commit_rsv_replaced),
		T(test_store_commit_rsv_odd),
		T(test_store_commit_rsv_swapped),
		T(test_store_rec_tmpl),
		T(test_store_overwrite_longer),
		T(test_store_write_atomic_failure_keeps_old),
		T(test_store_put_get),
		T(test_store_list_sorted_ignores_strays),
		T(test_store_delete_rename),
		T(test_store_damaged_json_is_error),
		T(test_store_invalid_names),
		T(test_store_counter_and_files),
		T(test_store_lock),
		T(test_store_lock_files_no_follow),
		T(test_store_put_crash_points),
		T(test_store_check_reports_strays),
		T(test_audit_append_verify),
		T(test_audit_tamper_flip_byte),
		T(test_audit_tamper_delete_line),
		T(test_audit_tamper_reorder),
		T(test_audit_tamper_truncate_tail),
		T(test_audit_torn_tail_recovery),
		T(test_audit_concurrent_processes),
		T(test_store_reserve),
		T(test_store_group_commit_threads),
		T(test_audit_group_after_head),
		T(test_audit_head_spare),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
