/*
 * Unit tests of the truststore (src/store/trust*.c): import, duplicates,
 * aliases, show/list statuses, pins, verification with pins, snapshot
 * refresh across handles, the change journal and a two-thread writer
 * race seen by a watcher.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "hkms/store.h"
#include "hkms/trust.h"
#include "certio_fixtures.h"

static struct tpki pki;

struct fx {
	char dir[64];
	struct hkms_store *st;
	struct hkms_trust *tr;
};

static int
group_setup(void **state)
{
	(void)state;
	tpki_make(&pki);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	tpki_free(&pki);
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct hkms_err err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/hkms-trust-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(hkms_store_open(f->dir, &f->st, &err), HKMS_OK);
	assert_int_equal(hkms_trust_open(f->st, &f->tr, &err), HKMS_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	hkms_trust_close(f->tr);
	hkms_store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static json_t *
show(struct fx *f, const char *alias, int64_t now)
{
	struct hkms_trust_snap *s = NULL;
	struct hkms_err err;
	json_t *o = NULL;

	assert_int_equal(hkms_trust_snapshot(f->tr, &s, &err), HKMS_OK);
	if (hkms_trust_snap_show(s, alias, now, &o, &err) != HKMS_OK)
		o = NULL;
	hkms_trust_snap_free(s);
	return o;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
test_trust_import_collection_and_show(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *in = tstack(pki.root, pki.inter, pki.leaf);
	struct hkms_err err;
	json_t *res = NULL, *o;

	assert_int_equal(hkms_trust_import(f->tr, "corp", in, "p12", &res,
	    &err), HKMS_OK);
	assert_int_equal(json_array_size(json_object_get(res, "imported")), 3);
	json_decref(res);
	o = show(f, "corp", 0);
	assert_non_null(o);
	assert_string_equal(jstr(o, "kind"), "imported");
	assert_string_equal(jstr(o, "status"), "trusted");
	assert_string_equal(jstr(o, "source_format"), "p12");
	assert_int_equal(json_array_size(json_object_get(o, "certificates")),
	    3);
	assert_true(json_is_true(json_object_get(json_array_get(
	    json_object_get(o, "certificates"), 0), "is_ca")));
	json_decref(o);
	/* expired in 20 years */
	o = show(f, "corp", (int64_t)time(NULL) + 20LL * 365 * 86400);
	assert_string_equal(jstr(o, "status"), "expired");
	json_decref(o);
	hkms_certio_chain_free(in);
}

static void
test_trust_import_duplicates_and_aliases(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *root = tstack(pki.root, NULL, NULL);
	STACK_OF(X509) *two = tstack(pki.root, pki.inter, NULL);
	struct hkms_err err;
	json_t *res = NULL;

	assert_int_equal(hkms_trust_import(f->tr, "root", root, "pem", NULL,
	    &err), HKMS_OK);
	/* same alias */
	assert_int_equal(hkms_trust_import(f->tr, "root", two, "pem", NULL,
	    &err), HKMS_E_EXISTS);
	assert_string_equal(hkms_err_code(&err), "alias_exists");
	/* same certificate under another alias: reported, not stored */
	assert_int_equal(hkms_trust_import(f->tr, "again", root, "pem", NULL,
	    &err), HKMS_E_EXISTS);
	assert_string_equal(hkms_err_code(&err), "already_trusted");
	assert_false(hkms_store_exists(f->st, HKMS_TRUST_KIND, "again"));
	/* a partly new collection keeps only the new one */
	assert_int_equal(hkms_trust_import(f->tr, "mixed", two, "pem", &res,
	    &err), HKMS_OK);
	assert_int_equal(json_array_size(json_object_get(res, "imported")), 1);
	assert_string_equal(jstr(json_array_get(json_object_get(res,
	    "duplicates"), 0), "alias"), "root");
	json_decref(res);
	/* bad aliases, nothing written */
	assert_int_equal(hkms_trust_import(f->tr, "a/b", root, NULL, NULL,
	    &err), HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "bad_alias");
	assert_int_equal(hkms_trust_import(f->tr, "..", root, NULL, NULL,
	    &err), HKMS_E_INVALID);
	assert_int_equal(hkms_trust_import(f->tr, "a..b", root, NULL, NULL,
	    &err), HKMS_E_INVALID);
	assert_int_equal(hkms_trust_import(f->tr, "", root, NULL, NULL, &err),
	    HKMS_E_INVALID);
	/* delete */
	assert_int_equal(hkms_trust_delete(f->tr, "mixed", &err), HKMS_OK);
	assert_int_equal(hkms_trust_delete(f->tr, "mixed", &err),
	    HKMS_E_NOT_FOUND);
	hkms_certio_chain_free(root);
	hkms_certio_chain_free(two);
}

