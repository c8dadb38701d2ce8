/* SPDX-License-Identifier: MIT */
/*
 * The libcyaml schema of the policy, and the shape
 * check that runs the same schema over the positioned tree first.
 *
 * Every scalar is a string: numbers, booleans and names are parsed by
 * build.c with exact positions (libcyaml's integer and boolean parsing is
 * lax: its integers wrap; its bool takes any unknown word as true). The shape
 * check walks this very schema, so what it accepts is exactly what
 * libcyaml loads.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest scalar of any kind. Long enough for any URL, short enough that a
 * message quoting one stays readable. */
#define CFG_SCALAR_MAX 4096

#define STR(key, flags, type, member)                                                              \
	CYAML_FIELD_STRING_PTR(key, flags, type, member, 0, CFG_SCALAR_MAX)

static const cyaml_schema_value_t string_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CFG_SCALAR_MAX),
};

static const cyaml_schema_field_t register_fields[] = {
	STR("name", CYAML_FLAG_OPTIONAL, struct cfg_raw_register, name),
	STR("offset", CYAML_FLAG_DEFAULT, struct cfg_raw_register, offset),
	STR("count", CYAML_FLAG_OPTIONAL, struct cfg_raw_register, count),
	STR("stride", CYAML_FLAG_OPTIONAL, struct cfg_raw_register, stride),
	CYAML_FIELD_SEQUENCE("widths", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_register, widths, &string_entry, 0, 8),
	STR("access", CYAML_FLAG_DEFAULT, struct cfg_raw_register, access),
	STR("write_mask", CYAML_FLAG_OPTIONAL, struct cfg_raw_register, write_mask),
	STR("write_fixed", CYAML_FLAG_OPTIONAL, struct cfg_raw_register, write_fixed),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t register_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cfg_raw_register, register_fields),
};

static const cyaml_schema_field_t grant_fields[] = {
	STR("region", CYAML_FLAG_DEFAULT, struct cfg_raw_grant, region),
	STR("offset", CYAML_FLAG_OPTIONAL, struct cfg_raw_grant, offset),
	STR("size", CYAML_FLAG_OPTIONAL, struct cfg_raw_grant, size),
	STR("access", CYAML_FLAG_DEFAULT, struct cfg_raw_grant, access),
	CYAML_FIELD_SEQUENCE("ops", CYAML_FLAG_POINTER, struct cfg_raw_grant, ops, &string_entry, 0,
			     8),
	CYAML_FIELD_SEQUENCE("widths", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_grant, widths, &string_entry, 0, 8),
	STR("exclusive", CYAML_FLAG_OPTIONAL, struct cfg_raw_grant, exclusive),
	CYAML_FIELD_SEQUENCE("registers", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_grant, registers, &register_entry, 0,
			     CFG_MAX_REGISTERS),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t grant_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cfg_raw_grant, grant_fields),
};

static const cyaml_schema_field_t client_fields[] = {
	STR("name", CYAML_FLAG_DEFAULT, struct cfg_raw_client, name),
	STR("uid", CYAML_FLAG_OPTIONAL, struct cfg_raw_client, uid),
	STR("gid", CYAML_FLAG_OPTIONAL, struct cfg_raw_client, gid),
	STR("user", CYAML_FLAG_OPTIONAL, struct cfg_raw_client, user),
	STR("group", CYAML_FLAG_OPTIONAL, struct cfg_raw_client, group),
	CYAML_FIELD_SEQUENCE("grants", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_client, grants, &grant_entry, 0, CFG_MAX_GRANTS),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t client_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cfg_raw_client, client_fields),
};

static const cyaml_schema_field_t region_fields[] = {
	STR("name", CYAML_FLAG_DEFAULT, struct cfg_raw_region, name),
	STR("pci", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, pci),
	STR("pci_id", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, pci_id),
	STR("pci_index", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, pci_index),
	STR("phys", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, phys),
	STR("sim", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, sim),
	STR("bar", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, bar),
	STR("offset", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, offset),
	STR("size", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, size),
	STR("cache", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, cache),
	STR("sensitive", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, sensitive),
	STR("irq", CYAML_FLAG_OPTIONAL, struct cfg_raw_region, irq),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t region_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct cfg_raw_region, region_fields),
};

