/*
 * Reference-counted snapshots; see snapshot.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kmswatch/log.h"
#include "kmswatch/snapshot.h"

struct snapshot *
snapshot_new(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (s == NULL)
		fatal("snapshot");
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->gz_lock, NULL);
	return s;
}

void
snapshot_ref(struct snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void
snapshot_body_free(struct snapshot_body *b)
{
	free(b->data);
	free(b->gz);
}

void
snapshot_unref(struct snapshot *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	snapshot_body_free(&s->metrics);
	snapshot_body_free(&s->openmetrics);
	snapshot_body_free(&s->status);
	snapshot_body_free(&s->alerts);
	pthread_mutex_destroy(&s->gz_lock);
	free(s);
}

int
snapshot_gzip(const void *in, size_t len, char **out, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16 selects the gzip wrapper. zlib does not write
	 * through next_in, so dropping const here is safe. */
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong bound = deflateBound(&zs, (uLong)len);
	unsigned char *buf = malloc(bound);
	if (buf == NULL) {
		deflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	int rc = deflate(&zs, Z_FINISH);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = (char *)buf;
	*out_len = n;
	return 0;
}

void
snapshot_body_set(struct snapshot_body *b, char *data, size_t len)
{
	b->data = data;
	b->len = len;
}

bool
snapshot_body_gzip(struct snapshot *s, struct snapshot_body *b, const char **gz, size_t *len)
{
	pthread_mutex_lock(&s->gz_lock);
	if (!b->gz_done) {
		b->gz_done = true;
		if (snapshot_gzip(b->data, b->len, &b->gz, &b->gz_len) == -1) {
			log_warnx("snapshot: gzip compression failed; serving uncompressed");
			b->gz = NULL;
			b->gz_len = 0;
		}
	}
	pthread_mutex_unlock(&s->gz_lock);
	*gz = b->gz;
	*len = b->gz_len;
	return b->gz != NULL;
}
