/*
 * Crash-test driver for the file store (tests/crash/store_crash.sh,
 * store_faults.sh). Modes:
 *
 *   write DIR START N   for i in START..START+N-1: put certs/r<i> (meta +
 *                       PEM derived from i), overwrite certs/shared with
 *                       value i, append an audit record; after all three
 *                       committed print "r<i>" on stdout (acknowledged).
 *   check DIR ACKS      open (recovery), hkms_store_check, every name in
 *                       file ACKS present and whole, certs/shared not older
 *                       than the last ack, audit verifies with at least as
 *                       many records as acks. Exit 0 = consistent.
 *   put1 DIR NAME VALUE put certs/NAME with PEM for VALUE; print the error.
 *   get1 DIR NAME VALUE exit 0 if certs/NAME is whole and holds VALUE.
 *   audit1 DIR          append one audit record; print the error.
 *   enospc DIR          on a small full file system: fill with records and
 *                       audit lines until HKMS_E_NOSPACE, check nothing
 *                       acknowledged was lost, then free space and write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hkms/store.h"

/* Make the data dir like `hkms init` would, then open the store. */
static enum hkms_rc
open_store(const char *dir, struct hkms_store **st, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = hkms_store_init_dir(dir, err)) != HKMS_OK)
		return rc;
	return hkms_store_open(dir, st, err);
}

static char *
pem_for(long v, size_t pad)
{
	size_t n = 128 + pad + pad / 64;
	char *s = malloc(n + 64);
	size_t i, o;

	o = (size_t)sprintf(s, "-----BEGIN CERTIFICATE-----\nV%ld\n", v);
	for (i = 0; i < pad; i++) {
		s[o++] = (char)('A' + (v + (long)i) % 26);
		if (i % 64 == 63)
			s[o++] = '\n';
	}
	o += (size_t)sprintf(s + o, "\n-----END CERTIFICATE-----\n");
	s[o] = '\0';
	return s;
}

static int
fail(const char *what, const struct hkms_err *err)
{
	fprintf(stderr, "%s: %s (%s)\n", what, err->detail,
	    hkms_err_code(err));
	return 1;
}

static enum hkms_rc
put_value(struct hkms_store *st, const char *name, long v, size_t pad,
    struct hkms_err *err)
{
	json_t *m = json_pack("{s:I}", "value", (json_int_t)v);
	char *pem = pem_for(v, pad);
	enum hkms_rc rc = hkms_store_put(st, "certs", name, m, pem, err);

	json_decref(m);
	free(pem);
	return rc;
}

/* 0 if certs/name is whole and holds v (or, with atleast, >= v). */
static int
check_value(struct hkms_store *st, const char *name, long v, int atleast,
    size_t pad)
{
	struct hkms_err err = { 0 };
	json_t *m = NULL;
	char *pem = NULL, *want;
	long got;
	int bad;

	if (hkms_store_get(st, "certs", name, &m, &pem, &err) != HKMS_OK) {
		fprintf(stderr, "record %s: %s\n", name, err.detail);
		return 1;
	}
	got = (long)json_integer_value(json_object_get(m, "value"));
	want = pem_for(got, pad);
	bad = pem == NULL || strcmp(pem, want) != 0 ||
	    (atleast ? got < v : got != v);
	if (bad)
		fprintf(stderr, "record %s: value %ld (want %s%ld) or PEM "
		    "mixed up\n", name, got, atleast ? ">=" : "", v);
	json_decref(m);
	free(pem);
	free(want);
	return bad;
}

static int
do_write(const char *dir, long start, long n)
{
	struct hkms_err err = { 0 };
	struct hkms_store *st = NULL;
	char name[32];
	long i;

	if (open_store(dir, &st, &err) != HKMS_OK)
		return fail("open", &err);
	for (i = start; i < start + n; i++) {
		snprintf(name, sizeof(name), "r%ld", i);
		if (put_value(st, name, i, (size_t)(i % 700), &err) !=
		    HKMS_OK)
			return fail("put", &err);
		if (put_value(st, "shared", i, 300, &err) != HKMS_OK)
			return fail("put shared", &err);
		if (hkms_audit_append(st, "crash-driver", "cert.put", name,
		    "ok", NULL, &err) != HKMS_OK)
			return fail("audit", &err);
		printf("%s\n", name);
		fflush(stdout);
	}
	hkms_store_close(st);
	return 0;
}

