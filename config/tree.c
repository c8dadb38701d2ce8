/* SPDX-License-Identifier: MIT */
/*
 * Phase 1a: the bytes to a tree with the exact position of every node.
 *
 * libcyaml reports problems only through its log callback, stops at the
 * first one, and its position can be that of the previous scalar. This pass sees the same libyaml
 * event stream libcyaml will see, records where each node starts, and refuses what a policy never
 * needs and libcyaml might take silently: aliases and anchors (one node in two places), tags, NUL
 * bytes inside scalars (libcyaml stores C strings, so "0x10\0junk" would load as "0x10"), and a
 * second document.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct tree_builder {
	struct cfg_sink *sink;
	struct cfg_node *root;
	struct cfg_node *stack[CFG_TREE_MAX_DEPTH];
	unsigned depth; /* open containers on the stack */
	unsigned skip;	/* >0: inside a container deeper than the limit */
	size_t nodes;
	bool too_many; /* node limit reported */
	bool broken;   /* the tree does not show the document's structure */
	bool nomem;
};

static unsigned mark_line(yaml_mark_t m)
{
	return (unsigned)m.line + 1;
}

static unsigned mark_column(yaml_mark_t m)
{
	return (unsigned)m.column + 1;
}

void cfg_tree_free(struct cfg_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->count; i++)
		cfg_tree_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static struct cfg_node *node_new(struct tree_builder *b, enum cfg_node_kind kind, yaml_mark_t m)
{
	struct cfg_node *n;

	if (b->nodes == CFG_TREE_MAX_NODES) {
		if (!b->too_many)
			cfg_sink_error(b->sink, mark_line(m), mark_column(m),
				       "the policy has more than %d YAML nodes; refusing to go on",
				       CFG_TREE_MAX_NODES);
		b->too_many = true;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		b->nomem = true;
		return NULL;
	}
	b->nodes++;
	n->kind = kind;
	n->line = mark_line(m);
	n->column = mark_column(m);
	return n;
}

/* Attach @n to the open container (or make it the root). Takes @n. */
static bool node_attach(struct tree_builder *b, struct cfg_node *n)
{
	struct cfg_node *parent;

	if (b->depth == 0) {
		b->root = n;
		return true;
	}
	parent = b->stack[b->depth - 1];
	if (parent->count == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct cfg_node **kids = realloc(parent->kids, cap * sizeof(*kids));

		if (kids == NULL) {
			cfg_tree_free(n);
			b->nomem = true;
			return false;
		}
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->count++] = n;
	return true;
}

/* An anchor's name, or a placeholder if it does not look like one (the
 * file may not be a policy: cfg_quote_name()). */
static const char *quote_word(struct cfg_quoted *q, const char *s)
{
	const char *name = cfg_quote_name(q, s, true);

	return name != NULL ? name : "...";
}

/* Anchors and tags are refused wherever they appear. */
static void check_properties(struct tree_builder *b, const yaml_event_t *ev,
			     const yaml_char_t *anchor, const yaml_char_t *tag)
{
	struct cfg_quoted q;

	if (anchor != NULL)
		cfg_sink_error(b->sink, mark_line(ev->start_mark), mark_column(ev->start_mark),
			       "YAML anchors are not allowed (&%s): write each value out",
			       quote_word(&q, (const char *)anchor));
	/* A tag is never quoted: libyaml expands it to a URI of the file's
	 * choosing, not a word of the policy. */
	if (tag != NULL)
		cfg_sink_error(b->sink, mark_line(ev->start_mark), mark_column(ev->start_mark),
			       "YAML tags are not allowed: write plain values");
}

static void add_scalar(struct tree_builder *b, const yaml_event_t *ev)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct cfg_node *n;

	check_properties(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (memchr(value, '\0', len) != NULL)
		cfg_sink_error(b->sink, mark_line(ev->start_mark), mark_column(ev->start_mark),
			       "NUL character inside a value");
	if (b->skip > 0)
		return;
	n = node_new(b, CFG_NODE_SCALAR, ev->start_mark);
	if (n == NULL)
		return;
	n->text = malloc(len + 1);
	if (n->text == NULL) {
		cfg_tree_free(n);
		b->nomem = true;
		return;
	}
	memcpy(n->text, value, len);
	n->text[len] = '\0';
	n->len = len;
	node_attach(b, n);
}

