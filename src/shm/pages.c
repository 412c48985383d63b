/* SPDX-License-Identifier: MIT */
/*
 * pages.c - which pages back a store's segment files: 4 KiB ones, or the
 * 2 MiB ones of a tmpfs mounted with huge=always or huge=within_size.
 *
 * Huge pages matter to every process that maps a dataframe: mapping 1 GiB
 * takes 512 page faults instead of 262,144, and scans miss the TLB far
 * less. tmpfs gives a file huge pages when it is written with pwrite,
 * which is how builders fill segments (segment.c), only under huge=always
 * or huge=within_size (huge=advise needs a mapping that asked for them),
 * or when the system forces them (shmem_enabled "force"); "deny" turns
 * them off everywhere. With huge=within_size, a 2 MiB range of a file gets
 * a huge page only when the file's size covers all of it, so builders
 * size their segments in whole huge pages (builder.c asks
 * eau2_shm_seg_align).
 *
 * hugetlbfs is refused with an error that says what to use instead: its
 * files take no write(2) (segments, keys and descriptors are all written
 * that way), and its pages are reserved whole and never swapped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "shm/shm.h"

#define TMPFS_MAGIC_ 0x01021994
#define HUGETLBFS_MAGIC_ 0x958458f6
#define SMALL_PAGE 4096u

/* The first word of a sysfs file such as shmem_enabled, whose current
 * choice is in brackets: "always within_size advise [never] deny force". */
static int sysfs_choice(const char *path, char *out, size_t cap)
{
	char buf[256], *l, *r;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!r || (size_t)(r - l - 1) >= cap)
		return -1;
	memcpy(out, l + 1, (size_t)(r - l - 1));
	out[r - l - 1] = '\0';
	return 0;
}

static uint64_t pmd_size(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	/* A sane power of two, else the x86-64 and arm64 (4K granule) size. */
	if (v < SMALL_PAGE || v > (1ull << 30) || (v & (v - 1)))
		v = 2u << 20;
	return v;
}

/* The huge= option of the tmpfs mount holding the file system dev, from
 * /proc/self/mountinfo ("... MAJ:MIN ... - tmpfs SRC OPTS"); "" when the
 * mount has none, or the table cannot be read. */
static void tmpfs_huge_option(dev_t dev, char *out, size_t cap)
{
	char line[4096], want[32];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	out[0] = '\0';
	if (!f)
		return;
	snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
	while (fgets(line, sizeof(line), f)) {
		char *sep, *opt;

		/* Field 3 is MAJ:MIN: after the mount and parent ids. */
		if (!strstr(line, want) || !(sep = strstr(line, " - tmpfs ")))
			continue;
		for (opt = sep; (opt = strstr(opt, "huge=")); opt += 5) {
			if (opt[-1] != ',' && opt[-1] != ' ')
				continue;
			opt += 5;
			snprintf(out, cap, "%.*s", (int)strcspn(opt, ", \n"), opt);
			break;
		}
		break;
	}
	fclose(f);
}

int eau2_shm_pages(int dirfd, const char *dir, struct eau2_shm_pages *pg,
		   struct eau2_error *err)
{
	char huge[32] = "", sys[32] = "";
	struct statfs fs;
	struct stat st;

	pg->size = SMALL_PAGE;
	snprintf(pg->how, sizeof(pg->how), "4 KiB pages");
	if (fstatfs(dirfd, &fs) < 0 || fstat(dirfd, &st) < 0)
		return eau2_error_set(err, -errno, "store %s: %s", dir, strerror(errno));
	if ((unsigned long)fs.f_type == HUGETLBFS_MAGIC_)
		return eau2_error_set(err, -EINVAL,
				      "store %s is on hugetlbfs, which takes no write(2): put "
				      "the store on a tmpfs mounted with huge=within_size "
				      "instead (README: huge pages)", dir);
	if ((unsigned long)fs.f_type != TMPFS_MAGIC_)
		return 0;
	tmpfs_huge_option(st.st_dev, huge, sizeof(huge));
	sysfs_choice("/sys/kernel/mm/transparent_hugepage/shmem_enabled", sys, sizeof(sys));
	if (strcmp(sys, "deny") == 0)
		return 0;
	if (strcmp(sys, "force") == 0 || strcmp(huge, "always") == 0 ||
	    strcmp(huge, "within_size") == 0) {
		pg->size = pmd_size();
		snprintf(pg->how, sizeof(pg->how), "%llu KiB pages (tmpfs huge=%s)",
			 (unsigned long long)(pg->size >> 10), *huge ? huge : sys);
	}
	return 0;
}

uint64_t eau2_shm_seg_align(const struct eau2_store *db, uint64_t size)
{
	uint64_t p = db->pages.size;

	/* Small segments (a dataframe's first, of a few rows) stay small:
	 * rounding them up would take a whole huge page each. */
	if (p <= SMALL_PAGE || size < p / 2)
		return size;
	return (size + p - 1) & ~(p - 1);
}
