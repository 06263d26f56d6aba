/*
 * conditions.c — metav1.Condition handling. See conditions.h.
 *
 * A set builds the new entry beside the old one and swaps it in with one
 * json_array_set(), so a failure half-way (out of memory) leaves the object
 * exactly as it was: callers may retry or write what they had.
 */
#include "ctrl/conditions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/object.h"
#include "util/error.h"
#include "util/str.h"

static const char replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

const char *ctrl_condition_status_name(ctrl_condition_status status)
{
	switch (status) {
	case CTRL_CONDITION_TRUE: return "True";
	case CTRL_CONDITION_FALSE: return "False";
	case CTRL_CONDITION_UNKNOWN: return "Unknown";
	default: return NULL;
	}
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* A DNS-1123 subdomain: dot-separated labels of [a-z0-9-], each starting
 * and ending alphanumeric. */
static bool is_dns_subdomain(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || !is_lower_alnum(s[i - 1]))
				return false;
			label = 0;
			continue;
		}
		if (!is_lower_alnum(c) && !(c == '-' && label > 0))
			return false;
		label++;
	}
	return label > 0 && is_lower_alnum(s[len - 1]);
}

int ctrl_condition_validate_type(const char *type)
{
	const char *slash, *name;
	size_t len, i, n;

	if (!type || !*type)
		return ss_error_set(SS_EINVALID, "a condition needs a type");
	len = strlen(type);
	slash = strchr(type, '/');
	name = slash ? slash + 1 : type;
	n = strlen(name);
	if (len > CTRL_CONDITION_TYPE_MAX)
		goto bad;
	if (slash && !is_dns_subdomain(type, (size_t)(slash - type)))
		goto bad;
	if (n == 0 || !is_alnum(name[0]) || !is_alnum(name[n - 1]))
		goto bad;
	for (i = 0; i < n; i++)
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' &&
		    name[i] != '.')
			goto bad;
	return 0;
bad:
	return ss_error_set(SS_EINVALID,
			    "condition type '%.64s' is not a qualified name "
			    "([prefix/]Name, at most %d bytes)",
			    type, CTRL_CONDITION_TYPE_MAX);
}

