/*
 * The state file writer thread; see statefile.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/log.h"
#include "kmswatch/loop.h"
#include "kmswatch/statefile.h"

struct statefile {
	char *path;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool have_pending;
	struct persist_state pending;
	struct statefile_stats stats;
};

static void
statefile_write(struct statefile *sf, const struct persist_state *st)
{
	char err[512];
	int rc = persist_write(sf->path, st, err, sizeof(err));
	pthread_mutex_lock(&sf->lock);
	sf->stats.writes++;
	if (rc == 0) {
		sf->stats.last_ok = true;
		sf->stats.last_success = loop_wall_time();
	} else {
		/* Log only the first failure of a run, not one line per cycle. */
		if (sf->stats.last_ok || sf->stats.failures == 0)
			log_warnx("state file %s: %s", sf->path, err);
		sf->stats.failures++;
		sf->stats.last_ok = false;
	}
	pthread_mutex_unlock(&sf->lock);
}

static void *
statefile_run(void *arg)
{
	struct statefile *sf = arg;
	pthread_mutex_lock(&sf->lock);
	for (;;) {
		while (!sf->stop && !sf->have_pending)
			pthread_cond_wait(&sf->cond, &sf->lock);
		if (!sf->have_pending)
			break;
		struct persist_state st = sf->pending;
		memset(&sf->pending, 0, sizeof(sf->pending));
		sf->have_pending = false;
		pthread_mutex_unlock(&sf->lock);
		statefile_write(sf, &st);
		persist_state_free(&st);
		pthread_mutex_lock(&sf->lock);
	}
	pthread_mutex_unlock(&sf->lock);
	return NULL;
}

struct statefile *
statefile_new(const char *path)
{
	struct statefile *sf = calloc(1, sizeof(*sf));
	if (sf == NULL)
		fatal("statefile");
	sf->path = strdup(path);
	if (sf->path == NULL)
		fatal("statefile");
	sf->stats.last_ok = true;
	pthread_mutex_init(&sf->lock, NULL);
	pthread_cond_init(&sf->cond, NULL);
	if (pthread_create(&sf->thread, NULL, statefile_run, sf) != 0) {
		log_warnx("state file: cannot start the writer thread");
		pthread_mutex_destroy(&sf->lock);
		pthread_cond_destroy(&sf->cond);
		free(sf->path);
		free(sf);
		return NULL;
	}
	return sf;
}

void
statefile_submit(struct statefile *sf, struct persist_state *st)
{
	pthread_mutex_lock(&sf->lock);
	persist_state_free(&sf->pending);
	sf->pending = *st;
	sf->have_pending = true;
	memset(st, 0, sizeof(*st));
	pthread_cond_signal(&sf->cond);
	pthread_mutex_unlock(&sf->lock);
}

void
statefile_free(struct statefile *sf, struct persist_state *final)
{
	if (sf == NULL)
		return;
	pthread_mutex_lock(&sf->lock);
	sf->stop = true;
	if (final != NULL) {
		/* The final state supersedes whatever waits. */
		persist_state_free(&sf->pending);
		sf->pending = *final;
		sf->have_pending = true;
		memset(final, 0, sizeof(*final));
	}
	pthread_cond_signal(&sf->cond);
	pthread_mutex_unlock(&sf->lock);
	pthread_join(sf->thread, NULL);
	persist_state_free(&sf->pending);
	pthread_mutex_destroy(&sf->lock);
	pthread_cond_destroy(&sf->cond);
	free(sf->path);
	free(sf);
}

void
statefile_get_stats(struct statefile *sf, struct statefile_stats *out)
{
	pthread_mutex_lock(&sf->lock);
	*out = sf->stats;
	pthread_mutex_unlock(&sf->lock);
}
