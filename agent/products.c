/*
 * Product preset catalog; see products.h and section 2 of KMS-PROTOCOL.md.
 * The counted and SKU ids are community-sourced (Microsoft publishes the
 * GVLKs, not these GUIDs), which is why the configuration can override them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kmswatch/products.h"

#define APP_ID_WINDOWS    "55c92734-d682-4d71-983e-d6ec3f16059f"
#define APP_ID_OFFICE2010 "59a52881-a989-479d-af46-f275c6370663"
#define APP_ID_OFFICE2013 "0ff1ce15-a989-479d-af46-f275c6370663"

/* Where the catalog has no example edition the all-zero SKU id is sent: the
 * host treats the SKU as informational and grants or refuses by the counted
 * id alone. */
#define SKU_NONE "00000000-0000-0000-0000-000000000000"

static const struct product product_presets[] = {
    {"windows-10-11", PRODUCT_APP_WINDOWS, APP_ID_WINDOWS, "58e2134f-8e11-4d17-9cb2-91069c151148",
     "73111121-5638-40f6-bc11-f1d7b0d64300", 25, 6},
    {"windows-10-ltsc", PRODUCT_APP_WINDOWS, APP_ID_WINDOWS, "11b15659-e603-4cf1-9c1f-f0ec01b81888",
     "32d2fab3-e4a8-42c2-923b-4bf4fd13e6ee", 25, 6},
    {"windows-server-2019", PRODUCT_APP_WINDOWS, APP_ID_WINDOWS,
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "34e1ae55-27f8-4950-8877-7a03be5fb181", 5, 6},
    {"windows-server-2022", PRODUCT_APP_WINDOWS, APP_ID_WINDOWS,
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "ef6cfc9f-8c5d-44ac-9aad-de6a2ea0ae03", 5, 6},
    {"windows-server-2012r2", PRODUCT_APP_WINDOWS, APP_ID_WINDOWS,
     "8456efd3-0c04-4089-8740-5b7238535a65", SKU_NONE, 5, 6},
    {"office-2016", PRODUCT_APP_OFFICE2013, APP_ID_OFFICE2013,
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", SKU_NONE, 5, 6},
    {"office-2019", PRODUCT_APP_OFFICE2013, APP_ID_OFFICE2013,
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", SKU_NONE, 5, 6},
    {"office-ltsc-2021", PRODUCT_APP_OFFICE2013, APP_ID_OFFICE2013,
     "86d50b16-4808-41af-b83b-b338274318b2", "fbdb3e18-a8ef-4fb3-9183-dffd60bd0984", 5, 6},
};

#define PRODUCT_PRESETS (sizeof(product_presets) / sizeof(product_presets[0]))

size_t
product_count(void)
{
	return PRODUCT_PRESETS;
}

const struct product *
product_get(size_t i)
{
	return i < PRODUCT_PRESETS ? &product_presets[i] : NULL;
}

const struct product *
product_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < PRODUCT_PRESETS; i++)
		if (strcmp(product_presets[i].name, name) == 0)
			return &product_presets[i];
	return NULL;
}

const char *
product_app_name(enum product_app app)
{
	switch (app) {
	case PRODUCT_APP_WINDOWS:
		return "windows";
	case PRODUCT_APP_OFFICE2010:
		return "office-2010";
	case PRODUCT_APP_OFFICE2013:
		return "office-2013+";
	}
	return NULL;
}

int
product_app_parse(const char *name, enum product_app *out)
{
	static const enum product_app apps[] = {PRODUCT_APP_WINDOWS, PRODUCT_APP_OFFICE2010,
	                                        PRODUCT_APP_OFFICE2013};
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
		if (strcmp(product_app_name(apps[i]), name) == 0) {
			*out = apps[i];
			return 0;
		}
	}
	return -1;
}

const char *
product_app_id(enum product_app app)
{
	switch (app) {
	case PRODUCT_APP_WINDOWS:
		return APP_ID_WINDOWS;
	case PRODUCT_APP_OFFICE2010:
		return APP_ID_OFFICE2010;
	case PRODUCT_APP_OFFICE2013:
		return APP_ID_OFFICE2013;
	}
	return NULL;
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
product_guid_valid(const char *text)
{
	if (text == NULL)
		return false;
	for (size_t i = 0; i < PRODUCT_GUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (text[i] == '\0')
			return false;
		if (dash ? text[i] != '-' : !is_hex(text[i]))
			return false;
	}
	return text[PRODUCT_GUID_LEN] == '\0';
}

static bool
name_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	size_t n = 0;
	for (const char *p = name; *p != '\0'; p++, n++) {
		char c = *p;
		if (n >= PRODUCT_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int invalid(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
invalid(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
product_validate(const struct product *p, char *err, size_t errlen)
{
	if (!name_valid(p->name))
		return invalid(err, errlen,
		               "product name must be 1 to %d characters of a-z, 0-9, '.', '_', '-'",
		               PRODUCT_NAME_MAX);
	if (product_app_name(p->app) == NULL)
		return invalid(err, errlen, "product %s: unknown application", p->name);
	if (!product_guid_valid(p->app_id))
		return invalid(err, errlen, "product %s: application id is not a GUID", p->name);
	if (!product_guid_valid(p->kms_id))
		return invalid(err, errlen, "product %s: KMS counted id is not a GUID", p->name);
	if (!product_guid_valid(p->sku_id))
		return invalid(err, errlen, "product %s: SKU id is not a GUID", p->name);
	/* The host keeps its count per N policy (25 for Windows clients, 5 for
	 * servers and Office), and a client's N is part of how it is counted: a
	 * probe that sent any other N would be a client no real one looks like,
	 * and could distort the very count it watches. */
	if (p->required_count != 5 && p->required_count != 25)
		return invalid(err, errlen, "product %s: required count must be 5 or 25, not %u",
		               p->name, p->required_count);
	if (p->protocol < 4 || p->protocol > 6)
		return invalid(err, errlen, "product %s: protocol must be 4, 5 or 6, not %u",
		               p->name, p->protocol);
	return 0;
}
