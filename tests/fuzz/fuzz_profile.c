/*
 * fuzz_profile: a custom certificate profile from JSON,
 * hkms_x509_profile_from_json(). Invariant (documented in x509.h): a
 * parsed profile serializes with _to_json to JSON that parses to an equal
 * profile, i.e. serializing that one again gives the same text.
 */
#include <string.h>

#include "hkms/x509.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hkms_x509_profile *p = NULL, *q = NULL;
	struct hkms_err err;
	char *a = NULL, *b = NULL;

	if (hkms_x509_profile_from_json("fuzz", (const char *)data, size, &p,
	    &err) != HKMS_OK) {
		FUZZ_CHECK(p == NULL);
		return 0;
	}
	(void)hkms_x509_profile_is_ca(p);
	(void)hkms_x509_profile_default_days(p);
	(void)hkms_x509_profile_max_days(p);
	(void)hkms_x509_profile_digest(p);
	FUZZ_CHECK(hkms_x509_profile_to_json(p, &a, &err) == HKMS_OK);
	if (hkms_x509_profile_from_json("fuzz", a, strlen(a), &q, &err) !=
	    HKMS_OK) {
		fprintf(stderr, "to_json output refused: %s\n%s\n",
		    err.detail, a);
		FUZZ_CHECK(!"profile to_json output parses back");
	}
	FUZZ_CHECK(hkms_x509_profile_to_json(q, &b, &err) == HKMS_OK);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "first:  %s\nsecond: %s\n", a, b);
		FUZZ_CHECK(!"profile round trip is stable");
	}
	free(a);
	free(b);
	hkms_x509_profile_free(p);
	hkms_x509_profile_free(q);
	return 0;
}
