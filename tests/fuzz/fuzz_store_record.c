/*
 * fuzz_store_record: the store's own metadata records read back from
 * disk. A data directory is created once per process; each input is
 *
 *	<x.json> [ NUL <PEM> [ NUL <old PEM> ] ]
 *
 * "@PEM_SHA256@" in the JSON is replaced by the SHA-256 of <PEM> so that
 * records whose PEM matches are reachable. With two parts <PEM> is written
 * as certs/x.pem; with three it is staged as certs/x.pem.next beside
 * <old PEM> as certs/x.pem, and the store is reopened, which runs the
 * crash recovery on it. Then hkms_store_get(), _exists(), _list() and
 * _check() run: a damaged file must be an error, never a crash.
 * Invariants: a record that is read has a JSON object with "name" "x";
 * a returned PEM is a C string whose SHA-256 is the recorded one.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hkms/store.h"
#include "fuzz.h"

static const char *dir;
static struct hkms_store *st;
static char json_path[PATH_MAX], pem_path[PATH_MAX], next_path[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hkms_err err;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("store");
	if (hkms_store_open(dir, &st, &err) != HKMS_OK) {
		fprintf(stderr, "fuzz: cannot open store %s: %s\n", dir,
		    err.detail);
		abort();
	}
	snprintf(json_path, sizeof(json_path), "%s/certs/x.json", dir);
	snprintf(pem_path, sizeof(pem_path), "%s/certs/x.pem", dir);
	snprintf(next_path, sizeof(next_path), "%s/certs/x.pem.next", dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[3];
	size_t len[3], n;
	struct hkms_err err;
	json_t *meta = NULL, *list = NULL, *report = NULL;
	char *text, *pem = NULL;
	enum hkms_rc rc;

	n = fuzz_split(data, size, 3, part, len);
	text = fuzz_subst_sha256(part[0], len[0], n > 1 ? part[1] : NULL,
	    n > 1 ? len[1] : 0);
	unlink(pem_path);
	unlink(next_path);
	fuzz_write(json_path, text, strlen(text));
	if (n == 2) {
		fuzz_write(pem_path, part[1], len[1]);
	} else if (n == 3) {
		fuzz_write(next_path, part[1], len[1]);
		fuzz_write(pem_path, part[2], len[2]);
		hkms_store_close(st);
		st = NULL;
		FUZZ_CHECK(hkms_store_open(dir, &st, &err) == HKMS_OK);
	}

	rc = hkms_store_get(st, "certs", "x", &meta, &pem, &err);
	if (rc == HKMS_OK) {
		FUZZ_CHECK(json_is_object(meta));
		FUZZ_CHECK(json_is_string(json_object_get(meta, "name")) &&
		    strcmp(json_string_value(json_object_get(meta, "name")),
		    "x") == 0);
		FUZZ_CHECK(hkms_store_exists(st, "certs", "x"));
	} else {
		FUZZ_CHECK(err.detail[0] != '\0');
	}
	json_decref(meta);
	meta = NULL;
	free(pem);

	/* list reads the same record (metadata only): it succeeds exactly
	 * when the metadata of x can be read, and then holds one record */
	rc = hkms_store_get(st, "certs", "x", &meta, NULL, &err);
	json_decref(meta);
	if (hkms_store_list(st, "certs", &list, &err) == HKMS_OK) {
		FUZZ_CHECK(rc == HKMS_OK);
		FUZZ_CHECK(json_is_array(list) && json_array_size(list) == 1);
	} else {
		FUZZ_CHECK(rc != HKMS_OK);
	}
	json_decref(list);

	rc = hkms_store_check(st, &report, &err);
	FUZZ_CHECK(rc == HKMS_OK || rc == HKMS_E_VERIFY);
	FUZZ_CHECK(json_is_object(report));
	json_decref(report);
	free(text);
	return 0;
}
