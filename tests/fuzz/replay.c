/*
 * Replay driver: a main() for the fuzz targets when they are built without
 * libFuzzer (gcc, the normal and the ASan builds). Each argument is a file
 * or a directory; every regular file of a directory is fed, in name order,
 * once to LLVMFuzzerTestOneInput. A crash, sanitizer report or FUZZ_CHECK
 * failure ends the process abnormally; the name of the file being run is
 * printed first so the failing input is known.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Targets that need no set-up do not define it. */
__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int
run_file(const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	long sz;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		fprintf(stderr, "replay: cannot size %s\n", path);
		return -1;
	}
	/* exactly size bytes (at least 1 for malloc), so that ASan catches a
	 * read past the end of the input */
	if ((buf = malloc(sz > 0 ? (size_t)sz : 1)) == NULL) {
		fclose(f);
		return -1;
	}
	len = fread(buf, 1, (size_t)sz, f);
	fclose(f);
	if (len != (size_t)sz) {
		free(buf);
		fprintf(stderr, "replay: short read on %s\n", path);
		return -1;
	}
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir, int *count)
{
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat sb;
	int rc = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(names, cap * sizeof(*names)))
			    == NULL) {
				rc = -1;
				break;
			}
			names = nv;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if ((rc = run_file(path)) == 0)
			(*count)++;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat sb;
	int i, count = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (S_ISDIR(sb.st_mode) ? run_dir(argv[i], &count) != 0 :
		    run_file(argv[i]) != 0)
			return 1;
		if (!S_ISDIR(sb.st_mode))
			count++;
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	fprintf(stderr, "replay: %d inputs, no crash\n", count);
	return 0;
}
