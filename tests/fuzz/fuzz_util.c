/*
 * Helpers of the fuzz targets (see fuzz.h). Linked into every target in
 * both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "fuzz.h"

static char tmp_paths[4][PATH_MAX];
static int tmp_count;
static pid_t tmp_owner;

char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void
fuzz_write(const char *path, const void *data, size_t size)
{
	const char *p = data;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600))
	    < 0) {
		fprintf(stderr, "fuzz: cannot create %s: %s\n", path,
		    strerror(errno));
		abort();
	}
	while (size > 0) {
		if ((n = write(fd, p, size)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fuzz: cannot write %s: %s\n", path,
			    strerror(errno));
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_tmpdirs(void)
{
	int i;

	/* a forked child (libFuzzer -fork, popen) must not remove them */
	if (getpid() != tmp_owner)
		return;
	for (i = 0; i < tmp_count; i++)
		nftw(tmp_paths[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (tmp_count == (int)(sizeof(tmp_paths) / sizeof(tmp_paths[0])))
		abort();
	if (base == NULL || *base == '\0')
		base = "/tmp";
	p = tmp_paths[tmp_count];
	snprintf(p, PATH_MAX, "%s/hkms-fuzz-%s.XXXXXX", base, tag);
	if (mkdtemp(p) == NULL) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", p, strerror(errno));
		abort();
	}
	if (tmp_count++ == 0) {
		tmp_owner = getpid();
		atexit(rm_tmpdirs);
	}
	return p;
}

size_t
fuzz_split(const uint8_t *data, size_t size, size_t max,
    const uint8_t **part, size_t *len)
{
	size_t n = 0, start = 0, i;

	for (i = 0; i < size && n + 1 < max; i++) {
		if (data[i] != 0)
			continue;
		part[n] = data + start;
		len[n++] = i - start;
		start = i + 1;
	}
	part[n] = data + start;
	len[n++] = size - start;
	return n;
}

#define SUBST_TOKEN "@PEM_SHA256@"

char *
fuzz_subst_sha256(const uint8_t *text, size_t len, const uint8_t *pem,
    size_t pemlen)
{
	const size_t tl = sizeof(SUBST_TOKEN) - 1;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	size_t i, o = 0, hits = 0;
	char *out;

	for (i = 0; i + tl <= len; i++)
		if (memcmp(text + i, SUBST_TOKEN, tl) == 0)
			hits++;
	if ((out = malloc(len + hits * (sizeof(hex) - 1 - tl) + 1)) == NULL)
		abort();
	if (hits > 0) {
		SHA256(pem, pemlen, md);
		for (i = 0; i < sizeof(md); i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	for (i = 0; i < len;) {
		if (i + tl <= len && memcmp(text + i, SUBST_TOKEN, tl) == 0) {
			memcpy(out + o, hex, sizeof(hex) - 1);
			o += sizeof(hex) - 1;
			i += tl;
		} else {
			out[o++] = (char)text[i++];
		}
	}
	out[o] = '\0';
	return out;
}
