/*
 * mariadb_fixture.c — see mariadb_fixture.h.
 */
#include "mariadb_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static int read_line(char *out, size_t cap, const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(out, (int)cap, f)) {
		print_error("cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int mariadb_fixture_load(mariadb_fixture *sv)
{
	const char *dir = getenv("SNAPSTAGE_MARIADB_DIR");
	char path[MARIADB_FIXTURE_VALUE_MAX + 8], line[1024],
		root_pw[MARIADB_FIXTURE_VALUE_MAX] = "",
		weak_pw[MARIADB_FIXTURE_VALUE_MAX] = "",
		backup_pw[MARIADB_FIXTURE_VALUE_MAX] = "";
	FILE *f;

	if (!dir || !*dir) {
		print_error("SNAPSTAGE_MARIADB_DIR is not set: run through ctest "
			    "(fixture mariadb)\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/env", dir);
	if (!(f = fopen(path, "r"))) {
		print_error("cannot read %s: are the servers up?\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *eq;

		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(p, "export ", 7))
			p += 7;
		if (!(eq = strchr(p, '=')))
			continue;
		*eq++ = '\0';
		if (!strcmp(p, "SNAPSTAGE_MARIADB_PRIMARY_HOST"))
			snprintf(sv->host, sizeof(sv->host), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_PRIMARY_PORT"))
			sv->port = (int)strtol(eq, NULL, 10);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_WEAK_USER"))
			snprintf(sv->weak_user, sizeof(sv->weak_user), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_BACKUP_USER"))
			snprintf(sv->backup_user, sizeof(sv->backup_user), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_BACKUP_PASSWORD_FILE"))
			snprintf(backup_pw, sizeof(backup_pw), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_REPLICA_HOST"))
			snprintf(sv->replica_host, sizeof(sv->replica_host), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_REPLICA_PORT"))
			sv->replica_port = (int)strtol(eq, NULL, 10);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_ROOT_PASSWORD_FILE"))
			snprintf(root_pw, sizeof(root_pw), "%s", eq);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_WEAK_PASSWORD_FILE"))
			snprintf(weak_pw, sizeof(weak_pw), "%s", eq);
	}
	fclose(f);
	if (!*sv->host || !sv->port || !*root_pw || !*weak_pw || !*sv->weak_user ||
	    !*backup_pw || !*sv->backup_user || !*sv->replica_host || !sv->replica_port) {
		print_error("%s lacks a variable this test needs\n", path);
		return -1;
	}
	return read_line(sv->root_password, sizeof(sv->root_password), root_pw) ||
			       read_line(sv->weak_password, sizeof(sv->weak_password),
					 weak_pw) ||
			       read_line(sv->backup_password, sizeof(sv->backup_password),
					 backup_pw)
		       ? -1
		       : 0;
}

MYSQL *mariadb_fixture_root(const mariadb_fixture *sv, bool local_only)
{
	MYSQL *m = mysql_init(NULL);
	unsigned int t = 30, tcp = MYSQL_PROTOCOL_TCP;

	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
	if (!mysql_real_connect(m, sv->host, "root", sv->root_password, NULL,
				(unsigned int)sv->port, NULL, 0)) {
		print_error("root connect: %s\n", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	if (local_only && mysql_query(m, "SET SESSION sql_log_bin = 0") != 0) {
		print_error("sql_log_bin: %s\n", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

void mariadb_fixture_sql(MYSQL *m, const char *fmt, ...)
{
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (mysql_query(m, text) != 0) {
		print_error("%s: %s\n", text, mysql_error(m));
		fail();
	}
	mysql_free_result(mysql_store_result(m));
}

const char *mariadb_fixture_value(MYSQL *m, const char *fmt, ...)
{
	static char out[4096];
	char text[4096];
	MYSQL_RES *res;
	MYSQL_ROW row;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (mysql_query(m, text) != 0 || !(res = mysql_store_result(m))) {
		print_error("%s: %s\n", text, mysql_error(m));
		fail();
		return "";
	}
	row = mysql_fetch_row(res);
	snprintf(out, sizeof(out), "%s", row && row[0] ? row[0] : "");
	mysql_free_result(res);
	return out;
}

void mariadb_fixture_purge_to(MYSQL *m, const char *file)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char oldest[256] = "";

	for (int i = 0; i < 100; i++) {
		mariadb_fixture_sql(m, "PURGE BINARY LOGS TO '%s'", file);
		/* SHOW BINARY LOGS lists the oldest file first */
		snprintf(oldest, sizeof(oldest), "%s", mariadb_fixture_value(m, "SHOW BINARY LOGS"));
		if (strcmp(oldest, file) == 0)
			return;
		nanosleep(&pause, NULL);
	}
	print_error("PURGE BINARY LOGS TO '%s': the oldest file is still %s after 10 s\n",
		    file, oldest);
	fail();
}
