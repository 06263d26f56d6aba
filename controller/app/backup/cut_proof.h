/*
 * cut_proof.h — whether a snapshot was cut while the lock was held, as pure
 * functions: the cut instant a storage reports, with the resolution it
 * reports it in, and whether that instant lies provably outside the lock
 * window.
 *
 * The cut time comes from the bound VolumeSnapshotContent's
 * status.creationTime (int64 nanoseconds since the epoch, straight from the
 * CSI driver) where it can be read, else from the VolumeSnapshot's
 * status.creationTime (RFC 3339; the real snapshot controller writes whole
 * seconds). A time of resolution R stands for an instant in [t, t + R), so a
 * cut is outside the window [acquired, released] only when t + R <= acquired
 * or t > released; anything else may be inside and is not refuted. (Seeing
 * the cut reported before END already proves "not after the release" by
 * causality; this check catches a storage that reports a cut time of its
 * own that contradicts the window, e.g. a driver that snapshots late.) The
 * comparison assumes the controller's and the storage's clocks agree, as
 * they do on one machine and, within milliseconds, under NTP.
 *
 * Thread-safety: reentrant; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_CUT_PROOF_H
#define SNAPSTAGE_APP_CUT_PROOF_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
	int64_t cut_ns;	       /* the reported instant, ns since the epoch */
	int64_t resolution_ns; /* 1 for a content's nanoseconds */
	const char *source;    /* "VolumeSnapshotContent" or "VolumeSnapshot" */
} app_cut_proof_time;

/* The cut time of a snapshot from its content (may be NULL) or, when the
 * content has none, the VolumeSnapshot (may be NULL). SS_ENOTFOUND when
 * neither says; SS_EINVALID for a time that cannot be read (the message
 * names the object and field). *out is written only on success. */
int app_cut_proof_time_read(app_cut_proof_time *out, const json_t *content,
			    const json_t *vs);

/* Whether `c` lies provably outside [acquired_ns, released_ns]. */
bool app_cut_proof_outside(const app_cut_proof_time *c, int64_t acquired_ns,
			   int64_t released_ns);

#endif
