/*
 * fuse_reference: the yardstick for ukai's FFI layer. A single-threaded C
 * server on libfuse3's low-level API that exposes ONE backing file as the
 * regular file /NAME of its mount, with the options ffi/fuse_session.ts uses:
 * direct_io, 1 MiB max_read/max_write, max_background 128 (congestion 96),
 * async read and direct I/O, no splice, no writeback cache. Reads pread into
 * one buffer and reply from it; writes pwrite straight from the request.
 *
 * Usage: fuse_reference BACKING_FILE MOUNTPOINT [NAME]
 * Prints "mounted" once serving; SIGTERM or SIGINT unmounts and exits.
 * Built and run by bench/fuse_layer_bench.ts.
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse3/fuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ROOT_INODE 1
#define FILE_INODE 2
#define MAX_TRANSFER (1024 * 1024)
#define MAX_BACKGROUND 128

static int backing_fd = -1;
static const char *file_name = "disk";
static char read_buffer[MAX_TRANSFER];

static int fill_attributes(fuse_ino_t inode, struct stat *attributes)
{
	memset(attributes, 0, sizeof(*attributes));
	attributes->st_ino = inode;
	if (inode == ROOT_INODE) {
		attributes->st_mode = S_IFDIR | 0755;
		attributes->st_nlink = 2;
		return 0;
	}
	if (inode != FILE_INODE)
		return ENOENT;
	struct stat backing;
	if (fstat(backing_fd, &backing) == -1)
		return errno;
	attributes->st_mode = S_IFREG | 0644;
	attributes->st_nlink = 1;
	attributes->st_size = backing.st_size;
	attributes->st_blocks = backing.st_blocks;
	attributes->st_atim = backing.st_atim;
	attributes->st_mtim = backing.st_mtim;
	attributes->st_ctim = backing.st_ctim;
	return 0;
}

static void on_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want |= conn->capable & (FUSE_CAP_ASYNC_READ | FUSE_CAP_ASYNC_DIO);
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	conn->max_read = MAX_TRANSFER;
	conn->max_background = MAX_BACKGROUND;
	conn->congestion_threshold = MAX_BACKGROUND * 3 / 4;
}

static void on_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param entry;
	memset(&entry, 0, sizeof(entry));
	if (parent != ROOT_INODE || strcmp(name, file_name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int error = fill_attributes(FILE_INODE, &entry.attr);
	if (error != 0) {
		fuse_reply_err(req, error);
		return;
	}
	entry.ino = FILE_INODE;
	entry.attr_timeout = 1.0;
	entry.entry_timeout = 1.0;
	fuse_reply_entry(req, &entry);
}

static void on_getattr(fuse_req_t req, fuse_ino_t inode, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat attributes;
	int error = fill_attributes(inode, &attributes);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_attr(req, &attributes, 1.0);
}

static void on_open(fuse_req_t req, fuse_ino_t inode, struct fuse_file_info *fi)
{
	if (inode != FILE_INODE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void on_read(fuse_req_t req, fuse_ino_t inode, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	(void)inode;
	(void)fi;
	if (size > sizeof(read_buffer))
		size = sizeof(read_buffer);
	ssize_t count = pread(backing_fd, read_buffer, size, offset);
	if (count < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, read_buffer, (size_t)count);
}

static void on_write(fuse_req_t req, fuse_ino_t inode, const char *data, size_t size,
		     off_t offset, struct fuse_file_info *fi)
{
	(void)inode;
	(void)fi;
	size_t done = 0;
	while (done < size) {
		ssize_t count = pwrite(backing_fd, data + done, size - done, offset + (off_t)done);
		if (count < 0) {
			if (errno == EINTR)
				continue;
			fuse_reply_err(req, errno);
			return;
		}
		done += (size_t)count;
	}
	fuse_reply_write(req, done);
}

static void on_fsync(fuse_req_t req, fuse_ino_t inode, int datasync, struct fuse_file_info *fi)
{
	(void)inode;
	(void)fi;
	int result = datasync ? fdatasync(backing_fd) : fsync(backing_fd);
	fuse_reply_err(req, result == 0 ? 0 : errno);
}

static void on_release(fuse_req_t req, fuse_ino_t inode, struct fuse_file_info *fi)
{
	(void)inode;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void on_statfs(fuse_req_t req, fuse_ino_t inode)
{
	(void)inode;
	struct statvfs capacity;
	if (fstatvfs(backing_fd, &capacity) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &capacity);
}

static const struct fuse_lowlevel_ops operations = {
	.init = on_init,
	.lookup = on_lookup,
	.getattr = on_getattr,
	.open = on_open,
	.read = on_read,
	.write = on_write,
	.fsync = on_fsync,
	.release = on_release,
	.statfs = on_statfs,
};

int main(int argc, char *argv[])
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s BACKING_FILE MOUNTPOINT [NAME]\n", argv[0]);
		return 2;
	}
	if (argc == 4)
		file_name = argv[3];
	backing_fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (backing_fd == -1) {
		perror(argv[1]);
		return 1;
	}

	char *fuse_argv[] = {
		argv[0], "-o",
		"fsname=fuse_reference,subtype=fuse_reference,max_read=1048576,"
		"allow_other,default_permissions",
		NULL,
	};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_session *session = fuse_session_new(&args, &operations, sizeof(operations), NULL);
	fuse_opt_free_args(&args);
	if (session == NULL)
		return 1;
	int status = 1;
	if (fuse_set_signal_handlers(session) != 0)
		goto destroy;
	if (fuse_session_mount(session, argv[2]) != 0)
		goto remove_handlers;
	printf("mounted\n");
	fflush(stdout);
	status = fuse_session_loop(session) == 0 ? 0 : 1;
	fuse_session_unmount(session);
remove_handlers:
	fuse_remove_signal_handlers(session);
destroy:
	fuse_session_destroy(session);
	close(backing_fd);
	return status;
}
