/*
 * The product preset catalog (KMS-PROTOCOL.md section 2): for each product
 * family the identifiers a KMS request carries, its N policy and protocol
 * version. GUIDs stay text here; the KMS module converts them to wire bytes.
 * Pure.
 */
#ifndef KMSWATCH_PRODUCTS_H
#define KMSWATCH_PRODUCTS_H

#include <stdbool.h>
#include <stddef.h>

#define PRODUCT_NAME_MAX 63
#define PRODUCT_GUID_LEN 36

/* Which count the host uses; each has its own application id. */
enum product_app {
	PRODUCT_APP_WINDOWS,
	PRODUCT_APP_OFFICE2010,
	PRODUCT_APP_OFFICE2013, /* Office 2013 and later */
};

struct product {
	const char *name;        /* [a-z0-9._-], 1..63 characters */
	enum product_app app;    /* informs app_id; the id itself is what is sent */
	const char *app_id;      /* application id, GUID text */
	const char *kms_id;      /* KMS counted id, GUID text: the host counts by it */
	const char *sku_id;      /* activation (SKU) id, GUID text: informational */
	unsigned required_count; /* N: 25 or 5 */
	unsigned protocol;       /* 4, 5 or 6 */
};

/* products.c */
/* The presets, by name, or NULL. Pointers are to static storage. */
const struct product *product_find(const char *name);
/* Iteration: product_get(i) for i < product_count(), in catalog order. */
size_t product_count(void);
const struct product *product_get(size_t i);

/* "windows", "office-2010", "office-2013+" and back. */
const char *product_app_name(enum product_app app);
int product_app_parse(const char *name, enum product_app *out);
/* The application id that goes with app, as GUID text. */
const char *product_app_id(enum product_app app);

/* True for 8-4-4-4-12 hex digits in either case, nothing more. */
bool product_guid_valid(const char *text);
/* Checks a complete product definition (a preset or one from the
 * configuration). Returns -1 and a message in err (errlen bytes, may be 0)
 * naming the first problem. */
int product_validate(const struct product *p, char *err, size_t errlen);

#endif