static void
verify(struct fx *f, STACK_OF(X509) *chain, const char *host,
    enum hkms_rc want, const char *code, json_t **keep)
{
	struct hkms_certio_verify_opts o = { 0 };
	struct hkms_err err;
	json_t *res = NULL;

	hkms_err_clear(&err);
	o.purpose = HKMS_CERTIO_PURPOSE_SERVER;
	o.host = host;
	assert_int_equal(hkms_trust_verify(f->tr, chain, &o, &res, &err),
	    want);
	assert_non_null(res);
	if (code != NULL) {
		assert_string_equal(hkms_err_code(&err), code);
		assert_string_equal(jstr(json_object_get(res, "error"), "code"),
		    code);
	}
	if (keep != NULL)
		*keep = res;
	else
		json_decref(res);
}

static void
test_trust_verify_against_store(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *root = tstack(pki.root, NULL, NULL);
	STACK_OF(X509) *chain = tstack(pki.leaf, pki.inter, NULL);
	STACK_OF(X509) *inter = tstack(pki.inter, NULL, NULL);
	struct hkms_err err;
	json_t *res;

	verify(f, chain, NULL, HKMS_E_VERIFY, "unable_to_get_issuer", NULL);
	/* an imported intermediate alone is not an anchor */
	assert_int_equal(hkms_trust_import(f->tr, "inter", inter, NULL, NULL,
	    &err), HKMS_OK);
	verify(f, chain, NULL, HKMS_E_VERIFY, "unable_to_get_issuer", NULL);
	assert_int_equal(hkms_trust_import(f->tr, "root", root, NULL, NULL,
	    &err), HKMS_OK);
	verify(f, chain, "www.example.com", HKMS_OK, NULL, &res);
	assert_string_equal(jstr(res, "trusted_by"), "root");
	assert_int_equal(json_array_size(json_object_get(res, "path")), 3);
	json_decref(res);
	verify(f, chain, "other.example.com", HKMS_E_VERIFY,
	    "hostname_mismatch", NULL);
	hkms_certio_chain_free(root);
	hkms_certio_chain_free(chain);
	hkms_certio_chain_free(inter);
}

