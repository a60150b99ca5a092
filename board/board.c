/*
 * The board layer: maps configuration names to the drivers a board was built with. Which drivers
 * a board has is said by board/<name>/board.cmake (BOARD_HAS_FLASH_FILE, ...), as Kconfig would
 * in Zephyr, so a board is a list of choices rather than a copy of this file. What hardware the
 * terminal has wired (a printer line, GPIO lines, its network interface) is its description,
 * board/<name>/board.json, built in (board_description.h).
 */
#include "board/board.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "board_description.h"
#ifdef BOARD_HAS_FLASH_FILE
#include "drivers/flash_file.h"
#endif
#ifdef BOARD_HAS_FLASH_MTD
#include "drivers/flash_mtd.h"
#endif
#ifdef BOARD_HAS_TAP_SERIAL
#include "drivers/tap_serial.h"
#endif
#ifdef BOARD_HAS_GPIO
#include "drivers/gpio_line.h"
#endif
#ifdef BOARD_HAS_GPIO_FIFO
#include "drivers/gpio_fifo.h"
#endif
#include "drivers/intake_unix.h"
#include "drivers/link_netlink.h"

const char *board_name(void)
{
    return BOARD_NAME;
}

int board_has_flash_driver(const char *driver)
{
#ifdef BOARD_HAS_FLASH_FILE
    if (strcmp(driver, "file") == 0)
        return 1;
#endif
#ifdef BOARD_HAS_FLASH_MTD
    if (strcmp(driver, "mtd") == 0)
        return 1;
#endif
    (void)driver;
    return 0;
}

int board_flash_open(const struct board_flash_params *p, struct hal_flash **out, char *err,
                     size_t errlen)
{
#ifdef BOARD_HAS_FLASH_FILE
    if (strcmp(p->driver, "file") == 0) {
        struct hal_flash_geometry geo = {p->size, p->erase_size, p->prog_size};
        return flash_file_open(p->path, &geo, p->read_only, out, err, errlen);
    }
#endif
#ifdef BOARD_HAS_FLASH_MTD
    /* The geometry is the device's own; p->size and the rest are not used. */
    if (strcmp(p->driver, "mtd") == 0)
        return flash_mtd_open(p->path, p->read_only, out, err, errlen);
#endif
    (void)out;
    snprintf(err, errlen, "board %s has no flash driver \"%s\"", BOARD_NAME, p->driver);
    return -ENODEV;
}

static void copy_str(const cJSON *o, const char *key, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        snprintf(dst, cap, "%s", v->valuestring);
}

static unsigned get_uint(const cJSON *o, const char *key, unsigned dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (unsigned)v->valuedouble : dflt;
}

static int describe_line(const cJSON *root, const char *key, struct board_line_params *out)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o))
        return 0;
    copy_str(o, "chip", out->chip, sizeof out->chip);
    out->line = get_uint(o, "line", 0);
    out->active_low = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "active_low"));
    return 1;
}

/* The description is checked by the build's own tests (unit.test_board): here it is trusted. */
void board_describe(struct board_sources *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(BOARD_DESCRIPTION_JSON);
    if (!root)
        return;
    copy_str(root, "network_interface", out->network_interface, sizeof out->network_interface);
    const cJSON *tap = cJSON_GetObjectItemCaseSensitive(root, "receipt_tap");
    if (cJSON_IsObject(tap)) {
        out->has_tap = 1;
        copy_str(tap, "pos_port", out->tap.pos_port, sizeof out->tap.pos_port);
        copy_str(tap, "printer_port", out->tap.printer_port, sizeof out->tap.printer_port);
        out->tap.baud = get_uint(tap, "baud", 0);
        copy_str(tap, "flow_control", out->tap.flow_control, sizeof out->tap.flow_control);
    }
    out->has_power_fail = describe_line(root, "power_fail", &out->power_fail);
    out->has_sale_signal = describe_line(root, "sale_signal", &out->sale_signal);
    cJSON_Delete(root);
}

void board_device_key_file(char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *root = cJSON_Parse(BOARD_DESCRIPTION_JSON);
    copy_str(root, "device_key_file", out, cap);
    cJSON_Delete(root);
}