static int
do_check(const char *dir, const char *acks)
{
	struct hkms_err err = { 0 };
	struct hkms_store *st = NULL;
	json_t *rep = NULL;
	char line[64];
	long i, last = -1, nacks = 0;
	int bad = 0;
	FILE *fp;

	if (open_store(dir, &st, &err) != HKMS_OK)
		return fail("open", &err);
	if (hkms_store_check(st, &rep, &err) != HKMS_OK) {
		char *s = json_dumps(rep, JSON_INDENT(1));

		fprintf(stderr, "check: %s\n%s\n", err.detail, s);
		free(s);
		return 1;
	}
	if (json_integer_value(json_object_get(json_object_get(rep, "audit"),
	    "records")) < 0)
		bad = 1;
	if ((fp = fopen(acks, "r")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			if (line[0] != 'r')
				continue;	/* a line torn by the kill */
			line[strcspn(line, "\n")] = '\0';
			i = strtol(line + 1, NULL, 10);
			bad |= check_value(st, line, i, 0, (size_t)(i % 700));
			if (i > last)
				last = i;
			nacks++;
		}
		fclose(fp);
	}
	if (last >= 0)
		bad |= check_value(st, "shared", last, 1, 300);
	if (json_integer_value(json_object_get(json_object_get(rep, "audit"),
	    "records")) < nacks) {
		fprintf(stderr, "audit has fewer records than acks (%ld)\n",
		    nacks);
		bad = 1;
	}
	json_decref(rep);
	hkms_store_close(st);
	return bad;
}

static int
do_enospc(const char *dir)
{
	struct hkms_err err = { 0 };
	struct hkms_store *st = NULL;
	json_t *rep = NULL;
	enum hkms_rc rc = HKMS_OK;
	char name[32];
	long i, n = 0, audits = 0;

	if (open_store(dir, &st, &err) != HKMS_OK)
		return fail("open", &err);
	/* fill with records until the disk is full */
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "f%ld", i);
		if ((rc = put_value(st, name, i, 6000, &err)) != HKMS_OK)
			break;
		n++;
	}
	if (rc != HKMS_E_NOSPACE)
		return fail("fill did not end in HKMS_E_NOSPACE", &err);
	printf("filled %ld records, then: %s\n", n, err.detail);
	/* overwriting a record with a bigger one fails and keeps the old */
	if ((rc = put_value(st, "f0", 99999, 60000, &err)) != HKMS_E_NOSPACE)
		return fail("overwrite on a full disk", &err);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%ld", i);
		if (check_value(st, name, i, 0, 6000) != 0)
			return 1;
	}
	if (hkms_store_exists(st, "certs", name) &&
	    check_value(st, name, n - 1, 0, 6000) != 0)
		return 1;
	/* make a little room, then fill the audit log: the chain stays whole */
	for (i = n - 3; i < n && i >= 0; i++) {
		snprintf(name, sizeof(name), "f%ld", i);
		if (hkms_store_delete(st, "certs", name, &err) != HKMS_OK)
			return fail("delete", &err);
	}
	n = n > 3 ? n - 3 : 0;
	for (i = 0; i < 100000; i++) {
		if ((rc = hkms_audit_append(st, "enospc", "fill", "audit.log",
		    "ok", NULL, &err)) != HKMS_OK)
			break;
		audits++;
	}
	if (rc != HKMS_E_NOSPACE)
		return fail("audit fill did not end in HKMS_E_NOSPACE", &err);
	printf("appended %ld audit records, then: %s\n", audits, err.detail);
	if (hkms_store_check(st, &rep, &err) != HKMS_OK)
		return fail("check on a full disk", &err);
	json_decref(rep);
	/* space comes back: the store works again */
	for (i = 0; i < n / 2; i++) {
		snprintf(name, sizeof(name), "f%ld", i);
		if (hkms_store_delete(st, "certs", name, &err) != HKMS_OK)
			return fail("delete", &err);
	}
	if (put_value(st, "after", 1, 100, &err) != HKMS_OK)
		return fail("put after freeing space", &err);
	if (hkms_audit_append(st, "enospc", "after", "x", "ok", NULL, &err)
	    != HKMS_OK)
		return fail("audit after freeing space", &err);
	if (hkms_store_check(st, &rep, &err) != HKMS_OK)
		return fail("check after freeing space", &err);
	printf("check ok: %lld records, %lld audit records\n",
	    (long long)json_integer_value(json_object_get(rep, "records")),
	    (long long)json_integer_value(json_object_get(json_object_get(
	    rep, "audit"), "records")));
	json_decref(rep);
	hkms_store_close(st);
	return 0;
}

int
main(int argc, char **argv)
{
	struct hkms_err err = { 0 };
	struct hkms_store *st = NULL;
	int r;

	if (argc >= 5 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 4 && strcmp(argv[1], "check") == 0)
		return do_check(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "enospc") == 0)
		return do_enospc(argv[2]);
	if (argc >= 3 && open_store(argv[2], &st, &err) != HKMS_OK)
		return fail("open", &err);
	if (argc >= 5 && strcmp(argv[1], "put1") == 0) {
		r = put_value(st, argv[3], atol(argv[4]), 500, &err) ==
		    HKMS_OK ? 0 : fail("put", &err);
	} else if (argc >= 5 && strcmp(argv[1], "get1") == 0) {
		r = check_value(st, argv[3], atol(argv[4]), 0, 500);
	} else if (argc >= 3 && strcmp(argv[1], "audit1") == 0) {
		r = hkms_audit_append(st, "faults", "op", "obj", "ok", NULL,
		    &err) == HKMS_OK ? 0 : fail("audit", &err);
	} else {
		fprintf(stderr, "usage: %s write|check|put1|get1|audit1|enospc"
		    " DIR ...\n", argv[0]);
		r = 2;
	}
	hkms_store_close(st);
	return r;
}
