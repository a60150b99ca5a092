/*
 * tillsyncctl verify: the journal read offline, as the daemon left it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "board/board.h"
#include "config.h"
#include "ctl.h"
#include "journal.h"

static const char *const block_states[] = {"in use", "free", "erased", "unreadable header",
                                           "in use, bad header"};

/* Reads the journal without writing a byte: the image is opened read-only. */
static int run_verify(struct ctl *ctl, int argc, char **argv)
{
    static struct config cfg;
    static struct journal j;
    char err[512];
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "tillsyncctl: verify takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    if (ctl_load_config(ctl, &cfg) != 0)
        return CTL_EXIT_USAGE;
    /* Opened read-only under a shared lock: the running daemon's exclusive one refuses it. */
    struct board_flash_params fp = {cfg.journal_driver,     cfg.journal_path,      cfg.journal_size,
                                    cfg.journal_erase_size, cfg.journal_prog_size, 1};
    struct hal_flash *flash = NULL;
    int rc = board_flash_open(&fp, &flash, err, sizeof err);
    if (rc == -EBUSY) {
        fprintf(stderr,
                "tillsyncctl: journal: %s: tillsyncd is running; stop it first (verify "
                "reads the journal offline, as the daemon left it)\n",
                err);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "tillsyncctl: journal: %s\n", err);
        return 2;
    }
    uint32_t ids[CONFIG_MAX_BACKENDS];
    for (unsigned i = 0; i < cfg.nbackends; i++)
        ids[i] = journal_backend_id(cfg.backends[i].name);
    if (journal_mount(&j, flash, ids, cfg.nbackends, err, sizeof err) != 0) {
        printf("verdict   NOT HEALTHY: %s\n", err);
        hal_flash_close(flash);
        return 1;
    }
    uint64_t mount_read = j.report.mount_bytes_read;
    if (journal_check(&j) != 0) {
        printf("verdict   NOT HEALTHY: flash read failed while checking the journal\n");
        journal_unmount(&j);
        hal_flash_close(flash);
        return 1;
    }
    const struct journal_report *r = &j.report;
    printf("journal   %s: %u blocks of %u bytes (%u erase block(s) each), program unit %u\n",
           cfg.journal_path, j.nblocks, j.block_size, j.block_size / j.erase_size, j.prog_size);
    uint32_t fresh = journal_default_block_size(&flash->geo);
    if (j.max_body < JOURNAL_MAX_BODY && fresh > j.block_size)
        printf("limit     a sale longer than %u bytes normalised may be refused: firmware before "
               "format 3 made these blocks; once everything is delivered, erase the journal and "
               "the daemon starts it again with blocks of %u bytes, which hold any valid sale\n",
               j.max_body, fresh);
    else if (j.max_body < JOURNAL_MAX_BODY)
        printf("limit     a sale longer than %u bytes normalised may be refused: journal.size "
               "holds fewer than 4 blocks of %u bytes, which would hold any valid sale\n",
               j.max_body,
               journal_default_block_size(&(struct hal_flash_geometry){
                   UINT64_MAX, flash->geo.erase_size, flash->geo.prog_size}));
    printf("records   %llu sales, %llu delivery marks, %llu corrupt, %llu torn appends "
           "(cut by power loss, never acknowledged)\n",
           (unsigned long long)r->sales, (unsigned long long)r->marks,
           (unsigned long long)r->corrupt_records, (unsigned long long)r->torn_tail);
    printf("space     %llu of %llu bytes used, %u of %u blocks in use\n",
           (unsigned long long)journal_used_bytes(&j), (unsigned long long)flash->geo.size, j.used,
           j.nblocks);
    printf("mount     reads %llu bytes (block headers, the head block, OPEN records)\n",
           (unsigned long long)mount_read);
    for (unsigned i = 0; i < cfg.nbackends; i++)
        printf("backend   %s: %llu queued, %llu delivered, %llu dead-lettered\n",
               cfg.backends[i].name, (unsigned long long)j.backends[i].queued,
               (unsigned long long)j.backends[i].delivered_total,
               (unsigned long long)j.backends[i].dead_total);
    uint32_t min = UINT32_MAX, max = 0, known = 0;
    uint64_t sum = 0;
    unsigned unreadable = 0;
    for (uint32_t b = 0; b < j.nblocks; b++) {
        uint32_t ec;
        enum journal_block_state st = journal_block_info(&j, b, &ec);
        int lost = ec == JOURNAL_ERASES_UNKNOWN;
        char count[32];
        snprintf(count, sizeof count, lost ? "unknown" : "%u", ec);
        printf("block     %4u: %-18s erase count %s%s%s\n", b, block_states[st], count,
               b == j.head && !j.empty ? " (head)" : "", b == j.tail && !j.empty ? " (tail)" : "");
        unreadable += st == JOURNAL_BLOCK_UNREADABLE;
        if (lost)
            continue; /* its count went with its header: left out of the wear figures */
        known++;
        min = ec < min ? ec : min;
        max = ec > max ? ec : max;
        sum += ec;
    }
    if (known)
        printf("wear      erase counts: min %u, max %u, mean %.2f (over the %u blocks whose count "
               "is known)\n",
               min, max, (double)sum / known, known);
    /* A power cut interrupts one erase at most, that of the block opened next; any other
     * header that is neither valid nor erased is damage, or not a journal at all. */
    uint32_t next_open = j.empty ? 0 : (j.head + 1) % j.nblocks;
    int stray = unreadable > 1 ||
                (unreadable == 1 &&
                 journal_block_info(&j, next_open, &(uint32_t){0}) != JOURNAL_BLOCK_UNREADABLE);
    int healthy = r->corrupt_records == 0 && r->damaged_headers == 0 && !stray;
    if (r->damaged_headers)
        printf("damage    %u block header(s) inside the journal are damaged: failing their CRC (a "
               "bit flip; the block's records were still read) or left from an older lap by a "
               "worn block the journal passes over\n",
               r->damaged_headers);
    if (stray)
        printf("damage    %u block(s) outside the journal hold a header that is neither valid nor "
               "erased%s: more than a power cut leaves (it interrupts one erase, of block %u); "
               "worn flash, a stray write, or not a journal\n",
               unreadable, unreadable == 1 ? ", not the block opened next" : "", next_open);
    printf("verdict   %s\n", healthy ? "healthy" : "NOT HEALTHY: corruption found");
    if (unreadable && !stray)
        printf("note      block %u has an unreadable header: an erase cut by power loss; it is "
               "erased again before reuse\n",
               next_open);
    journal_unmount(&j);
    hal_flash_close(flash);
    return healthy ? 0 : 1;
}

const struct ctl_command ctl_cmd_verify = {
    "verify", "",
    "read the journal offline (daemon stopped): records by state, corruption, free space, wear\n"
    "per block. Exit 0 healthy, 1 not, 2 cannot check",
    1, run_verify};