static void
test_trust_pin_self_signed_changes(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k1 = tkey(), *k2 = tkey();
	struct tcert t = { "nas.local", NULL, NULL, 0, -1, "DNS:nas.local",
	    "serverAuth", NULL, -1, 365 };
	X509 *c1 = tcert_make(&t, k1), *c2 = tcert_make(&t, k2);
	STACK_OF(X509) *p1 = tstack(c1, NULL, NULL), *p2 = tstack(c2, NULL,
	    NULL);
	struct hkms_err err;
	json_t *res = NULL, *o;

	verify(f, p1, "nas.local", HKMS_E_VERIFY, "self_signed_certificate",
	    NULL);
	assert_int_equal(hkms_trust_pin(f->tr, "nas", p1, 0, &res, &err),
	    HKMS_OK);
	json_decref(res);
	verify(f, p1, "nas.local", HKMS_OK, NULL, NULL);
	o = show(f, "nas", 0);
	assert_string_equal(jstr(o, "status"), "trusted");
	json_decref(o);
	/* the peer now presents another self-signed certificate */
	verify(f, p2, "nas.local", HKMS_E_VERIFY, "pinned_certificate_changed",
	    NULL);
	o = show(f, "nas", 0);
	assert_string_equal(jstr(o, "status"), "untrusted");
	json_decref(o);
	/* without a host name, the subject identifies the peer */
	verify(f, p2, NULL, HKMS_E_VERIFY, "pinned_certificate_changed", NULL);
	/* pin again: same is a no-op, different needs force */
	assert_int_equal(hkms_trust_pin(f->tr, "nas", p1, 0, &res, &err),
	    HKMS_OK);
	assert_true(json_is_true(json_object_get(res, "unchanged")));
	json_decref(res);
	assert_int_equal(hkms_trust_pin(f->tr, "nas", p2, 0, NULL, &err),
	    HKMS_E_EXISTS);
	assert_string_equal(hkms_err_code(&err), "pin_changed");
	/* the old certificate is back: trusted again */
	verify(f, p1, "nas.local", HKMS_OK, NULL, NULL);
	o = show(f, "nas", 0);
	assert_string_equal(jstr(o, "status"), "trusted");
	json_decref(o);
	assert_int_equal(hkms_trust_pin(f->tr, "nas", p2, 1, &res, &err),
	    HKMS_OK);
	assert_true(json_is_true(json_object_get(res, "replaced")));
	json_decref(res);
	verify(f, p2, "nas.local", HKMS_OK, NULL, NULL);
	/* an expired pinned certificate is untrusted */
	o = show(f, "nas", (int64_t)time(NULL) + 400 * 86400);
	assert_string_equal(jstr(o, "status"), "untrusted");
	json_decref(o);
	hkms_certio_chain_free(p1);
	hkms_certio_chain_free(p2);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_trust_pin_issuing_intermediate(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *chain = tstack(pki.leaf, pki.inter, NULL);
	STACK_OF(X509) *leaf_only = tstack(pki.leaf, NULL, NULL);
	struct hkms_err err;
	json_t *res = NULL;
	char tp[HKMS_CERTIO_THUMB_SIZE];

	assert_int_equal(hkms_trust_pin(f->tr, "www", leaf_only, 0, NULL,
	    &err), HKMS_OK);
	assert_int_equal(hkms_trust_delete(f->tr, "www", &err), HKMS_OK);
	assert_int_equal(hkms_trust_pin(f->tr, "www", chain, 0, &res, &err),
	    HKMS_OK);
	hkms_certio_thumbprint(pki.inter, tp, NULL);
	assert_string_equal(jstr(res, "pinned"), tp);
	json_decref(res);
	/* the intermediate is an anchor because it is pinned */
	verify(f, chain, "www.example.com", HKMS_OK, NULL, &res);
	assert_string_equal(jstr(res, "trusted_by"), "www");
	json_decref(res);
	hkms_certio_chain_free(chain);
	hkms_certio_chain_free(leaf_only);
}

static void
test_trust_snapshot_sees_other_handle(void **state)
{
	struct fx *f = *state;
	struct hkms_store *st2 = NULL;
	struct hkms_trust *tr2 = NULL;
	struct hkms_trust_snap *s = NULL, *s2 = NULL;
	STACK_OF(X509) *root = tstack(pki.root, NULL, NULL);
	struct hkms_err err;
	int64_t t0;

	assert_int_equal(hkms_store_open(f->dir, &st2, &err), HKMS_OK);
	assert_int_equal(hkms_trust_open(st2, &tr2, &err), HKMS_OK);
	assert_int_equal(hkms_trust_snapshot(f->tr, &s, &err), HKMS_OK);
	assert_int_equal(hkms_trust_snap_count(s), 0);
	assert_int_equal(hkms_trust_import(tr2, "root", root, NULL, NULL,
	    &err), HKMS_OK);
	/* the old snapshot stays valid and unchanged */
	assert_int_equal(hkms_trust_snap_count(s), 0);
	t0 = (int64_t)time(NULL);
	for (;;) {
		assert_int_equal(hkms_trust_snapshot(f->tr, &s2, &err),
		    HKMS_OK);
		if (hkms_trust_snap_count(s2) == 1)
			break;
		hkms_trust_snap_free(s2);
		assert_true((int64_t)time(NULL) - t0 < 2);
		usleep(10000);
	}
	assert_int_equal(sk_X509_num(hkms_trust_snap_certs(s2)), 1);
	{
		char tp[HKMS_CERTIO_THUMB_SIZE];

		hkms_certio_thumbprint(pki.root, tp, NULL);
		assert_string_equal(hkms_trust_snap_find(s2, tp), "root");
		assert_null(hkms_trust_snap_find(s2, "sha256:00"));
	}
	hkms_trust_snap_free(s);
	hkms_trust_snap_free(s2);
	/* unchanged: the same snapshot object comes back */
	assert_int_equal(hkms_trust_snapshot(f->tr, &s, &err), HKMS_OK);
	assert_int_equal(hkms_trust_snapshot(f->tr, &s2, &err), HKMS_OK);
	assert_ptr_equal(s, s2);
	hkms_trust_snap_free(s);
	hkms_trust_snap_free(s2);
	hkms_trust_close(tr2);
	hkms_store_close(st2);
	hkms_certio_chain_free(root);
}

struct worker {
	struct fx *f;
	const char *prefix;
	int n;
	int failures;
};

static void *
churn(void *arg)
{
	struct worker *w = arg;
	struct hkms_store *st = NULL;
	struct hkms_trust *tr = NULL;
	struct hkms_err err;
	STACK_OF(X509) *one;
	EVP_PKEY *k = tkey();
	char alias[64];
	int i;

	/* each thread has its own store and handle, as a process would */
	if (hkms_store_open(w->f->dir, &st, &err) != HKMS_OK ||
	    hkms_trust_open(st, &tr, &err) != HKMS_OK) {
		w->failures = -1;
		return NULL;
	}
	for (i = 0; i < w->n; i++) {
		char cn[64];
		struct tcert t = { cn, NULL, NULL, 1, -1, NULL, NULL, NULL, -1,
		    30 };
		X509 *x;

		snprintf(cn, sizeof(cn), "%s-%d", w->prefix, i);
		snprintf(alias, sizeof(alias), "%s-%d", w->prefix, i);
		x = tcert_make(&t, k);
		one = tstack(x, NULL, NULL);
		if (hkms_trust_import(tr, alias, one, NULL, NULL, &err) !=
		    HKMS_OK)
			w->failures++;
		if (i % 2 == 0 && hkms_trust_delete(tr, alias, &err) !=
		    HKMS_OK)
			w->failures++;
		hkms_certio_chain_free(one);
		X509_free(x);
	}
	EVP_PKEY_free(k);
	hkms_trust_close(tr);
	hkms_store_close(st);
	return NULL;
}

static void
test_trust_concurrent_writers_and_watch(void **state)
{
	struct fx *f = *state;
	struct worker a = { f, "a", 60, 0 }, b = { f, "b", 60, 0 };
	struct hkms_trust_watch *w = NULL;
	struct hkms_trust_snap *s = NULL;
	struct hkms_err err;
	pthread_t ta, tb;
	json_t *ev = NULL;
	size_t total = 0, i;
	uint64_t last = 0, seq;

	assert_int_equal(hkms_trust_watch_open(f->tr, &w, &err), HKMS_OK);
	pthread_create(&ta, NULL, churn, &a);
	pthread_create(&tb, NULL, churn, &b);
	/* 60 imports + 30 deletes each */
	while (total < 180) {
		assert_int_equal(hkms_trust_watch_next(w, 5000, &ev, &err),
		    HKMS_OK);
		assert_true(json_array_size(ev) > 0);
		for (i = 0; i < json_array_size(ev); i++) {
			seq = (uint64_t)json_integer_value(json_object_get(
			    json_array_get(ev, i), "seq"));
			assert_int_equal(seq, last + 1);
			last = seq;
		}
		total += json_array_size(ev);
		json_decref(ev);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.failures, 0);
	assert_int_equal(b.failures, 0);
	assert_int_equal(hkms_trust_snapshot(f->tr, &s, &err), HKMS_OK);
	assert_int_equal(hkms_trust_snap_count(s), 60);
	hkms_trust_snap_free(s);
	hkms_trust_watch_close(w);
}

/* A collection so large that its journal line exceeds the first read
 * window: the next change must still continue the sequence. */
static void
test_trust_journal_long_lines(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *many = sk_X509_new_null(), *one;
	struct hkms_trust_watch *w = NULL;
	EVP_PKEY *k = tkey();
	struct hkms_err err;
	json_t *ev = NULL;
	char cn[32];
	int i;

	for (i = 0; i < 150; i++) {
		struct tcert t = { cn, NULL, NULL, 1, -1, NULL, NULL, NULL, -1,
		    30 };

		snprintf(cn, sizeof(cn), "bulk-%d", i);
		sk_X509_push(many, tcert_make(&t, k));
	}
	assert_int_equal(hkms_trust_watch_open(f->tr, &w, &err), HKMS_OK);
	assert_int_equal(hkms_trust_import(f->tr, "bulk", many, NULL, NULL,
	    &err), HKMS_OK);
	one = tstack(pki.root, NULL, NULL);
	assert_int_equal(hkms_trust_import(f->tr, "root", one, NULL, NULL,
	    &err), HKMS_OK);
	assert_int_equal(hkms_trust_watch_next(w, 2000, &ev, &err), HKMS_OK);
	assert_int_equal(json_array_size(ev), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ev,
	    1), "seq")), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(ev,
	    0), "thumbprints")), 150);
	json_decref(ev);
	hkms_trust_watch_close(w);
	hkms_certio_chain_free(many);
	hkms_certio_chain_free(one);
	EVP_PKEY_free(k);
}