static const cyaml_schema_field_t limits_fields[] = {
	STR("max_sessions", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_sessions),
	STR("max_handles", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_handles),
	STR("max_poll_us", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_poll_us),
	STR("max_requests", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_requests),
	STR("max_buffers", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_buffers),
	STR("max_buffer_bytes", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_buffer_bytes),
	STR("max_sessions_per_uid", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits,
	    max_sessions_per_uid),
	STR("ungranted_sessions", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, ungranted_sessions),
	STR("max_requests_per_uid", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits,
	    max_requests_per_uid),
	STR("max_requests_total", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_requests_total),
	STR("ungranted_requests", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, ungranted_requests),
	STR("max_polls_per_uid", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_polls_per_uid),
	STR("max_polls_total", CYAML_FLAG_OPTIONAL, struct cfg_raw_limits, max_polls_total),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t server_fields[] = {
	STR("listen", CYAML_FLAG_OPTIONAL, struct cfg_raw_server, listen),
	STR("socket_mode", CYAML_FLAG_OPTIONAL, struct cfg_raw_server, socket_mode),
	STR("socket_group", CYAML_FLAG_OPTIONAL, struct cfg_raw_server, socket_group),
	STR("max_message", CYAML_FLAG_OPTIONAL, struct cfg_raw_server, max_message),
	STR("windows", CYAML_FLAG_OPTIONAL, struct cfg_raw_server, windows),
	CYAML_FIELD_MAPPING_PTR("limits", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
				struct cfg_raw_server, limits, limits_fields),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
	STR("version", CYAML_FLAG_DEFAULT, struct cfg_raw_policy, version),
	CYAML_FIELD_MAPPING_PTR("server", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
				struct cfg_raw_policy, server, server_fields),
	CYAML_FIELD_SEQUENCE("regions", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_policy, regions, &region_entry, 0, CFG_MAX_REGIONS),
	CYAML_FIELD_SEQUENCE("clients", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct cfg_raw_policy, clients, &client_entry, 0, CFG_MAX_CLIENTS),
	CYAML_FIELD_END,
};

const cyaml_schema_value_t cfg_schema_top = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct cfg_raw_policy, top_fields),
};

/* ------------------------------------------------------------------------
 * The shape check.
 * ------------------------------------------------------------------------ */

/* What an entry of the list under @key is called in messages. */
static const char *entry_noun(const char *key)
{
	static const struct {
		const char *key;
		const char *noun;
	} nouns[] = {
		{ "regions", "region" }, { "clients", "client" },      { "grants", "grant" },
		{ "ops", "ops entry" },	 { "widths", "widths entry" }, { "registers", "register" },
	};

	for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++)
		if (strcmp(nouns[i].key, key) == 0)
			return nouns[i].noun;
	return "entry";
}

static const char *kind_phrase(enum cfg_node_kind kind)
{
	switch (kind) {
	case CFG_NODE_SCALAR:
		return "a single value";
	case CFG_NODE_MAP:
		return "a mapping";
	case CFG_NODE_SEQ:
		return "a list";
	}
	return "?";
}

static bool check_value(const cyaml_schema_value_t *schema, const struct cfg_node *n,
			const char *what, struct cfg_sink *sink);

/* The schema and its checker disagree: a bug in this file, not bad input. */
static void schema_broken(const char *why)
{
	fprintf(stderr, "mmio config: internal error: %s\n", why);
	abort();
}

