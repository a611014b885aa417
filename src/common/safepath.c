/*
 * Ownership checks for the paths hkms trusts: the data dir, the config
 * file, the PKCS#11 module it dlopen()s and the files the config names.
 *
 * The rule is OpenSSH's safe_path()/StrictModes: the path is resolved
 * (symlinks followed, so /usr/lib/softhsm/libsofthsm2.so is checked as the
 * file it points to), the resolved object must be owned by root or by the
 * effective user and not be writable by group or others, and every
 * directory above it must be owned by root or the effective user and not
 * be writable by group or others, unless it has the sticky bit (/tmp:
 * others cannot rename or remove our entries there). Anyone who can change
 * one of these could change what hkms loads or where it writes.
 *
 * In a user namespace (unshare -r, rootless containers), directories whose
 * owner has no mapping show up as the kernel's overflow uid; above the
 * checked object (never for it) that owner is accepted, as it stands for
 * someone outside the namespace who set up our view of the file system.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hkms/config.h"

static enum hkms_rc
unsafe(struct hkms_err *err, const char *what, const char *path,
    const char *why, const char *obj, const struct stat *sb)
{
	if (obj != NULL)
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing %s '%s': directory '%s' %s (uid %u, mode %04o)",
		    what, path, obj, why, (unsigned)sb->st_uid,
		    (unsigned)(sb->st_mode & 07777));
	return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
	    "refusing %s '%s': %s (uid %u, mode %04o)", what, path, why,
	    (unsigned)sb->st_uid, (unsigned)(sb->st_mode & 07777));
}

static int
owner_ok(const struct stat *sb)
{
	return sb->st_uid == 0 || sb->st_uid == geteuid();
}

/* The overflow uid when we run in a non-initial user namespace, else -1. */
static long
userns_overflow_uid(void)
{
	unsigned long a, b, n;
	long ov = -1;
	FILE *f;

	if ((f = fopen("/proc/self/uid_map", "re")) == NULL)
		return -1;
	if (fscanf(f, "%lu %lu %lu", &a, &b, &n) == 3 && a == 0 && b == 0 &&
	    n == 4294967295UL) {
		fclose(f);
		return -1;	/* the initial namespace */
	}
	fclose(f);
	if ((f = fopen("/proc/sys/kernel/overflowuid", "re")) != NULL) {
		if (fscanf(f, "%ld", &ov) != 1)
			ov = -1;
		fclose(f);
	}
	return ov;
}

enum hkms_rc
hkms_path_check_safe(const char *path, const char *what, int want_dir,
    struct hkms_err *err)
{
	char *res = NULL, *slash;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct stat sb;
	long ov = -2;

	if (what == NULL)
		what = "path";
	if (path == NULL || *path == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "no %s given", what);
	if ((res = realpath(path, NULL)) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
			    "%s '%s' does not exist", what, path);
		return hkms_err_set(err, HKMS_E_IO, "cannot resolve %s '%s': "
		    "%s", what, path, strerror(errno));
	}
	if (stat(res, &sb) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot stat %s '%s': %s",
		    what, res, strerror(errno));
		goto out;
	}
	if (want_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing %s '%s': not a %s", what, path,
		    want_dir ? "directory" : "regular file");
		goto out;
	}
	if (!owner_ok(&sb)) {
		rc = unsafe(err, what, path, "is not owned by root or the "
		    "service user", NULL, &sb);
		goto out;
	}
	if ((sb.st_mode & 022) != 0) {
		rc = unsafe(err, what, path, "is writable by group or others",
		    NULL, &sb);
		goto out;
	}
	/* every directory above it, up to / */
	while ((slash = strrchr(res, '/')) != NULL) {
		if (slash == res)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(res, &sb) != 0) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot stat '%s': %s",
			    res, strerror(errno));
			goto out;
		}
		if (!owner_ok(&sb) && ov == -2)
			ov = userns_overflow_uid();
		if (!owner_ok(&sb) && (ov < 0 || sb.st_uid != (uid_t)ov)) {
			rc = unsafe(err, what, path, "is not owned by root or "
			    "the service user", res, &sb);
			goto out;
		}
		if ((sb.st_mode & 022) != 0 && (sb.st_mode & S_ISVTX) == 0) {
			rc = unsafe(err, what, path, "is writable by group or "
			    "others", res, &sb);
			goto out;
		}
		if (slash == res)
			break;
	}
	rc = HKMS_OK;
out:
	free(res);
	return rc;
}