struct reader {
	struct hkms_trust *tr;
	STACK_OF(X509) *chain;
	int *stop;
	int ok, fail, errors;
};

static void *
read_loop(void *arg)
{
	struct reader *r = arg;
	struct hkms_certio_verify_opts o = { 0 };
	struct hkms_trust_snap *s;
	struct hkms_err err;
	json_t *res;
	enum hkms_rc rc;

	o.purpose = HKMS_CERTIO_PURPOSE_SERVER;
	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		res = NULL;
		rc = hkms_trust_verify(r->tr, r->chain, &o, &res, &err);
		if (rc == HKMS_OK)
			r->ok++;
		else if (rc == HKMS_E_VERIFY)
			r->fail++;
		else {
			fprintf(stderr, "verify: %s: %s\n", hkms_err_code(&err),
			    err.detail);
			r->errors++;
		}
		json_decref(res);
		if (hkms_trust_snapshot(r->tr, &s, &err) == HKMS_OK) {
			(void)sk_X509_num(hkms_trust_snap_certs(s));
			hkms_trust_snap_free(s);
		} else {
			fprintf(stderr, "snapshot: %s: %s\n",
			    hkms_err_code(&err), err.detail);
			r->errors++;
		}
	}
	return NULL;
}

/* One handle shared by reader threads (as the HTTPS server will) while
 * the root comes and goes: every verdict is ok or a clean failure. */
