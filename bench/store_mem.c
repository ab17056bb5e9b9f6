/* Memory of the store's per-session mailbox view (store/store.h):
 *   store_mem <dir> <messages> <opens>
 * builds a Maildir of <messages> messages below <dir> (reused if it is
 * there), opens it once to build the index, then keeps <opens> views of it
 * open at the same time and prints the heap (mallinfo2) and resident
 * (statm) growth per view and per message. `make bench-store-mem`. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static long rss_bytes(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * sysconf(_SC_PAGESIZE);
}

static int build(const char *dir, long n)
{
	char err[256], p[4096];
	if (store_maildir_create(dir, err, sizeof err) < 0) {
		fprintf(stderr, "create: %s\n", err);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/new/1700000000.M%06ldP4242Q%ld.bench.example.org",
			 dir, i, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return -1;
		static const char body[] = "From: a@example.org\nSubject: x\n\nbody\n";
		if (write(fd, body, sizeof body - 1) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: store_mem dir messages opens\n");
		return 2;
	}
	const char *dir = argv[1];
	long n = atol(argv[2]), opens = atol(argv[3]);
	char err[256], idx[4096];
	snprintf(idx, sizeof idx, "%s/postern-index", dir);
	struct stat st;
	struct mailbox *mb = NULL;
	if (stat(idx, &st) < 0) {
		if (build(dir, n) < 0) {
			perror("build");
			return 1;
		}
		/* The first open names the files and writes the index; the
		 * directory times it records are trusted only once they are
		 * a few seconds old (store_int.h: STORE_MTIME_SLACK_SEC), so
		 * a second open later writes the index a settled mailbox
		 * has, and the views below load it without a scan. */
		if (store_mailbox_open(dir, &mb, err, sizeof err) < 0) {
			fprintf(stderr, "open: %s\n", err);
			return 1;
		}
		store_mailbox_close(&mb);
		sleep(3);
	}
	if (store_mailbox_open(dir, &mb, err, sizeof err) < 0) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	size_t count = store_mailbox_count(mb);
	store_mailbox_close(&mb);
	malloc_trim(0);

	struct mailbox **v = calloc((size_t)opens, sizeof *v);
	struct mallinfo2 a = mallinfo2();
	long r0 = rss_bytes();
	for (long i = 0; i < opens; i++) {
		if (store_mailbox_open(dir, &v[i], err, sizeof err) < 0) {
			fprintf(stderr, "open: %s\n", err);
			return 1;
		}
	}
	malloc_trim(0);
	struct mallinfo2 b = mallinfo2();
	long r1 = rss_bytes();
	double heap = (double)(b.uordblks + b.hblkhd) -
		      (double)(a.uordblks + a.hblkhd);
	double rss = (double)(r1 - r0);
	printf("messages=%zu opens=%ld heap_per_view=%.0f heap_per_msg=%.1f "
	       "rss_per_view=%.0f rss_per_msg=%.1f\n",
	       count, opens, heap / (double)opens,
	       heap / (double)opens / (double)(count ? count : 1),
	       rss / (double)opens,
	       rss / (double)opens / (double)(count ? count : 1));
	for (long i = 0; i < opens; i++)
		store_mailbox_close(&v[i]);
	free(v);
	return 0;
}
