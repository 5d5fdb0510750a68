/*
 * Prints the sizes, offsets, slot indexes and constants that ffi/fuse_layout.ts
 * declares, as the C compiler sees them through <fuse3/fuse_lowlevel.h>, one
 * "group.field value" line each. Built and run by ffi/fuse_layout_test.ts.
 */
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#define SIZE(group, type) printf("%s.byteLength %zu\n", group, sizeof(type))
#define FIELD(group, type, name, member) \
	printf("%s.%s %zu\n", group, name, offsetof(type, member))
#define SLOT(name, member) \
	printf("operationSlot.%s %zu\n", name, \
	       offsetof(struct fuse_lowlevel_ops, member) / sizeof(void *))
#define VALUE(group, name, value) printf("%s.%s %lld\n", group, name, (long long)(value))

/* Where a one-bit field of fuse_file_info lands: `fi` had only that field set.
   Returns the offset of the aligned 32-bit word holding its first set byte and
   stores the word's value in *mask; returns -1 if any byte outside that word
   is set. */
static long bit_word(const struct fuse_file_info *fi, uint32_t *mask)
{
	const unsigned char *bytes = (const unsigned char *)fi;
	size_t first = 0;
	while (first < sizeof(*fi) && bytes[first] == 0)
		first++;
	size_t word = first & ~(size_t)3;
	for (size_t i = 0; i < sizeof(*fi); i++)
		if (bytes[i] != 0 && (i < word || i >= word + 4))
			return -1;
	memcpy(mask, bytes + word, sizeof(*mask));
	return (long)word;
}

/* Prints the mask a one-bit field sets in the word at `fileInfo.bitfield`
   (-1 if it lands anywhere else). */
#define BIT(name, member) do { \
	struct fuse_file_info fi; \
	uint32_t mask = 0; \
	memset(&fi, 0, sizeof(fi)); \
	fi.member = 1; \
	long word = bit_word(&fi, &mask); \
	printf("fileInfoBits.%s %lld\n", name, word == bitfield ? (long long)mask : -1LL); \
} while (0)