static void list_keys(const cyaml_schema_field_t *fields, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (const cyaml_schema_field_t *f = fields; f->key != NULL && o < len; f++) {
		int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", f->key);

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static bool check_mapping(const cyaml_schema_field_t *fields, const struct cfg_node *map,
			  const char *what, struct cfg_sink *sink)
{
	const struct cfg_node *seen[16] = { NULL };
	size_t nfields = 0;
	bool ok = true;

	while (fields[nfields].key != NULL)
		nfields++;
	if (nfields > sizeof(seen) / sizeof(seen[0]))
		schema_broken("a mapping has more fields than the shape check tracks");

	for (size_t i = 0; i + 1 < map->count; i += 2) {
		const struct cfg_node *key = map->kids[i];
		const struct cfg_node *value = map->kids[i + 1];
		struct cfg_quoted q;
		size_t f;

		if (key->kind != CFG_NODE_SCALAR) {
			cfg_sink_error(sink, key->line, key->column,
				       "a key in %s must be a plain name, not %s", what,
				       kind_phrase(key->kind));
			ok = false;
			continue;
		}
		for (f = 0; f < nfields; f++)
			if (strcmp(fields[f].key, key->text) == 0)
				break;
		if (f == nfields) {
			const char *name = cfg_quote_name(&q, key->text, false);
			char allowed[256];

			list_keys(fields, allowed, sizeof(allowed));
			if (name != NULL)
				cfg_sink_error(sink, key->line, key->column,
					       "unknown key '%s' in %s (allowed: %s)", name, what,
					       allowed);
			else
				cfg_sink_error(sink, key->line, key->column,
					       "unknown key in %s, not shown: not a key name "
					       "(allowed: %s)",
					       what, allowed);
			ok = false;
			continue;
		}
		if (seen[f] != NULL) {
			cfg_sink_error(sink, key->line, key->column,
				       "duplicate key '%s' in %s (first at line %u, column %u)",
				       fields[f].key, what, seen[f]->line, seen[f]->column);
			ok = false;
			continue;
		}
		seen[f] = key;
		if (!check_value(&fields[f].value, value, fields[f].key, sink))
			ok = false;
	}

	for (size_t f = 0; f < nfields; f++) {
		if (seen[f] == NULL && !(fields[f].value.flags & CYAML_FLAG_OPTIONAL)) {
			cfg_sink_error(sink, map->line, map->column,
				       "%s is missing the required key '%s'", what, fields[f].key);
			ok = false;
		}
	}
	return ok;
}

static bool check_value(const cyaml_schema_value_t *schema, const struct cfg_node *n,
			const char *what, struct cfg_sink *sink)
{
	bool ok = true;

	if (n->alias)
		return false;
	switch (schema->type) {
	case CYAML_MAPPING:
		if (n->kind != CFG_NODE_MAP) {
			cfg_sink_error(sink, n->line, n->column, "%s must be a mapping, not %s",
				       what, kind_phrase(n->kind));
			return false;
		}
		return check_mapping(schema->mapping.fields, n, what, sink);
	case CYAML_SEQUENCE:
		if (n->kind != CFG_NODE_SEQ) {
			cfg_sink_error(sink, n->line, n->column, "%s must be a list, not %s", what,
				       kind_phrase(n->kind));
			return false;
		}
		if (n->count > schema->sequence.max) {
			cfg_sink_error(sink, n->line, n->column,
				       "%s has %zu entries; at most %u are allowed", what, n->count,
				       schema->sequence.max);
			ok = false;
		}
		for (size_t i = 0; i < n->count; i++)
			if (!check_value(schema->sequence.entry, n->kids[i], entry_noun(what),
					 sink))
				ok = false;
		return ok;
	case CYAML_STRING:
		if (n->kind != CFG_NODE_SCALAR) {
			cfg_sink_error(sink, n->line, n->column,
				       "%s must be a single value, not %s", what,
				       kind_phrase(n->kind));
			return false;
		}
		if (n->len > schema->string.max) {
			cfg_sink_error(sink, n->line, n->column, "%s is longer than %u bytes", what,
				       schema->string.max);
			return false;
		}
		return true;
	default:
		break;
	}
	schema_broken("the schema uses a type the shape check does not know");
	return false;
}

bool cfg_schema_is_policy(const struct cfg_node *root, struct cfg_sink *sink)
{
	const cyaml_schema_field_t *fields = cfg_schema_top.mapping.fields;
	char allowed[256];

	if (root->kind != CFG_NODE_MAP || root->count == 0)
		return true; /* the shape check says what it is, quoting nothing */
	for (size_t i = 0; i + 1 < root->count; i += 2) {
		const struct cfg_node *key = root->kids[i];

		for (const cyaml_schema_field_t *f = fields; f->key != NULL; f++)
			if (key->kind == CFG_NODE_SCALAR && strcmp(f->key, key->text) == 0)
				return true;
	}
	list_keys(fields, allowed, sizeof(allowed));
	cfg_sink_error(sink, root->line, root->column,
		       "not a policy: none of the top-level keys is a policy key (%s); is this "
		       "the right file?",
		       allowed);
	return false;
}

bool cfg_schema_check(const struct cfg_node *root, struct cfg_sink *sink)
{
	return check_value(&cfg_schema_top, root, "the policy", sink);
}
