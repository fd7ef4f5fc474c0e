/* JSON event writer. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "p2pcall/jsonw.h"

START_TEST(object_with_every_type)
{
	struct jsonw w;
	jsonw_begin(&w);
	jsonw_str(&w, "event", "registered");
	jsonw_num(&w, "t", 1.23456, 3);
	jsonw_int(&w, "n", -42);
	jsonw_bool(&w, "ok", true);
	jsonw_str(&w, "mapped", NULL);
	jsonw_num(&w, "bad", NAN, 1);
	ck_assert_str_eq(jsonw_end(&w),
			 "{\"event\":\"registered\",\"t\":1.235,\"n\":-42,\"ok\":true,\"mapped\":null,\"bad\":null}");
}
END_TEST

START_TEST(escapes)
{
	struct jsonw w;
	jsonw_begin(&w);
	jsonw_str(&w, "m", "a\"b\\c\nd\x01\x7f");
	ck_assert_str_eq(jsonw_end(&w), "{\"m\":\"a\\\"b\\\\c\\u000ad\\u0001\\u007f\"}");
}
END_TEST

START_TEST(overflow_is_reported)
{
	struct jsonw w;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	jsonw_begin(&w);
	jsonw_str(&w, "m", big);
	ck_assert_ptr_null(jsonw_end(&w));
}
END_TEST

Suite *jsonw_suite(void)
{
	Suite *s = suite_create("jsonw");
	TCase *c = tcase_create("writer");
	tcase_add_test(c, object_with_every_type);
	tcase_add_test(c, escapes);
	tcase_add_test(c, overflow_is_reported);
	suite_add_tcase(s, c);
	return s;
}
