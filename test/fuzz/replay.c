/*
 * replay.c - runs a fuzz target over saved inputs without libFuzzer, so the
 * targets build with any compiler and their corpus doubles as a regression
 * test (libvips' fuzzing_engine=none).
 *
 *   fuzz_update_replay FILE|DIR...
 *
 * Every file named, and every regular file directly inside a directory named,
 * is read whole and passed to LLVMFuzzerTestOneInput(). Exits 0 when at
 * least one input ran and none could not be read; a finding aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger than any webhook body tgdesk accepts. */
#define REPLAY_MAX_INPUT (16u << 20)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (!f) {
        perror(path);
        return -1;
    }
    buf = malloc(REPLAY_MAX_INPUT);
    if (!buf) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    if (ferror(f)) {
        perror(path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    printf("ok %s (%zu bytes)\n", path, n);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files of dir in name order; returns how many, or -1. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int count = 0;

    if (!d) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
            if (!grown) {
                count = -1;
                break;
            }
            names = grown;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            count = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (count == 0)
        qsort(names, n, sizeof(*names), by_name);
    for (i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

        if (count >= 0 && len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            count = replay_file(path) < 0 ? -1 : count + 1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0, i;

    for (i = 1; i < argc; i++) {
        struct stat st;
        int n;

        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) < 0 ? -1 : 1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %d inputs\n", total);
    return total > 0 ? 0 : 1;
}
