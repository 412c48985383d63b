/* SPDX-License-Identifier: MIT */
/*
 * schema.c - types and schemas: ordered (name, type) lists with unique,
 * non-empty names, as eau2's Schema but checked on every change.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df.h"

const char *eau2_type_name(enum eau2_type type)
{
	switch (type) {
	case EAU2_BOOL: return "bool";
	case EAU2_INT: return "int";
	case EAU2_DOUBLE: return "double";
	case EAU2_STRING: return "string";
	}
	return "?";
}

int eau2_type_parse(const char *name, enum eau2_type *type)
{
	static const struct { const char *name; enum eau2_type type; } names[] = {
		{ "bool", EAU2_BOOL }, { "int", EAU2_INT }, { "int64", EAU2_INT },
		{ "double", EAU2_DOUBLE }, { "float", EAU2_DOUBLE },
		{ "string", EAU2_STRING }, { "str", EAU2_STRING },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(name, names[i].name)) {
			*type = names[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

int eau2_schema_new(eau2_schema **schema, struct eau2_error *err)
{
	*schema = calloc(1, sizeof(**schema));
	return *schema ? 0 : eau2_error_set(err, -ENOMEM, "out of memory");
}

int eau2_schema_check_name(const char *name, struct eau2_error *err)
{
	size_t len;

	if (!name || !*name)
		return eau2_error_set(err, -EINVAL, "column name is empty");
	len = strlen(name);
	if (len > EAU2_NAME_MAX)
		return eau2_error_set(err, -EINVAL,
				      "column name '%.40s...' is %zu bytes long (at most %d)",
				      name, len, EAU2_NAME_MAX);
	return 0;
}

int eau2_schema_add(eau2_schema *s, const char *name, enum eau2_type type,
		    struct eau2_error *err)
{
	int rc = eau2_schema_check_name(name, err);

	if (rc)
		return rc;
	if (type < EAU2_BOOL || type > EAU2_STRING)
		return eau2_error_set(err, -EINVAL, "column '%s': invalid type %d",
				      name, (int)type);
	if (eau2_schema_find(s, name) >= 0)
		return eau2_error_set(err, -EINVAL, "duplicate column name '%s'", name);
	if (s->n >= EAU2_COLS_MAX)
		return eau2_error_set(err, -EINVAL, "column '%s': more than %d columns",
				      name, EAU2_COLS_MAX);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		char **names = realloc(s->names, cap * sizeof(*names));
		enum eau2_type *types;

		if (!names)
			return eau2_error_set(err, -ENOMEM, "out of memory");
		s->names = names;
		types = realloc(s->types, cap * sizeof(*types));
		if (!types)
			return eau2_error_set(err, -ENOMEM, "out of memory");
		s->types = types;
		s->cap = cap;
	}
	if (!(s->names[s->n] = strdup(name)))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	s->types[s->n++] = type;
	return 0;
}

int eau2_schema_parse(const char *spec, eau2_schema **out, struct eau2_error *err)
{
	char *copy = strdup(spec ? spec : ""), *item, *save = NULL;
	eau2_schema *s = NULL;
	int rc;

	*out = NULL;
	if (!copy)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	rc = eau2_schema_new(&s, err);
	for (item = strtok_r(copy, ",", &save); !rc && item;
	     item = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(item, ':');
		enum eau2_type type;

		if (!colon) {
			rc = eau2_error_set(err, -EINVAL,
					    "schema: '%s' is not NAME:TYPE", item);
			break;
		}
		*colon = 0;
		if (eau2_type_parse(colon + 1, &type)) {
			rc = eau2_error_set(err, -EINVAL,
					    "schema: column '%s': unknown type '%s' (bool, int, double, string)",
					    item, colon + 1);
			break;
		}
		rc = eau2_schema_add(s, item, type, err);
	}
	if (!rc && s->n == 0)
		rc = eau2_error_set(err, -EINVAL, "schema '%s' has no columns", spec ? spec : "");
	free(copy);
	if (rc) {
		eau2_schema_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int eau2_schema_copy(const eau2_schema *src, eau2_schema **dst,
		     struct eau2_error *err)
{
	size_t i;
	int rc = eau2_schema_new(dst, err);

	for (i = 0; !rc && i < src->n; i++)
		rc = eau2_schema_add(*dst, src->names[i], src->types[i], err);
	if (rc) {
		eau2_schema_free(*dst);
		*dst = NULL;
	}
	return rc;
}

size_t eau2_schema_ncols(const eau2_schema *s)
{
	return s->n;
}

const char *eau2_schema_name(const eau2_schema *s, size_t col)
{
	return col < s->n ? s->names[col] : NULL;
}

enum eau2_type eau2_schema_type(const eau2_schema *s, size_t col)
{
	return col < s->n ? s->types[col] : (enum eau2_type)0;
}

int eau2_schema_find(const eau2_schema *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return (int)i;
	return -ENOENT;
}

void eau2_schema_free(eau2_schema *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->types);
	free(s);
}
