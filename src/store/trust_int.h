/*
 * Internals shared by the truststore sources (trust.c, trust_journal.c,
 * trust_verify.c). Not a public interface: see include/hkms/trust.h.
 */
#ifndef HKMS_TRUST_INT_H
#define HKMS_TRUST_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "hkms/trust.h"

/* Our own version of the trust record fields, beside the store's "schema". */
#define TRUST_SCHEMA 1

#define TRUST_JOURNAL "changes.log"
#define TRUST_JOURNAL_OLD "changes.log.1"
/* The journal is rotated (renamed to changes.log.1) past this size. */
#define TRUST_JOURNAL_MAX (1024 * 1024)

/* What the files looked like when a snapshot was loaded. */
struct trust_key {
	int64_t dir_mtime_ns;
	ino_t dir_ino;
	ino_t journal_ino;
	off_t journal_size;
};

struct trust_entry {
	char *alias;
	json_t *meta;		/* the record as stored */
	STACK_OF(X509) *certs;	/* in record order */
	int pinned;
};

struct hkms_trust_snap {
	int refs;		/* atomic */
	struct trust_entry *v;	/* sorted by alias */
	size_t n;
	STACK_OF(X509) *all;	/* every certificate: the anchors */
	STACK_OF(X509) *pinned;	/* certificates of pinned entries */
	int pinned_non_root;	/* some pinned certificate is not self-signed */
};

struct hkms_trust {
	struct hkms_store *st;
	char *dir;		/* <data>/trust */
	char *journal;		/* <data>/trust/changes.log */
	pthread_mutex_t mu;	/* guards everything below */
	struct hkms_trust_snap *cur;
	struct trust_key key;	/* of cur */
	int ino_fd;		/* inotify on dir, -1 if unavailable */
	int64_t checked_ms;	/* last stat() check */
};

int64_t trust_now_ms(void);

/** Read the freshness key of the truststore files. */
enum hkms_rc trust_key_read(const struct hkms_trust *tr, struct trust_key *k,
    struct hkms_err *err);

/** Append one change to the journal. The caller holds the data lock.
 *  thumbs (borrowed, may be NULL): an array of thumbprint strings. */
enum hkms_rc trust_journal_append(struct hkms_trust *tr, const char *event,
    const char *alias, json_t *thumbs, struct hkms_err *err);

/** The entry of alias in s, or NULL. */
const struct trust_entry *trust_snap_entry(const struct hkms_trust_snap *s,
    const char *alias);

/** Record (under the data lock) what a pinned entry's peer presented:
 *  thumbprint NULL = the pinned certificate again (clears the mark). */
enum hkms_rc trust_pin_observe(struct hkms_trust *tr, const char *alias,
    const char *thumbprint, const char *subject, struct hkms_err *err);

#endif