static int open_line(const struct board_line_params *p, enum hal_role role, const char *name,
                     struct loop *loop, hal_event_fn emit, void *ctx, struct hal_source **out,
                     char *err, size_t errlen)
{
#ifdef BOARD_HAS_GPIO_FIFO
    if (p->fake_fifo[0]) {
        struct gpio_fifo_params fp = {.path = p->fake_fifo};
        return gpio_fifo_open(&fp, role, name, loop, emit, ctx, out, err, errlen);
    }
#endif
#ifdef BOARD_HAS_GPIO
    struct gpio_line_params gp = {.line = p->line, .active_low = p->active_low};
    snprintf(gp.chip, sizeof gp.chip, "%s", p->chip);
    return gpio_line_open(&gp, role, name, loop, emit, ctx, out, err, errlen);
#else
    (void)p, (void)role, (void)name, (void)loop, (void)emit, (void)ctx, (void)out;
    snprintf(err, errlen, "board %s was built without GPIO (libgpiod)", BOARD_NAME);
    return -ENODEV;
#endif
}

static int open_tap(const struct board_tap_params *p, struct loop *loop, hal_event_fn emit,
                    void *ctx, struct hal_source **out, char *err, size_t errlen)
{
#ifdef BOARD_HAS_TAP_SERIAL
    struct tap_serial_params tp = {.baud = p->baud};
    snprintf(tp.pos_port, sizeof tp.pos_port, "%s", p->pos_port);
    snprintf(tp.printer_port, sizeof tp.printer_port, "%s", p->printer_port);
    snprintf(tp.flow_control, sizeof tp.flow_control, "%s", p->flow_control);
    return tap_serial_open(&tp, loop, emit, ctx, out, err, errlen);
#else
    (void)p, (void)loop, (void)emit, (void)ctx, (void)out;
    snprintf(err, errlen, "board %s has no serial tap driver", BOARD_NAME);
    return -ENODEV;
#endif
}

int board_sources_open(const struct board_sources *want, struct loop *loop, hal_event_fn emit,
                       void *ctx, struct hal_source **out, unsigned max, unsigned *n, char *err,
                       size_t errlen)
{
    char why[400];
    *n = 0;
    if (max < 6) {
        snprintf(err, errlen, "room for 6 sources needed");
        return -EINVAL;
    }
    struct intake_unix_params pos = {want->pos_socket, 0660, HAL_ROLE_POS, "pos_socket", 0};
    struct intake_unix_params ctl = {want->control_socket, 0, HAL_ROLE_CONTROL, "control", 1};
    const char *key = "intake.pos_socket";
    int rc = intake_unix_open(&pos, loop, emit, ctx, &out[*n], why, sizeof why);
    if (rc == 0) {
        ++*n;
        key = "control_socket";
        rc = intake_unix_open(&ctl, loop, emit, ctx, &out[*n], why, sizeof why);
    }
    if (rc == 0) {
        ++*n;
        key = "intake.receipt_tap";
        if (want->has_tap &&
            (rc = open_tap(&want->tap, loop, emit, ctx, &out[*n], why, sizeof why)) == 0)
            ++*n;
    }
    if (rc == 0) {
        key = "intake.power_fail";
        if (want->has_power_fail &&
            (rc = open_line(&want->power_fail, HAL_ROLE_POWER_FAIL, "power_fail", loop, emit, ctx,
                            &out[*n], why, sizeof why)) == 0)
            ++*n;
    }
    if (rc == 0) {
        key = "intake.sale_signal";
        if (want->has_sale_signal &&
            (rc = open_line(&want->sale_signal, HAL_ROLE_SALE_SIGNAL, "sale_signal", loop, emit,
                            ctx, &out[*n], why, sizeof why)) == 0)
            ++*n;
    }
    if (rc == 0) {
        /* Not having netlink (a sandbox without it) costs only the early retry after an outage:
         * the daemon says so when no network source is open. */
        if (link_netlink_open(want->network_interface, loop, emit, ctx, &out[*n], why,
                              sizeof why) == 0)
            ++*n;
        return 0;
    }
    snprintf(err, errlen, "%s: %s", key, why);
    while (*n)
        hal_source_close(out[--*n]);
    return rc;
}
