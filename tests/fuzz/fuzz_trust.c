/*
 * fuzz_trust: loading the truststore from its files. Each input is
 *
 *	<trust/a.json> [ NUL <trust/a.pem> ]
 *
 * with "@PEM_SHA256@" in the JSON replaced by the PEM's SHA-256 (see
 * fuzz_store_record.c). A fresh hkms_trust handle then takes a snapshot
 * (hkms_store_list + get + hkms_certio_parse of each entry), lists and
 * shows the entries, looks every certificate up by thumbprint and
 * verifies each entry's chain against the truststore, with and without a
 * host (pinned entries read their "pin" metadata there). A damaged record
 * must be an error, never a crash.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>

#include "hkms/store.h"
#include "hkms/trust.h"
#include "fuzz.h"

static const char *dir;
static struct hkms_store *st;
static char json_path[PATH_MAX], pem_path[PATH_MAX], journal[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hkms_err err;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("trust");
	if (hkms_store_open(dir, &st, &err) != HKMS_OK) {
		fprintf(stderr, "fuzz: cannot open store %s: %s\n", dir,
		    err.detail);
		abort();
	}
	snprintf(json_path, sizeof(json_path), "%s/trust/a.json", dir);
	snprintf(pem_path, sizeof(pem_path), "%s/trust/a.pem", dir);
	snprintf(journal, sizeof(journal), "%s/trust/changes.log", dir);
	return 0;
}

static void
verify_entry(struct hkms_trust *tr, STACK_OF(X509) *certs, const char *host)
{
	struct hkms_certio_verify_opts o;
	STACK_OF(X509) *chain;
	struct hkms_err err;
	json_t *res = NULL;
	enum hkms_rc rc;

	if ((chain = hkms_certio_chain_dup(certs)) == NULL)
		return;
	memset(&o, 0, sizeof(o));
	o.host = host;
	o.at_time = FUZZ_NOW;
	rc = hkms_trust_verify(tr, chain, &o, &res, &err);
	if (rc == HKMS_OK || rc == HKMS_E_VERIFY)
		FUZZ_CHECK(json_is_object(res));
	json_decref(res);
	hkms_certio_chain_free(chain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[2];
	size_t len[2], n;
	struct hkms_trust *tr = NULL;
	struct hkms_trust_snap *s = NULL;
	STACK_OF(X509) *certs = NULL;
	char thumb[HKMS_CERTIO_THUMB_SIZE];
	struct hkms_err err;
	json_t *j = NULL;
	char *text;
	int i;

	n = fuzz_split(data, size, 2, part, len);
	text = fuzz_subst_sha256(part[0], len[0], n > 1 ? part[1] : NULL,
	    n > 1 ? len[1] : 0);
	unlink(pem_path);
	unlink(journal);
	fuzz_write(json_path, text, strlen(text));
	if (n > 1)
		fuzz_write(pem_path, part[1], len[1]);

	FUZZ_CHECK(hkms_trust_open(st, &tr, &err) == HKMS_OK);
	if (hkms_trust_snapshot(tr, &s, &err) != HKMS_OK)
		goto out;
	FUZZ_CHECK(hkms_trust_snap_count(s) <= 1);
	if (hkms_trust_snap_list(s, FUZZ_NOW, &j, &err) == HKMS_OK)
		FUZZ_CHECK(json_array_size(j) == hkms_trust_snap_count(s));
	json_decref(j);
	j = NULL;
	if (hkms_trust_snap_count(s) == 0)
		goto out;
	if (hkms_trust_snap_show(s, "a", FUZZ_NOW, &j, &err) == HKMS_OK)
		FUZZ_CHECK(json_is_object(j));
	json_decref(j);
	j = NULL;
	FUZZ_CHECK(hkms_trust_snap_alias_certs(s, "a", &certs, &err) ==
	    HKMS_OK);
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (hkms_certio_thumbprint(sk_X509_value(certs, i), thumb,
		    &err) != HKMS_OK)
			continue;
		/* not asserted: find() reads the record's "certificates"
		 * metadata, which a damaged record may not match to its PEM */
		(void)hkms_trust_snap_find(s, thumb);
	}
	if (sk_X509_num(certs) > 0) {
		verify_entry(tr, certs, NULL);
		verify_entry(tr, certs, "example.com");
	}
out:
	hkms_trust_snap_free(s);
	hkms_trust_close(tr);
	free(text);
	ERR_clear_error();
	return 0;
}
