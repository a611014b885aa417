/*
 * fuzz_subject_san: the subject and SAN syntax people type
 * ("/CN=a/O=b", "DNS:a,IP:10.0.0.1"): the input up to the first newline is
 * given to hkms_x509_name_parse(), the rest to hkms_x509_san_parse().
 * Invariants (x509.h): a parsed name or SAN list formats to text that
 * parses back to the same thing, and passes the checks applied to names
 * from CSRs (name_check / san_check).
 */
#include <string.h>

#include <openssl/err.h>

#include "hkms/x509.h"
#include "fuzz.h"

static void
name_case(const char *s)
{
	X509_NAME *n = NULL, *m = NULL;
	struct hkms_err err;
	char *f = NULL;

	if (hkms_x509_name_parse(s, &n, &err) != HKMS_OK) {
		FUZZ_CHECK(n == NULL);
		return;
	}
	FUZZ_CHECK(hkms_x509_name_check(n, &err) == HKMS_OK);
	FUZZ_CHECK(hkms_x509_name_format(n, &f, &err) == HKMS_OK);
	if (hkms_x509_name_parse(f, &m, &err) != HKMS_OK) {
		fprintf(stderr, "formatted name refused: %s: %s\n", f,
		    err.detail);
		FUZZ_CHECK(!"name format parses back");
	}
	FUZZ_CHECK(X509_NAME_cmp(n, m) == 0);
	free(f);
	X509_NAME_free(n);
	X509_NAME_free(m);
}

static void
san_case(const char *s)
{
	GENERAL_NAMES *g = NULL, *h = NULL;
	struct hkms_err err;
	char *f = NULL, *f2 = NULL;

	if (hkms_x509_san_parse(s, &g, &err) != HKMS_OK) {
		FUZZ_CHECK(g == NULL);
		return;
	}
	FUZZ_CHECK(hkms_x509_san_check(g, &err) == HKMS_OK);
	FUZZ_CHECK(hkms_x509_san_format(g, &f, &err) == HKMS_OK);
	if (hkms_x509_san_parse(f, &h, &err) != HKMS_OK) {
		fprintf(stderr, "formatted SANs refused: %s: %s\n", f,
		    err.detail);
		FUZZ_CHECK(!"SAN format parses back");
	}
	FUZZ_CHECK(hkms_x509_san_format(h, &f2, &err) == HKMS_OK);
	FUZZ_CHECK(strcmp(f, f2) == 0);
	free(f);
	free(f2);
	GENERAL_NAMES_free(g);
	GENERAL_NAMES_free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	char *nl = strchr(s, '\n');

	if (nl != NULL)
		*nl = '\0';
	name_case(s);
	if (nl != NULL)
		san_case(nl + 1);
	free(s);
	ERR_clear_error();
	return 0;
}
