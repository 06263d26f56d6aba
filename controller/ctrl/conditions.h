/*
 * conditions.h — metav1.Condition entries in an object's status.conditions,
 * as pure functions over jansson values.
 *
 * A controller states what it observed as conditions ("Ready", "Locked", …),
 * each with a status True/False/Unknown, a CamelCase reason, a message and
 * the generation it was computed from. The rules follow Kubernetes'
 * apimachinery meta.SetStatusCondition:
 *   - lastTransitionTime moves only when the status value changes; a new
 *     reason or message keeps the old time, so "since when has it been
 *     False" stays true;
 *   - observedGeneration is written on every set;
 *   - existing entries are updated in place and new ones appended, so the
 *     array's order is stable and a rewrite of equal content is no change.
 * Setting reports whether anything changed, so callers skip needless writes.
 *
 * Reasons are validated against the API's pattern
 * ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ (at most 1024 bytes) and types
 * against its qualified-name rule, so a bad value fails here with a clear
 * message rather than as a 422 from the server. Messages longer than
 * CTRL_CONDITION_MESSAGE_MAX bytes are cut at a character boundary, and
 * invalid UTF-8 (an error text cut mid-character) becomes U+FFFD.
 *
 * Readers never fail: malformed input (status or conditions of the wrong
 * type, entries that are not objects or have no type) reads as "no such
 * condition". Writers refuse it with SS_EINVALID instead of discarding data;
 * a JSON null status or conditions counts as absent.
 *
 * Ownership: functions that modify take a `json_t *obj` the caller owns and
 * that no one else reads concurrently (json_deep_copy() an object from a
 * shared cache first). Returned `const json_t *` and `const char *` point
 * into `obj` and are borrowed until it changes. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_CTRL_CONDITIONS_H
#define SNAPSTAGE_CTRL_CONDITIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/clock.h"

#define CTRL_CONDITION_TYPE_MAX 316
#define CTRL_CONDITION_REASON_MAX 1024
#define CTRL_CONDITION_MESSAGE_MAX 32768

typedef enum {
	CTRL_CONDITION_TRUE,
	CTRL_CONDITION_FALSE,
	CTRL_CONDITION_UNKNOWN,
} ctrl_condition_status;

typedef struct {
	const char *type; /* "Ready" */
	ctrl_condition_status status;
	const char *reason;  /* "SnapshotTaken"; required */
	const char *message; /* human-readable; NULL means "" */
	/* The generation the condition describes; negative: the object's own
	 * metadata.generation (left out when the object has none). */
	int64_t observed_generation;
} ctrl_condition;

/* "True", "False" or "Unknown". */
const char *ctrl_condition_status_name(ctrl_condition_status status);

/* Sets the condition of `cond->type` in obj's status.conditions, creating
 * status and the array when missing. The wall-clock time of `clock` becomes
 * lastTransitionTime when the entry is new or its status changes.
 * *out_changed (may be NULL) tells whether obj was modified. Returns 0, or
 * SS_EINVALID (bad type or reason; obj malformed) and then leaves obj as it
 * was, or SS_ENOMEM. */
int ctrl_condition_set(bool *out_changed, json_t *obj, const ctrl_condition *cond,
		       const ss_clock *clock);

/* Removes every entry of `type` (0, with *out_removed telling whether there
 * was one; may be NULL), or SS_EINVALID when status.conditions is malformed. */
int ctrl_condition_remove(bool *out_removed, json_t *obj, const char *type);

/* The first entry of `type`, or NULL when absent or obj is malformed. */
const json_t *ctrl_condition_find(const json_t *obj, const char *type);

/* The entry's status ("True"/"False"/"Unknown" as stored), reason and
 * message, or NULL when there is no such condition or field. */
const char *ctrl_condition_get_status(const json_t *obj, const char *type);
const char *ctrl_condition_get_reason(const json_t *obj, const char *type);
const char *ctrl_condition_get_message(const json_t *obj, const char *type);

/* Whether the condition exists with status exactly "True" / "False"; an
 * absent or Unknown condition is neither. */
bool ctrl_condition_is_true(const json_t *obj, const char *type);
bool ctrl_condition_is_false(const json_t *obj, const char *type);

/* Validation as the API server does it: 0, or SS_EINVALID naming the value. */
int ctrl_condition_validate_type(const char *type);
int ctrl_condition_validate_reason(const char *reason);

#endif