int ctrl_condition_validate_reason(const char *reason)
{
	size_t len, i;

	if (!reason || !*reason)
		return ss_error_set(SS_EINVALID, "a condition needs a reason");
	len = strlen(reason);
	if (len > CTRL_CONDITION_REASON_MAX || !is_alpha(reason[0]))
		goto bad;
	for (i = 1; i < len; i++) {
		char c = reason[i];
		bool last = i == len - 1;

		if (is_alnum(c) || c == '_')
			continue;
		if ((c == ',' || c == ':') && !last)
			continue;
		goto bad;
	}
	return 0;
bad:
	return ss_error_set(
		SS_EINVALID,
		"condition reason '%.64s' is not CamelCase "
		"(^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$, at most %d bytes)",
		reason, CTRL_CONDITION_REASON_MAX);
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return c == 0 ? 0 : 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	/* The second byte's range is what rules out overlongs and surrogates. */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* The message as a JSON string: invalid bytes become U+FFFD and the text
 * is cut before the character that would pass the limit. */
static json_t *message_string(const char *message)
{
	const unsigned char *s = (const unsigned char *)(message ? message : "");
	size_t len = strlen((const char *)s), cap, i = 0, n = 0;
	char *text;
	json_t *str;

	if (len <= CTRL_CONDITION_MESSAGE_MAX) {
		str = json_stringn((const char *)s, len);
		if (str)
			return str; /* valid already: the common case */
	}
	cap = len > CTRL_CONDITION_MESSAGE_MAX / 3 ? CTRL_CONDITION_MESSAGE_MAX : len * 3;
	text = malloc(cap + 1);
	if (!text)
		return NULL;
	while (i < len) {
		size_t seq = utf8_sequence(s + i, len - i);
		const char *from = seq ? (const char *)s + i : replacement_char;
		size_t take = seq ? seq : sizeof(replacement_char) - 1;

		if (n + take > cap)
			break;
		memcpy(text + n, from, take);
		n += take;
		i += seq ? seq : 1;
	}
	text[n] = '\0';
	str = json_stringn_nocheck(text, n);
	free(text);
	return str;
}

/* Names obj in a message: its key, or a placeholder when it has no name. */
static int object_error(const json_t *obj, const char *what, const char *detail)
{
	char key[CTRL_KEY_MAX];

	if (ctrl_key_of(key, sizeof(key), obj) != 0)
		snprintf(key, sizeof(key), "(unnamed object)");
	return ss_error_set(SS_EINVALID, "%s on %s: %s", what, key, detail);
}

/* status.conditions for reading: the array, or NULL when absent or not an
 * array. json_object_get() is NULL-safe and type-safe, so this never
 * touches a value of the wrong type. */
static json_t *conditions_of(const json_t *obj)
{
	json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");

	return json_is_array(conds) ? conds : NULL;
}

/* status.conditions for writing: *out is the array, or NULL when status or
 * conditions are absent (or JSON null); SS_EINVALID when malformed. */
static int writable_conditions(json_t **out, json_t *obj, const char *what)
{
	json_t *status, *conds;

	if (!json_is_object(obj))
		return ss_error_set(SS_EINVALID, "%s: the object is not a JSON object",
				    what);
	status = json_object_get(obj, "status");
	if (status && !json_is_null(status) && !json_is_object(status))
		return object_error(obj, what, "status is not an object");
	conds = json_object_get(status, "conditions");
	if (conds && !json_is_null(conds) && !json_is_array(conds))
		return object_error(obj, what, "status.conditions is not an array");
	*out = json_is_array(conds) ? conds : NULL;
	return 0;
}

static const char *type_of(const json_t *entry)
{
	return json_string_value(json_object_get(entry, "type"));
}

static long find_index(const json_t *conds, const char *type)
{
	size_t i;
	json_t *entry;

	if (!type)
		return -1;
	json_array_foreach(conds, i, entry)
	{
		if (json_is_object(entry) && ss_streq(type_of(entry), type))
			return (long)i;
	}
	return -1;
}

/* Sets entry[key] = value (stolen) unless equal; notes a change. */
static int put_field(json_t *entry, const char *key, json_t *value, bool *changed)
{
	if (!value)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (json_equal(json_object_get(entry, key), value)) {
		json_decref(value);
		return 0;
	}
	if (json_object_set_new(entry, key, value) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	*changed = true;
	return 0;
}

static bool has_valid_time(const json_t *entry)
{
	const char *text =
		json_string_value(json_object_get(entry, "lastTransitionTime"));
	int64_t ns;

	return text && ss_time_parse(&ns, text) == 0;
}

/* Fills `entry` (a private copy) from cond; *changed says whether it now
 * differs from what it was. */
static int fill_entry(json_t *entry, const ctrl_condition *cond, int64_t generation,
		      const char *now, bool *changed)
{
	const char *status_name = ctrl_condition_status_name(cond->status);
	bool flipped = !ss_streq(json_string_value(json_object_get(entry, "status")),
				 status_name);
	int error = 0;

	if (flipped)
		error = put_field(entry, "status", json_string(status_name), changed);
	if (error == 0 && generation >= 0)
		error = put_field(entry, "observedGeneration", json_integer(generation),
				  changed);
	/* The time is when the status last flipped; repair it only when it is
	 * missing or unreadable, since the API requires one. */
	if (error == 0 && (flipped || !has_valid_time(entry)))
		error = put_field(entry, "lastTransitionTime", json_string(now), changed);
	if (error == 0)
		error = put_field(entry, "reason", json_string(cond->reason), changed);
	if (error == 0)
		error = put_field(entry, "message", message_string(cond->message),
				  changed);
	return error;
}

/* Attaches a new entry (stolen) at the end, creating the array and status
 * as needed; one final set, so a failure changes nothing. */
static int append_entry(json_t *obj, json_t *conds, json_t *entry)
{
	json_t *status = json_object_get(obj, "status");
	json_t *array = NULL, *wrapper = NULL;
	int bad;

	if (conds)
		bad = json_array_append_new(conds, entry);
	else {
		array = json_array();
		if (!array)
			json_decref(entry);
		/* append_new releases entry also when it fails. */
		bad = !array || json_array_append_new(array, entry);
		if (!bad && json_is_object(status)) {
			bad = json_object_set_new(status, "conditions", array);
			array = NULL;
		} else if (!bad) {
			wrapper = json_object();
			bad = !wrapper ||
			      json_object_set_new(wrapper, "conditions", array);
			array = NULL;
			if (!bad) {
				bad = json_object_set_new(obj, "status", wrapper);
				wrapper = NULL;
			}
		}
		json_decref(array);
		json_decref(wrapper);
	}
	return bad ? ss_error_set(SS_ENOMEM, "out of memory") : 0;
}

int ctrl_condition_set(bool *out_changed, json_t *obj, const ctrl_condition *cond,
		       const ss_clock *clock)
{
	json_t *conds = NULL, *old, *entry = NULL, *gen;
	int64_t generation = cond->observed_generation;
	char now[SS_TIME_RFC3339_MAX];
	bool changed = false;
	long at;
	int error;

	error = ctrl_condition_validate_type(cond->type);
	if (error == 0)
		error = ctrl_condition_validate_reason(cond->reason);
	if (error == 0 && !ctrl_condition_status_name(cond->status))
		error = ss_error_set(
			SS_EINVALID,
			"condition %s: status %d is not True, False or Unknown",
			cond->type, (int)cond->status);
	if (error == 0)
		error = writable_conditions(&conds, obj, "set condition");
	if (error != 0)
		return error;

	if (generation < 0) {
		gen = json_object_get(json_object_get(obj, "metadata"), "generation");
		if (json_is_integer(gen))
			generation = json_integer_value(gen);
	}
	ss_time_format(now, sizeof(now), ss_clock_real(clock));
	at = find_index(conds, cond->type);
	old = at >= 0 ? json_array_get(conds, (size_t)at) : NULL;
	entry = old ? json_deep_copy(old) : json_pack("{s:s}", "type", cond->type);
	if (!entry) {
		error = ss_error_set(SS_ENOMEM, "out of memory");
		goto done;
	}
	changed = old == NULL;
	error = fill_entry(entry, cond, generation, now, &changed);
	if (error != 0 || !changed)
		goto done;
	if (old)
		error = json_array_set_new(conds, (size_t)at, entry) != 0
				? ss_error_set(SS_ENOMEM, "out of memory")
				: 0;
	else
		error = append_entry(obj, conds, entry);
	entry = NULL; /* the *_new calls took it, also on failure */
done:
	json_decref(entry);
	if (error == 0 && out_changed)
		*out_changed = changed;
	return error;
}

int ctrl_condition_remove(bool *out_removed, json_t *obj, const char *type)
{
	json_t *conds = NULL, *entry;
	bool removed = false;
	size_t i = 0;
	int error;

	if (!type || !*type)
		return ss_error_set(SS_EINVALID, "remove condition: a type is required");
	error = writable_conditions(&conds, obj, "remove condition");
	if (error != 0)
		return error;
	while (i < json_array_size(conds)) {
		entry = json_array_get(conds, i);
		if (json_is_object(entry) && ss_streq(type_of(entry), type)) {
			json_array_remove(conds, i);
			removed = true;
		} else {
			i++;
		}
	}
	if (out_removed)
		*out_removed = removed;
	return 0;
}

const json_t *ctrl_condition_find(const json_t *obj, const char *type)
{
	const json_t *conds = conditions_of(obj);
	long at = find_index(conds, type);

	return at >= 0 ? json_array_get(conds, (size_t)at) : NULL;
}

static const char *field_of(const json_t *obj, const char *type, const char *key)
{
	return json_string_value(json_object_get(ctrl_condition_find(obj, type), key));
}

const char *ctrl_condition_get_status(const json_t *obj, const char *type)
{
	return field_of(obj, type, "status");
}

const char *ctrl_condition_get_reason(const json_t *obj, const char *type)
{
	return field_of(obj, type, "reason");
}

const char *ctrl_condition_get_message(const json_t *obj, const char *type)
{
	return field_of(obj, type, "message");
}

bool ctrl_condition_is_true(const json_t *obj, const char *type)
{
	return ss_streq(ctrl_condition_get_status(obj, type), "True");
}

bool ctrl_condition_is_false(const json_t *obj, const char *type)
{
	return ss_streq(ctrl_condition_get_status(obj, type), "False");
}
