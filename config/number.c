/* SPDX-License-Identifier: MIT */
/*
 * The policy's own number syntax. libcyaml would parse integers with
 * strtoll(..., 0): "0644" becomes octal, "0x1000junk" is accepted and "-1"
 * wraps in an unsigned field, so every number in a policy is
 * loaded as a string and parsed here, strictly.
 */
#include "internal.h"

#include <string.h>

int cfg_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

struct size_suffix {
	const char *text;
	unsigned shift;
};

static const struct size_suffix suffixes[] = {
	{ "KiB", 10 },
	{ "MiB", 20 },
	{ "GiB", 30 },
};

/* The shift of the suffix @s is exactly, or -1. */
static int suffix_shift(const char *s)
{
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(s, suffixes[i].text) == 0)
			return (int)suffixes[i].shift;
	return -1;
}

enum cfg_num_error cfg_number_parse(const char *text, unsigned flags, uint64_t *out)
{
	const char *p = text;
	uint64_t value = 0;
	unsigned base = 10;

	if (p == NULL || *p == '\0')
		return CFG_NUM_EMPTY;
	if (*p == '-')
		return CFG_NUM_NEGATIVE;
	if (*p == '+')
		return CFG_NUM_SIGN;
	if (*p < '0' || *p > '9')
		return CFG_NUM_NOT_A_NUMBER;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (cfg_hex_digit(*p) < 0)
			return CFG_NUM_NOT_A_NUMBER;
	} else if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
		return CFG_NUM_LEADING_ZERO;
	}

	for (;; p++) {
		int d = base == 16 ? cfg_hex_digit(*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);

		if (d < 0)
			break;
		if (value > (UINT64_MAX - (uint64_t)d) / base)
			return CFG_NUM_OVERFLOW;
		value = value * base + (uint64_t)d;
	}

	if (*p != '\0') {
		int shift = suffix_shift(p);

		if (shift < 0)
			return CFG_NUM_JUNK;
		if (!(flags & CFG_NUM_SIZE_SUFFIX))
			return CFG_NUM_SUFFIX;
		if (value > (UINT64_MAX >> shift))
			return CFG_NUM_OVERFLOW;
		value <<= shift;
	}
	*out = value;
	return CFG_NUM_OK;
}

enum cfg_num_error cfg_mode_parse(const char *text, unsigned *out)
{
	unsigned value = 0;
	size_t n = 0;

	if (text == NULL || *text == '\0')
		return CFG_NUM_EMPTY;
	if (*text == '-')
		return CFG_NUM_NEGATIVE;
	if (*text == '+')
		return CFG_NUM_SIGN;
	for (const char *p = text; *p != '\0'; p++, n++) {
		if (*p < '0' || *p > '7')
			return CFG_NUM_NOT_OCTAL;
		/* A fifth digit is never a permission; refusing it here also
		 * keeps the value from overflowing. */
		if (n >= 4)
			return CFG_NUM_MODE_RANGE;
		value = value * 8 + (unsigned)(*p - '0');
	}
	if (value > 0777)
		return CFG_NUM_MODE_RANGE;
	*out = value;
	return CFG_NUM_OK;
}

const char *cfg_number_error_text(enum cfg_num_error err)
{
	switch (err) {
	case CFG_NUM_OK:
		return "";
	case CFG_NUM_EMPTY:
		return "empty value";
	case CFG_NUM_NEGATIVE:
		return "negative numbers are not allowed";
	case CFG_NUM_SIGN:
		return "a '+' sign is not allowed";
	case CFG_NUM_NOT_A_NUMBER:
		return "not a number (decimal, or 0x and hex digits)";
	case CFG_NUM_LEADING_ZERO:
		return "leading zero: octal is not allowed (write decimal without leading zeros, "
		       "or 0x hex)";
	case CFG_NUM_JUNK:
		return "trailing junk after the number";
	case CFG_NUM_SUFFIX:
		return "a size suffix (KiB/MiB/GiB) is not allowed here";
	case CFG_NUM_OVERFLOW:
		return "too large (does not fit in 64 bits)";
	case CFG_NUM_NOT_OCTAL:
		return "not an octal permission (digits 0-7 only)";
	case CFG_NUM_MODE_RANGE:
		return "not a permission of at most 0777 (one to four octal digits)";
	}
	return "invalid number";
}
