/*
 * fuzz_config: hkms_config_parse() on the input as NUL-terminated INI text
 * (an embedded NUL ends the text early, as it would for a file read as a
 * C string).
 */
#include "hkms/config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hkms_config *cfg = NULL;
	struct hkms_err err;
	char *text = fuzz_strndup(data, size);

	if (hkms_config_parse(text, &cfg, &err) == HKMS_OK)
		FUZZ_CHECK(cfg != NULL);
	hkms_config_free(cfg);
	free(text);
	return 0;
}
