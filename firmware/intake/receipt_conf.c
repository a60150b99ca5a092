#include "receipt_conf.h"

#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "escpos_codepage.h"
#include "sale.h"

const char *const receipt_conf_keys[] = {
    "codepage",        "txn_pattern",       "total_pattern",  "currency",       "currency_pattern",
    "loyalty_pattern", "email_pattern",     "time_pattern",   "time_format",    "reprint_pattern",
    "ignore_pattern",  "decimal_separator", "unreadable_dir", "unreadable_max", NULL,
};

void receipt_conf_defaults(struct receipt_conf *out)
{
    memset(out, 0, sizeof *out);
    strcpy(out->codepage, "cp437");
    /* "TOTAL 12.50", "Total: £12.50", "TOTAL EUR 1.234,56"; not SUBTOTAL, not "TOTAL ITEMS 3"
     * (three letters at most between the word and the number: a currency code). */
    strcpy(out->total_pattern,
           "^[[:space:]]*TOTAL[[:space:]:]*[A-Z]{0,3}[^[:alnum:]]*([0-9][0-9.,' ]*[0-9]|[0-9])");
    strcpy(out->email_pattern, "([A-Z0-9._%+-]+@[A-Z0-9-]+(\\.[A-Z0-9-]+)*\\.[A-Z]{2,})");
    /* "30/11/2026 14:35", seconds if printed left out: day first, as most of the world */
    strcpy(out->time_pattern, "([0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2})");
    strcpy(out->time_format, "%d/%m/%Y %H:%M");
    strcpy(out->reprint_pattern, "REPRINT|COPY|DUPLICATE|KOPIE|DUPLIKAT|COPIE");
    out->decimal_separator = '.';
    strcpy(out->unreadable_dir, "/var/lib/tillsync/unreadable");
    out->unreadable_max = 100;
}

/* A pattern key: a string compiled to check it, or null (off). Returns -1 after conf_fail. */
static int pattern(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key,
                   char *dst, int need_group, int may_be_off)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    if (cJSON_IsNull(v) && may_be_off) {
        dst[0] = '\0';
        return 0;
    }
    if (conf_str(c, obj, path, key, dst, RECEIPT_PATTERN_MAX, 0) < 0)
        return -1;
    regex_t re;
    int rc = regcomp(&re, dst, RECEIPT_REGEX_FLAGS);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof msg);
        return conf_fail(c, "%s%s: not a POSIX extended regular expression: %s", path, key, msg);
    }
    size_t groups = re.re_nsub;
    regfree(&re);
    if (need_group && groups == 0)
        return conf_fail(c, "%s%s: has no capture group (the first one is the value)", path, key);
    return 0;
}

int receipt_conf_parse(struct conf_ctx *c, const cJSON *obj, const char *path,
                       struct receipt_conf *out)
{
    static const struct {
        const char *key;
        size_t off;
        int need_group, may_be_off;
    } patterns[] = {
        {"txn_pattern", offsetof(struct receipt_conf, txn_pattern), 1, 1},
        {"total_pattern", offsetof(struct receipt_conf, total_pattern), 1, 0},
        {"currency_pattern", offsetof(struct receipt_conf, currency_pattern), 1, 1},
        {"loyalty_pattern", offsetof(struct receipt_conf, loyalty_pattern), 1, 1},
        {"email_pattern", offsetof(struct receipt_conf, email_pattern), 1, 1},
        {"time_pattern", offsetof(struct receipt_conf, time_pattern), 1, 1},
        {"reprint_pattern", offsetof(struct receipt_conf, reprint_pattern), 0, 1},
        {"ignore_pattern", offsetof(struct receipt_conf, ignore_pattern), 0, 1},
    };
    receipt_conf_defaults(out);
    if (!cJSON_IsObject(obj))
        return conf_fail(c, "%.*s: must be an object", path[0] ? (int)strlen(path) - 1 : 11,
                         path[0] ? path : "receipt_tap");
    if (conf_str(c, obj, path, "codepage", out->codepage, sizeof out->codepage, 0) < 0)
        return -1;
    if (escpos_codepage_by_name(out->codepage) < 0)
        return conf_fail(c, "%scodepage: must be cp437, cp850, cp858 or cp1252", path);
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++)
        if (pattern(c, obj, path, patterns[i].key, (char *)out + patterns[i].off,
                    patterns[i].need_group, patterns[i].may_be_off) < 0)
            return -1;
    char cur[8] = "";
    if (conf_str(c, obj, path, "currency", cur, sizeof cur, 0) < 0)
        return -1;
    if (cur[0] && (strlen(cur) != 3 || !sale_valid_currency(cur)))
        return conf_fail(c, "%scurrency: not an ISO 4217 currency code", path);
    memcpy(out->currency, cur, 4);
    if (!out->currency[0] && !out->currency_pattern[0])
        return conf_fail(c,
                         "%scurrency: required (the receipt's currency, e.g. \"GBP\"), unless "
                         "currency_pattern reads it from every receipt",
                         path);
    int fmt = conf_str(c, obj, path, "time_format", out->time_format, sizeof out->time_format, 0);
    if (fmt < 0)
        return -1;
    if (fmt == 1 && !strchr(out->time_format, '%'))
        return conf_fail(c, "%stime_format: holds no strptime conversion (%%d, %%H ...)", path);
    char sep[4] = "";
    if (conf_str(c, obj, path, "decimal_separator", sep, sizeof sep, 0) < 0)
        return -1;
    if (sep[0]) {
        if (strcmp(sep, ".") != 0 && strcmp(sep, ",") != 0)
            return conf_fail(c, "%sdecimal_separator: must be \".\" or \",\"", path);
        out->decimal_separator = sep[0];
    }
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(obj, "unreadable_dir");
    if (cJSON_IsNull(dir))
        out->unreadable_dir[0] = '\0';
    else if (conf_str(c, obj, path, "unreadable_dir", out->unreadable_dir,
                      sizeof out->unreadable_dir, 0) < 0)
        return -1;
    uint64_t max = out->unreadable_max;
    if (conf_uint(c, obj, path, "unreadable_max", &max, 1, 10000, 0) < 0)
        return -1;
    out->unreadable_max = (unsigned)max;
    return 0;
}