static void
test_trust_shared_handle_threads(void **state)
{
	struct fx *f = *state;
	STACK_OF(X509) *root = tstack(pki.root, NULL, NULL);
	int stop = 0;
	struct reader r[4];
	pthread_t t[4];
	struct hkms_err err;
	int i, ok = 0, fail = 0;

	for (i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].tr = f->tr;
		/* each request parses its own chain: no X509 shared there */
		r[i].chain = tstack(X509_dup(pki.leaf), X509_dup(pki.inter),
		    NULL);
		X509_free(sk_X509_value(r[i].chain, 0));
		X509_free(sk_X509_value(r[i].chain, 1));
		r[i].stop = &stop;
		pthread_create(&t[i], NULL, read_loop, &r[i]);
	}
	for (i = 0; i < 20; i++) {
		assert_int_equal(hkms_trust_import(f->tr, "root", root, NULL,
		    NULL, &err), HKMS_OK);
		usleep(20000);
		assert_int_equal(hkms_trust_delete(f->tr, "root", &err),
		    HKMS_OK);
		usleep(20000);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		hkms_certio_chain_free(r[i].chain);
		assert_int_equal(r[i].errors, 0);
		ok += r[i].ok;
		fail += r[i].fail;
	}
	/* both verdicts were seen: the readers followed the changes */
	assert_true(ok > 0);
	assert_true(fail > 0);
	hkms_certio_chain_free(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_trust_import_collection_and_show, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_import_duplicates_and_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_verify_against_store, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_pin_self_signed_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_pin_issuing_intermediate, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_snapshot_sees_other_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_concurrent_writers_and_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_journal_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_trust_shared_handle_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
