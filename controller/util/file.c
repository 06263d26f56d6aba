/*
 * file.c — bounded whole-file reads and path joining. See file.h.
 */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/str.h"

int ss_file_read(ss_buf *out, const char *path, size_t max_bytes)
{
	char chunk[4096];
	size_t start = out->len;
	size_t n;
	int error = 0;
	FILE *f = fopen(path, "rb");

	if (!f)
		return ss_error_set(errno == ENOENT ? SS_ENOTFOUND : SS_ERROR,
				    "cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len - start + n > max_bytes) {
			error = ss_error_set(SS_ETOOLARGE, "%s is larger than %zu bytes",
					     path, max_bytes);
			goto done;
		}
		error = ss_buf_put(out, chunk, n);
		if (error < 0)
			goto done;
	}
	if (ferror(f))
		error = ss_error_set(SS_ERROR, "cannot read %s", path);
done:
	fclose(f);
	return error;
}

char *ss_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return ss_strdup(".");
	if (slash == path)
		return ss_strdup("/");
	return ss_strndup(path, (size_t)(slash - path));
}

char *ss_path_join(const char *dir, const char *rel)
{
	ss_buf b = SS_BUF_INIT(8192);

	if (!rel || rel[0] == '/' || rel[0] == '\0' || !dir)
		return ss_strdup(rel);
	if (ss_buf_printf(&b, "%s/%s", dir, rel) < 0)
		return NULL;
	return ss_buf_detach(&b);
}
