/*
 * Product preset catalog: contents against the table in KMS-PROTOCOL.md
 * section 2, lookup and iteration, and validation of custom definitions.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "kmswatch/products.h"

#define ZERO_GUID "00000000-0000-0000-0000-000000000000"

static const struct {
	const char *name;
	enum product_app app;
	const char *kms_id;
	const char *sku_id;
	unsigned n;
} table[] = {
    {"windows-10-11", PRODUCT_APP_WINDOWS, "58e2134f-8e11-4d17-9cb2-91069c151148",
     "73111121-5638-40f6-bc11-f1d7b0d64300", 25},
    {"windows-10-ltsc", PRODUCT_APP_WINDOWS, "11b15659-e603-4cf1-9c1f-f0ec01b81888",
     "32d2fab3-e4a8-42c2-923b-4bf4fd13e6ee", 25},
    {"windows-server-2019", PRODUCT_APP_WINDOWS, "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5",
     "34e1ae55-27f8-4950-8877-7a03be5fb181", 5},
    {"windows-server-2022", PRODUCT_APP_WINDOWS, "b74263e4-0f92-46c6-bcf8-c11d5efe2959",
     "ef6cfc9f-8c5d-44ac-9aad-de6a2ea0ae03", 5},
    {"windows-server-2012r2", PRODUCT_APP_WINDOWS, "8456efd3-0c04-4089-8740-5b7238535a65",
     ZERO_GUID, 5},
    {"office-2016", PRODUCT_APP_OFFICE2013, "85b5f61b-320b-4be3-814a-b76b2bfafc82", ZERO_GUID, 5},
    {"office-2019", PRODUCT_APP_OFFICE2013, "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", ZERO_GUID, 5},
    {"office-ltsc-2021", PRODUCT_APP_OFFICE2013, "86d50b16-4808-41af-b83b-b338274318b2",
     "fbdb3e18-a8ef-4fb3-9183-dffd60bd0984", 5},
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

Test(products, catalog_matches_the_protocol_table)
{
	cr_assert_eq(product_count(), N_TABLE);
	for (size_t i = 0; i < N_TABLE; i++) {
		const struct product *p = product_find(table[i].name);
		cr_assert_not_null(p, "%s missing", table[i].name);
		cr_assert_str_eq(p->name, table[i].name);
		cr_assert_eq(p->app, table[i].app);
		cr_assert_str_eq(p->app_id, product_app_id(table[i].app));
		cr_assert_str_eq(p->kms_id, table[i].kms_id);
		cr_assert_str_eq(p->sku_id, table[i].sku_id);
		cr_assert_eq(p->required_count, table[i].n);
		cr_assert_eq(p->protocol, 6);
		char err[128] = "";
		cr_assert_eq(product_validate(p, err, sizeof(err)), 0, "%s: %s", p->name, err);
	}
}

Test(products, application_ids)
{
	cr_assert_str_eq(product_app_id(PRODUCT_APP_WINDOWS),
	                 "55c92734-d682-4d71-983e-d6ec3f16059f");
	cr_assert_str_eq(product_app_id(PRODUCT_APP_OFFICE2010),
	                 "59a52881-a989-479d-af46-f275c6370663");
	cr_assert_str_eq(product_app_id(PRODUCT_APP_OFFICE2013),
	                 "0ff1ce15-a989-479d-af46-f275c6370663");
	enum product_app apps[] = {PRODUCT_APP_WINDOWS, PRODUCT_APP_OFFICE2010,
	                           PRODUCT_APP_OFFICE2013};
	for (size_t i = 0; i < 3; i++) {
		enum product_app back;
		cr_assert_eq(product_app_parse(product_app_name(apps[i]), &back), 0);
		cr_assert_eq(back, apps[i]);
	}
	cr_assert_str_eq(product_app_name(PRODUCT_APP_OFFICE2013), "office-2013+");
	enum product_app x;
	cr_assert_eq(product_app_parse("office", &x), -1);
	cr_assert_eq(product_app_parse(NULL, &x), -1);
	cr_assert_null(product_app_name((enum product_app)99));
}

Test(products, lookup_and_iteration)
{
	cr_assert_null(product_find("windows-7"));
	cr_assert_null(product_find(""));
	cr_assert_null(product_find(NULL));
	cr_assert_null(product_find("Windows-10-11"));
	for (size_t i = 0; i < product_count(); i++) {
		const struct product *p = product_get(i);
		cr_assert_not_null(p);
		cr_assert_eq(product_find(p->name), p);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(product_get(j)->name, p->name);
	}
	cr_assert_null(product_get(product_count()));
}

Test(products, guid_syntax)
{
	cr_assert(product_guid_valid("86d50b16-4808-41af-b83b-b338274318b2"));
	cr_assert(product_guid_valid("86D50B16-4808-41AF-B83B-B338274318B2"));
	cr_assert(product_guid_valid(ZERO_GUID));
	cr_assert_not(product_guid_valid(NULL));
	cr_assert_not(product_guid_valid(""));
	cr_assert_not(product_guid_valid("86d50b16-4808-41af-b83b-b338274318b"));
	cr_assert_not(product_guid_valid("86d50b16-4808-41af-b83b-b338274318b20"));
	cr_assert_not(product_guid_valid("{86d50b16-4808-41af-b83b-b338274318b2}"));
	cr_assert_not(product_guid_valid("86d50b1604808-41af-b83b-b338274318b2"));
	cr_assert_not(product_guid_valid("86d50b16-4808-41af-b83bb-338274318b2"));
	cr_assert_not(product_guid_valid("g6d50b16-4808-41af-b83b-b338274318b2"));
	cr_assert_not(product_guid_valid("86d50b16-4808-41af-b83b-b338274318b "));
	cr_assert_not(product_guid_valid("86d50b164808441af4b83b4b338274318b2"));
}

static struct product
custom(void)
{
	struct product p = *product_find("windows-server-2022");
	p.name = "lab.server_2025-dc";
	return p;
}

static void
assert_invalid(const struct product *p, const char *mentions)
{
	char err[256] = "";
	cr_assert_eq(product_validate(p, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, mentions), "message \"%s\" lacks \"%s\"", err, mentions);
	cr_assert_eq(product_validate(p, NULL, 0), -1);
}

Test(products, validate_custom_definitions)
{
	struct product p = custom();
	cr_assert_eq(product_validate(&p, NULL, 0), 0);

	char name[80];
	memset(name, 'a', sizeof(name));
	name[63] = '\0';
	p.name = name;
	cr_assert_eq(product_validate(&p, NULL, 0), 0);
	name[63] = 'a';
	name[64] = '\0';
	assert_invalid(&p, "name");
	const char *bad_names[] = {"", "Windows", "a b", "a/b", "ä", "a\n", "a:b", "a+b"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		p.name = bad_names[i];
		assert_invalid(&p, "name");
	}
	p.name = NULL;
	assert_invalid(&p, "name");

	p = custom();
	unsigned ns[] = {0, 1, 4, 6, 24, 26, 50};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		p.required_count = ns[i];
		assert_invalid(&p, "required count");
	}
	p.required_count = 25;
	cr_assert_eq(product_validate(&p, NULL, 0), 0);

	p = custom();
	unsigned protos[] = {0, 3, 7};
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		p.protocol = protos[i];
		assert_invalid(&p, "protocol");
	}
	for (unsigned v = 4; v <= 6; v++) {
		p.protocol = v;
		cr_assert_eq(product_validate(&p, NULL, 0), 0);
	}

	p = custom();
	p.app_id = "55c92734-d682-4d71-983e-d6ec3f16059";
	assert_invalid(&p, "application id");
	p = custom();
	p.kms_id = NULL;
	assert_invalid(&p, "counted id");
	p = custom();
	p.sku_id = "not a guid";
	assert_invalid(&p, "SKU id");
	p = custom();
	p.app = (enum product_app)7;
	assert_invalid(&p, "application");

	/* A short message buffer is truncated, not overrun. */
	p = custom();
	p.protocol = 9;
	char small[8];
	cr_assert_eq(product_validate(&p, small, sizeof(small)), -1);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
}
