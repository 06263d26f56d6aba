/*
 * testutil.c — see testutil.h.
 */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

static char dir_path[512];
static char file_path[1024];

const char *tu_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir_path, sizeof(dir_path), "%s/snapstage-test-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir_path));
	return dir_path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmtree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_write(const char *dir, const char *name, const char *text)
{
	FILE *f;

	snprintf(file_path, sizeof(file_path), "%s/%s", dir, name);
	f = fopen(file_path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return file_path;
}

void tu_assert_error_at(int code, const char *fragment, const char *file, int line)
{
	const ss_error *e = ss_error_last();

	if (e->code != code || !strstr(e->message, fragment)) {
		print_error("%s:%d: expected error %d (%s) containing '%s', got %d (%s): "
			    "%s\n",
			    file, line, code, ss_error_code_name(code), fragment, e->code,
			    ss_error_code_name(e->code), e->message);
		fail();
	}
}

json_t *tu_json(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return v;
}

void tu_json_set(json_t *root, const char *path, json_t *value)
{
	char buf[256], *seg, *next;
	json_t *cur = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (seg = buf; seg != NULL; seg = next) {
		char *bracket;
		long index = -1;
		json_t *child;

		next = strchr(seg, '.');
		if (next != NULL)
			*next++ = '\0';
		bracket = strchr(seg, '[');
		if (bracket != NULL) {
			*bracket = '\0';
			index = strtol(bracket + 1, NULL, 10);
		}
		if (index < 0 && next == NULL) {
			if (value == NULL)
				json_object_del(cur, seg);
			else
				json_object_set_new(cur, seg, value);
			return;
		}
		child = json_object_get(cur, seg);
		if (child == NULL) {
			child = index >= 0 ? json_array() : json_object();
			json_object_set_new(cur, seg, child);
		}
		if (index >= 0) {
			while (json_array_size(child) <= (size_t)index)
				json_array_append_new(child, json_object());
			if (next == NULL) {
				if (value == NULL)
					json_array_remove(child, (size_t)index);
				else
					json_array_set_new(child, (size_t)index, value);
				return;
			}
			child = json_array_get(child, (size_t)index);
		}
		cur = child;
	}
}
