/*
 * Writes FORMAT.md section 11.1's example through the real journal and prints block 0 to stdout,
 * for encode_example.py to compare with its own encoding from the document.
 */
#include <stdio.h>
#include <string.h>

#include "drivers/flash_ram.h"
#include "journal.h"

int main(void)
{
    static const char body[] = "{\"txn\":\"T-1001\",\"at\":\"2024-06-10T09:30:00Z\",\"total\":1250,"
                               "\"currency\":\"EUR\"}";
    struct hal_flash_geometry geo = {4 * 4096, 4096, 16};
    struct hal_flash *f = flash_ram_create(&geo);
    struct journal j;
    struct journal_sale s;
    static unsigned char img[4096];
    char err[256];
    uint64_t seq;
    uint32_t id = journal_backend_id("glu");
    if (!f || journal_mount(&j, f, &id, 1, err, sizeof err) != 0 ||
        journal_append_sale(&j, "T-1001", body, strlen(body), 1718011800123ull, &seq) != 0 ||
        journal_next_sale(&j, 0, &s) != 1 || journal_sale_done(&j, 0, &s, NULL) != 0 ||
        journal_flush_marks(&j) != 0 || hal_flash_read(f, 0, img, sizeof img) != 0) {
        fprintf(stderr, "write_example: the journal refused a call\n");
        return 1;
    }
    journal_unmount(&j);
    hal_flash_close(f);
    return fwrite(img, 1, sizeof img, stdout) == sizeof img ? 0 : 1;
}
