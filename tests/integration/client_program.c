/*
 * A POS application built the way an integrator builds one: against the installed libtillsync,
 * found through pkg-config (tests/integration/test_client.py compiles and drives it).
 *
 *   client_program SOCKET THREADS SALES_PER_THREAD
 *
 * Threads 0 and 1 share one client (the library serialises them); every other thread opens its
 * own. Each sends its sales in turn, even ones from the struct, odd ones as JSON, and keeps a sale
 * until it is stored: on TILLSYNC_RETRY it sends the same txn again. After a third of its sales
 * each thread waits at a gate until a line arrives on stdin, so the test can stop the daemon
 * while every thread still has sales to send. Prints "gate" when all wait there, "retry TXN"
 * for each TILLSYNC_RETRY, "ok TXN REF DUPLICATE" per sale stored, and "done RETRIES" at the end.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tillsync/client.h>

#define MAX_ATTEMPTS 6000 /* 20 ms apart: two minutes for a daemon to come back */

static int nsales;
static struct tillsync_client *shared;
static const char *socket_path;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, at_gate, retries;

static void wait_at_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    at_gate++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static enum tillsync_outcome send_sale(struct tillsync_client *c, const char *txn, int i,
                                       struct tillsync_result *res)
{
    if (i % 2) {
        char json[512];
        snprintf(
            json, sizeof json,
            "{\n  \"event\": \"sale.completed\", \"txn\": \"%s\",\n"
            "  \"at\": \"2026-04-07T19:45:00+01:00\", \"total\": %d, \"currency\": \"EUR\",\n"
            "  \"customer\": {\"email\": \"c%d@example.com\", \"first_name\": \"Zo\\u00eb\"}\n}",
            txn, 100 + i, i % 7);
        return tillsync_sale_completed_json(c, json, res);
    }
    char email[64];
    snprintf(email, sizeof email, "c%d@example.com", i % 7);
    struct tillsync_customer cu = {.email = email, .last_name = "O'Brien \"Bob\" M\xc3\xbcller"};
    struct tillsync_item items[] = {{"SKU-1", "Caf\xc3\xa9 au lait", 2, 350},
                                    {"SKU-2", "Cheese\tby weight", 0.25, 1800}};
    struct tillsync_sale s = {.txn = txn,
                              .at = "2026-04-07T19:45:00Z",
                              .total = 100 + i,
                              .currency = "GBP",
                              .customer = &cu,
                              .items = items,
                              .nitems = 2};
    return tillsync_sale_completed(c, &s, res);
}

static void *pos_thread(void *arg)
{
    int t = (int)(long)arg;
    struct tillsync_client *c = t < 2 ? shared : tillsync_open(socket_path, NULL);
    if (!c) {
        perror("tillsync_open");
        exit(1);
    }
    for (int i = 0; i < nsales; i++) {
        if (i == nsales / 3)
            wait_at_gate();
        char txn[32];
        snprintf(txn, sizeof txn, "C%d-%04d", t, i);
        struct tillsync_result res;
        enum tillsync_outcome o;
        int attempts = 0;
        while ((o = send_sale(c, txn, i, &res)) == TILLSYNC_RETRY) {
            pthread_mutex_lock(&out_mu);
            retries++;
            printf("retry %s\n", txn);
            fflush(stdout);
            pthread_mutex_unlock(&out_mu);
            if (++attempts == MAX_ATTEMPTS) {
                fprintf(stderr, "%s: still not stored: %s\n", txn, res.error);
                exit(1);
            }
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
        }
        if (o != TILLSYNC_STORED) {
            fprintf(stderr, "%s: rejected: %s (field %s)\n", txn, res.error, res.field);
            exit(1);
        }
        pthread_mutex_lock(&out_mu);
        printf("ok %s %s %d\n", txn, res.ref, res.duplicate);
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
    }
    if (c != shared)
        tillsync_close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: client_program SOCKET THREADS SALES_PER_THREAD\n");
        return 2;
    }
    socket_path = argv[1];
    int nthreads = atoi(argv[2]);
    nsales = atoi(argv[3]);
    shared = tillsync_open(socket_path, NULL);
    pthread_t th[64];
    if (!shared || nthreads < 1 || nthreads > 64)
        return 2;
    for (int t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, pos_thread, (void *)(long)t);
    pthread_mutex_lock(&gate_mu);
    while (at_gate < nthreads)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    pthread_mutex_lock(&out_mu);
    printf("gate\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 2;
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    tillsync_close(shared);
    printf("done %d\n", retries);
    return 0;
}
