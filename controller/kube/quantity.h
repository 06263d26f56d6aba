/*
 * quantity.h — Kubernetes resource quantities ("10Gi", "1.5G", "500M",
 * "1e9", 1073741824) as whole bytes, for storage sizes: a snapshot's
 * restoreSize, a claim's requested size.
 *
 * The grammar is resource.Quantity's: a signed decimal number with an
 * optional binary suffix (Ki Mi Gi Ti Pi Ei), decimal suffix (n u m k M G T
 * P E) or exponent (e3, E-2). Sizes are rounded *up* to whole bytes, since
 * a volume smaller than asked for is never acceptable: the result is the
 * exact ceiling, except that past 36 significant digits the rest only
 * rounds up (the result may then be one byte more, never less). Negative
 * values and values above INT64_MAX bytes are rejected; any size up to
 * INT64_MAX is accepted, with however many digits ("1.000000000000Gi").
 *
 * Pure functions. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_KUBE_QUANTITY_H
#define SNAPSTAGE_KUBE_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define KUBE_QUANTITY_MAX 32 /* formatted text, with the terminator */

/* Parses `text` into bytes: 0, or SS_EINVALID (malformed, negative) or
 * SS_ETOOLARGE (over INT64_MAX bytes), with a message quoting the text. */
int kube_quantity_parse(int64_t *out, const char *text);

/* The same for a JSON value that may be an integer or a string (the
 * int-or-string fields of the API). */
int kube_quantity_from_json(int64_t *out, const json_t *value);

/* Formats bytes the way people write sizes: the largest binary suffix that
 * divides exactly ("10Gi", "1536Mi"), else plain bytes. Returns buf, which
 * must hold KUBE_QUANTITY_MAX bytes. */
char *kube_quantity_format(char *buf, size_t cap, int64_t bytes);

#endif