int main(void)
{
	SIZE("stat", struct stat);
	FIELD("stat", struct stat, "dev", st_dev);
	FIELD("stat", struct stat, "ino", st_ino);
	FIELD("stat", struct stat, "nlink", st_nlink);
	FIELD("stat", struct stat, "mode", st_mode);
	FIELD("stat", struct stat, "uid", st_uid);
	FIELD("stat", struct stat, "gid", st_gid);
	FIELD("stat", struct stat, "rdev", st_rdev);
	FIELD("stat", struct stat, "size", st_size);
	FIELD("stat", struct stat, "blksize", st_blksize);
	FIELD("stat", struct stat, "blocks", st_blocks);
	FIELD("stat", struct stat, "atime", st_atim);
	FIELD("stat", struct stat, "mtime", st_mtim);
	FIELD("stat", struct stat, "ctime", st_ctim);

	SIZE("timespec", struct timespec);
	FIELD("timespec", struct timespec, "sec", tv_sec);
	FIELD("timespec", struct timespec, "nsec", tv_nsec);

	SIZE("statvfs", struct statvfs);
	FIELD("statvfs", struct statvfs, "bsize", f_bsize);
	FIELD("statvfs", struct statvfs, "frsize", f_frsize);
	FIELD("statvfs", struct statvfs, "blocks", f_blocks);
	FIELD("statvfs", struct statvfs, "bfree", f_bfree);
	FIELD("statvfs", struct statvfs, "bavail", f_bavail);
	FIELD("statvfs", struct statvfs, "files", f_files);
	FIELD("statvfs", struct statvfs, "ffree", f_ffree);
	FIELD("statvfs", struct statvfs, "favail", f_favail);
	FIELD("statvfs", struct statvfs, "fsid", f_fsid);
	FIELD("statvfs", struct statvfs, "flag", f_flag);
	FIELD("statvfs", struct statvfs, "namemax", f_namemax);

	SIZE("fileInfo", struct fuse_file_info);
	FIELD("fileInfo", struct fuse_file_info, "flags", flags);
	struct fuse_file_info probe;
	uint32_t ignored;
	memset(&probe, 0, sizeof(probe));
	probe.writepage = 1;
	long bitfield = bit_word(&probe, &ignored);
	printf("fileInfo.bitfield %ld\n", bitfield);
	FIELD("fileInfo", struct fuse_file_info, "fh", fh);
	FIELD("fileInfo", struct fuse_file_info, "lockOwner", lock_owner);
	FIELD("fileInfo", struct fuse_file_info, "pollEvents", poll_events);

	BIT("writepage", writepage);
	BIT("directIo", direct_io);
	BIT("keepCache", keep_cache);
	BIT("flush", flush);
	BIT("nonseekable", nonseekable);
	BIT("flockRelease", flock_release);
	BIT("cacheReaddir", cache_readdir);
	BIT("noflush", noflush);

	SIZE("entryParam", struct fuse_entry_param);
	FIELD("entryParam", struct fuse_entry_param, "ino", ino);
	FIELD("entryParam", struct fuse_entry_param, "generation", generation);
	FIELD("entryParam", struct fuse_entry_param, "attr", attr);
	FIELD("entryParam", struct fuse_entry_param, "attrTimeout", attr_timeout);
	FIELD("entryParam", struct fuse_entry_param, "entryTimeout", entry_timeout);

	SIZE("connInfo", struct fuse_conn_info);
	FIELD("connInfo", struct fuse_conn_info, "protoMajor", proto_major);
	FIELD("connInfo", struct fuse_conn_info, "protoMinor", proto_minor);
	FIELD("connInfo", struct fuse_conn_info, "maxWrite", max_write);
	FIELD("connInfo", struct fuse_conn_info, "maxRead", max_read);
	FIELD("connInfo", struct fuse_conn_info, "maxReadahead", max_readahead);
	FIELD("connInfo", struct fuse_conn_info, "capable", capable);
	FIELD("connInfo", struct fuse_conn_info, "want", want);
	FIELD("connInfo", struct fuse_conn_info, "maxBackground", max_background);
	FIELD("connInfo", struct fuse_conn_info, "congestionThreshold", congestion_threshold);
	FIELD("connInfo", struct fuse_conn_info, "timeGran", time_gran);

	SIZE("buf", struct fuse_buf);
	FIELD("buf", struct fuse_buf, "size", size);
	FIELD("buf", struct fuse_buf, "flags", flags);
	FIELD("buf", struct fuse_buf, "mem", mem);
	FIELD("buf", struct fuse_buf, "fd", fd);
	FIELD("buf", struct fuse_buf, "pos", pos);

	SIZE("ctx", struct fuse_ctx);
	FIELD("ctx", struct fuse_ctx, "uid", uid);
	FIELD("ctx", struct fuse_ctx, "gid", gid);
	FIELD("ctx", struct fuse_ctx, "pid", pid);
	FIELD("ctx", struct fuse_ctx, "umask", umask);

	SIZE("args", struct fuse_args);
	FIELD("args", struct fuse_args, "argc", argc);
	FIELD("args", struct fuse_args, "argv", argv);
	FIELD("args", struct fuse_args, "allocated", allocated);

	SIZE("forgetData", struct fuse_forget_data);
	FIELD("forgetData", struct fuse_forget_data, "ino", ino);
	FIELD("forgetData", struct fuse_forget_data, "nlookup", nlookup);
	SIZE("iovec", struct iovec);
	FIELD("iovec", struct iovec, "base", iov_base);
	FIELD("iovec", struct iovec, "length", iov_len);

	SLOT("init", init);
	SLOT("destroy", destroy);
	SLOT("lookup", lookup);
	SLOT("forget", forget);
	SLOT("getattr", getattr);
	SLOT("setattr", setattr);
	SLOT("readlink", readlink);
	SLOT("mknod", mknod);
	SLOT("mkdir", mkdir);
	SLOT("unlink", unlink);
	SLOT("rmdir", rmdir);
	SLOT("symlink", symlink);
	SLOT("rename", rename);
	SLOT("link", link);
	SLOT("open", open);
	SLOT("read", read);
	SLOT("write", write);
	SLOT("flush", flush);
	SLOT("release", release);
	SLOT("fsync", fsync);
	SLOT("opendir", opendir);
	SLOT("readdir", readdir);
	SLOT("releasedir", releasedir);
	SLOT("fsyncdir", fsyncdir);
	SLOT("statfs", statfs);
	SLOT("setxattr", setxattr);
	SLOT("getxattr", getxattr);
	SLOT("listxattr", listxattr);
	SLOT("removexattr", removexattr);
	SLOT("access", access);
	SLOT("create", create);
	SLOT("getlk", getlk);
	SLOT("setlk", setlk);
	SLOT("bmap", bmap);
	SLOT("ioctl", ioctl);
	SLOT("poll", poll);
	SLOT("writeBuf", write_buf);
	SLOT("retrieveReply", retrieve_reply);
	SLOT("forgetMulti", forget_multi);
	SLOT("flock", flock);
	SLOT("fallocate", fallocate);
	SLOT("readdirplus", readdirplus);
	SLOT("copyFileRange", copy_file_range);
	SLOT("lseek", lseek);

	SIZE("lowlevelOps", struct fuse_lowlevel_ops);
	printf("lowlevelOps.slotBytes %zu\n", sizeof(void *));

	VALUE("capability", "asyncRead", FUSE_CAP_ASYNC_READ);
	VALUE("capability", "posixLocks", FUSE_CAP_POSIX_LOCKS);
	VALUE("capability", "atomicOTrunc", FUSE_CAP_ATOMIC_O_TRUNC);
	VALUE("capability", "exportSupport", FUSE_CAP_EXPORT_SUPPORT);
	VALUE("capability", "dontMask", FUSE_CAP_DONT_MASK);
	VALUE("capability", "spliceWrite", FUSE_CAP_SPLICE_WRITE);
	VALUE("capability", "spliceMove", FUSE_CAP_SPLICE_MOVE);
	VALUE("capability", "spliceRead", FUSE_CAP_SPLICE_READ);
	VALUE("capability", "flockLocks", FUSE_CAP_FLOCK_LOCKS);
	VALUE("capability", "ioctlDir", FUSE_CAP_IOCTL_DIR);
	VALUE("capability", "autoInvalData", FUSE_CAP_AUTO_INVAL_DATA);
	VALUE("capability", "readdirplus", FUSE_CAP_READDIRPLUS);
	VALUE("capability", "readdirplusAuto", FUSE_CAP_READDIRPLUS_AUTO);
	VALUE("capability", "asyncDio", FUSE_CAP_ASYNC_DIO);
	VALUE("capability", "writebackCache", FUSE_CAP_WRITEBACK_CACHE);
	VALUE("capability", "noOpenSupport", FUSE_CAP_NO_OPEN_SUPPORT);
	VALUE("capability", "parallelDirops", FUSE_CAP_PARALLEL_DIROPS);
	VALUE("capability", "posixAcl", FUSE_CAP_POSIX_ACL);
	VALUE("capability", "handleKillpriv", FUSE_CAP_HANDLE_KILLPRIV);
	VALUE("capability", "cacheSymlinks", FUSE_CAP_CACHE_SYMLINKS);
	VALUE("capability", "noOpendirSupport", FUSE_CAP_NO_OPENDIR_SUPPORT);
	VALUE("capability", "explicitInvalData", FUSE_CAP_EXPLICIT_INVAL_DATA);
	VALUE("capability", "expireOnly", FUSE_CAP_EXPIRE_ONLY);

	VALUE("setAttr", "mode", FUSE_SET_ATTR_MODE);
	VALUE("setAttr", "uid", FUSE_SET_ATTR_UID);
	VALUE("setAttr", "gid", FUSE_SET_ATTR_GID);
	VALUE("setAttr", "size", FUSE_SET_ATTR_SIZE);
	VALUE("setAttr", "atime", FUSE_SET_ATTR_ATIME);
	VALUE("setAttr", "mtime", FUSE_SET_ATTR_MTIME);
	VALUE("setAttr", "atimeNow", FUSE_SET_ATTR_ATIME_NOW);
	VALUE("setAttr", "mtimeNow", FUSE_SET_ATTR_MTIME_NOW);
	VALUE("setAttr", "force", FUSE_SET_ATTR_FORCE);
	VALUE("setAttr", "ctime", FUSE_SET_ATTR_CTIME);
	VALUE("setAttr", "killSuid", FUSE_SET_ATTR_KILL_SUID);
	VALUE("setAttr", "killSgid", FUSE_SET_ATTR_KILL_SGID);
	VALUE("setAttr", "file", FUSE_SET_ATTR_FILE);
	VALUE("setAttr", "killPriv", FUSE_SET_ATTR_KILL_PRIV);
	VALUE("setAttr", "open", FUSE_SET_ATTR_OPEN);
	VALUE("setAttr", "timesSet", FUSE_SET_ATTR_TIMES_SET);
	VALUE("setAttr", "touch", FUSE_SET_ATTR_TOUCH);
	return 0;
}
