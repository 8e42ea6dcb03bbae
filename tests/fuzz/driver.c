/*
 * Replays a fuzz corpus through a harness without libFuzzer: every file in the
 * directories (or the files) named on the command line is passed to
 * LLVMFuzzerTestOneInput once. Lets the corpora run as ordinary tests.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DRIVER_MAX_INPUT (1u << 20)

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	uint8_t *data = malloc(DRIVER_MAX_INPUT);
	if (data == NULL) {
		fclose(f);
		return -1;
	}
	size_t n = fread(data, 1, DRIVER_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(data, n);
	free(data);
	return 0;
}

static int
replay_path(const char *path, unsigned *count)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	DIR *d = opendir(path);
	if (d == NULL) {
		perror(path);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char sub[4096];
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
			continue;
		if (replay_path(sub, count) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) == -1)
			rc = 1;
	/* An empty corpus would make this test pass without testing anything. */
	if (count == 0) {
		fprintf(stderr, "fuzz driver: no inputs found\n");
		return 1;
	}
	printf("fuzz driver: %u inputs replayed without a crash\n", count);
	return rc;
}