static void add_alias(struct tree_builder *b, const yaml_event_t *ev)
{
	struct cfg_quoted q;
	struct cfg_node *n;

	cfg_sink_error(b->sink, mark_line(ev->start_mark), mark_column(ev->start_mark),
		       "YAML aliases are not allowed (*%s): write each value out",
		       quote_word(&q, (const char *)ev->data.alias.anchor));
	if (b->skip > 0)
		return;
	/* A marked empty scalar stands in for it, so the rest of the structure
	 * can still be checked; the shape check skips it silently. */
	n = node_new(b, CFG_NODE_SCALAR, ev->start_mark);
	if (n == NULL)
		return;
	n->alias = true;
	n->text = calloc(1, 1);
	if (n->text == NULL) {
		cfg_tree_free(n);
		b->nomem = true;
		return;
	}
	node_attach(b, n);
}

static void open_container(struct tree_builder *b, const yaml_event_t *ev, enum cfg_node_kind kind,
			   const yaml_char_t *anchor, const yaml_char_t *tag)
{
	struct cfg_node *n;

	check_properties(b, ev, anchor, tag);
	if (b->skip > 0) {
		b->skip++;
		return;
	}
	if (b->depth == CFG_TREE_MAX_DEPTH) {
		cfg_sink_error(b->sink, mark_line(ev->start_mark), mark_column(ev->start_mark),
			       "nesting deeper than %d levels", CFG_TREE_MAX_DEPTH);
		b->broken = true;
		b->skip = 1;
		return;
	}
	n = node_new(b, kind, ev->start_mark);
	if (n == NULL) {
		/* Keep the nesting balanced without building anything. */
		b->skip = 1;
		return;
	}
	if (!node_attach(b, n)) {
		b->skip = 1;
		return;
	}
	b->stack[b->depth++] = n;
}

static void close_container(struct tree_builder *b)
{
	if (b->skip > 0)
		b->skip--;
	else if (b->depth > 0)
		b->depth--;
}

static void report_parser_error(struct tree_builder *b, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "unknown problem";

	if (parser->error == YAML_MEMORY_ERROR) {
		b->nomem = true;
		return;
	}
	if (parser->context != NULL)
		cfg_sink_error(b->sink, mark_line(parser->problem_mark),
			       mark_column(parser->problem_mark),
			       "YAML syntax error: %s (%s at line %u, column %u)", problem,
			       parser->context, mark_line(parser->context_mark),
			       mark_column(parser->context_mark));
	else
		cfg_sink_error(b->sink, mark_line(parser->problem_mark),
			       mark_column(parser->problem_mark), "YAML syntax error: %s", problem);
}

int cfg_tree_parse(const unsigned char *data, size_t len, struct cfg_sink *sink,
		   struct cfg_node **root)
{
	struct tree_builder b = { .sink = sink };
	unsigned start_count = sink->count;
	yaml_parser_t parser;
	unsigned documents = 0;
	bool done = false;

	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		return MMIO_ENOMEM;
	yaml_parser_set_input_string(&parser, data, len);

	while (!done && !b.nomem && !b.too_many) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&b, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				cfg_sink_error(sink, mark_line(ev.start_mark),
					       mark_column(ev.start_mark),
					       "a second YAML document: a policy is one document");
				done = true;
			}
			break;
		case YAML_SCALAR_EVENT:
			add_scalar(&b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			add_alias(&b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			open_container(&b, &ev, CFG_NODE_SEQ, ev.data.sequence_start.anchor,
				       ev.data.sequence_start.tag);
			break;
		case YAML_MAPPING_START_EVENT:
			open_container(&b, &ev, CFG_NODE_MAP, ev.data.mapping_start.anchor,
				       ev.data.mapping_start.tag);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			close_container(&b);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);

	if (!done || b.too_many)
		b.broken = true;
	if (b.nomem) {
		cfg_tree_free(b.root);
		return MMIO_ENOMEM;
	}
	if (b.broken) {
		cfg_tree_free(b.root);
		b.root = NULL;
	} else if (b.root == NULL) {
		cfg_sink_error(sink, 1, 1, "the policy is empty: it needs at least 'version: 1'");
	}
	*root = b.root;
	return sink->count == start_count ? MMIO_OK : MMIO_EINVAL;
}

const struct cfg_node *cfg_tree_get(const struct cfg_node *map, const char *key)
{
	if (map == NULL || map->kind != CFG_NODE_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->count; i += 2)
		if (map->kids[i]->kind == CFG_NODE_SCALAR && strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

const struct cfg_node *cfg_tree_key(const struct cfg_node *map, const char *key)
{
	if (map == NULL || map->kind != CFG_NODE_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->count; i += 2)
		if (map->kids[i]->kind == CFG_NODE_SCALAR && strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i];
	return NULL;
}

const struct cfg_node *cfg_tree_item(const struct cfg_node *seq, size_t i)
{
	if (seq == NULL || seq->kind != CFG_NODE_SEQ || i >= seq->count)
		return NULL;
	return seq->kids[i];
}
