/*
 * fuse_reference: the yardstick for ukai's FFI layer. A single-threaded C
 * server on libfuse3's low-level API that exposes ONE backing file as the
 * regular file /NAME of its mount, with the options ffi/fuse_session.ts uses:
 * direct_io, 1 MiB max_read/max_write, max_background 128 (congestion 96),
 * async read and direct I/O, no splice, no writeback cache. Reads pread into
 * one buffer and reply from it; writes pwrite straight from the request.
 *
 * The same server can keep a second copy on a peer process over loopback TCP,
 * so the suite also measures what replication costs in C on this machine:
 * with --replicate PORT a write goes to the backing file and to the peer and
 * is answered when the peer acknowledges it (reads stay local); with --remote
 * PORT reads and writes go to the peer only. One connection, requests
 * pipelined, answered in order by a second thread. The peer
 * (--serve-copy) is single-threaded: pread/pwrite on its own backing file.
 *
 * Usage: fuse_reference BACKING_FILE MOUNTPOINT [NAME] [--replicate PORT | --remote PORT]
 *        fuse_reference --serve-copy BACKING_FILE PORT
 * Prints "mounted" (or "listening PORT"; port 0 lets the kernel choose) once
 * serving; SIGTERM or SIGINT unmounts and exits. Built and run by bench/fuse_layer_bench.ts and the suite.
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse3/fuse_lowlevel.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

/* The copy on a peer: how requests use it, and the connection to it. */
enum peer_use { PEER_NONE, PEER_REPLICATE, PEER_REMOTE };
static enum peer_use peer_use = PEER_NONE;
static int peer_fd = -1;

enum { OP_READ = 1, OP_WRITE = 2 };
/* A request to the peer, followed by the data of a write. */
struct peer_request {
	uint32_t op;
	uint32_t length;
	uint64_t offset;
};
/* The peer's answer: 0 or an errno, and the length of the data that follows (reads). */
struct peer_answer {
	uint32_t status;
	uint32_t length;
};

/* FUSE requests waiting for the peer, in the order they were sent. */
#define PENDING_MAX 4096
static struct pending {
	fuse_req_t req;
	uint32_t op;
	size_t size;
} pending[PENDING_MAX];
static size_t pending_head, pending_count;
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;

static int write_all(int fd, struct iovec *parts, int count)
{
	while (count > 0) {
		ssize_t done = writev(fd, parts, count);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (count > 0 && (size_t)done >= parts->iov_len) {
			done -= (ssize_t)parts->iov_len;
			parts++;
			count--;
		}
		if (count > 0) {
			parts->iov_base = (char *)parts->iov_base + done;
			parts->iov_len -= (size_t)done;
		}
	}
	return 0;
}

static int read_all(int fd, void *buffer, size_t size)
{
	size_t done = 0;
	while (done < size) {
		ssize_t count = read(fd, (char *)buffer + done, size - done);
		if (count < 0 && errno == EINTR)
			continue;
		if (count <= 0)
			return -1;
		done += (size_t)count;
	}
	return 0;
}

static int pwrite_all(int fd, const char *data, size_t size, off_t offset)
{
	size_t done = 0;
	while (done < size) {
		ssize_t count = pwrite(fd, data + done, size - done, offset + (off_t)done);
		if (count < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		done += (size_t)count;
	}
	return 0;
}

/* Queues `req` and sends its request (and `data`) to the peer; the answer thread replies. */
static void send_to_peer(fuse_req_t req, uint32_t op, const char *data, size_t size, off_t offset)
{
	pthread_mutex_lock(&pending_lock);
	if (pending_count == PENDING_MAX) {
		pthread_mutex_unlock(&pending_lock);
		fuse_reply_err(req, EAGAIN);
		return;
	}
	pending[(pending_head + pending_count) % PENDING_MAX] =
		(struct pending){ .req = req, .op = op, .size = size };
	pending_count++;
	pthread_mutex_unlock(&pending_lock);
	struct peer_request header = { .op = op, .length = (uint32_t)size, .offset = (uint64_t)offset };
	struct iovec parts[2] = {
		{ .iov_base = &header, .iov_len = sizeof(header) },
		{ .iov_base = (void *)data, .iov_len = op == OP_WRITE ? size : 0 },
	};
	if (write_all(peer_fd, parts, 2) != 0) {
		perror("send to peer");
		exit(1);
	}
}

/* The answer thread: replies to queued requests as the peer answers them, in order. */
static void *answer_peer(void *unused)
{
	(void)unused;
	static char data[MAX_TRANSFER];
	struct peer_answer answer;
	while (read_all(peer_fd, &answer, sizeof(answer)) == 0) {
		if (answer.length > sizeof(data) || read_all(peer_fd, data, answer.length) != 0)
			break;
		pthread_mutex_lock(&pending_lock);
		if (pending_count == 0) {
			pthread_mutex_unlock(&pending_lock);
			fprintf(stderr, "answer from the peer without a request\n");
			exit(1);
		}
		struct pending waiting = pending[pending_head];
		pending_head = (pending_head + 1) % PENDING_MAX;
		pending_count--;
		pthread_mutex_unlock(&pending_lock);
		if (answer.status != 0)
			fuse_reply_err(waiting.req, (int)answer.status);
		else if (waiting.op == OP_WRITE)
			fuse_reply_write(waiting.req, waiting.size);
		else
			fuse_reply_buf(waiting.req, data, answer.length);
	}
	return NULL;
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1;
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}

static struct sockaddr_in loopback(const char *port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return address;
}

/* The peer: serves one connection's reads and writes on BACKING_FILE until it closes. */
static int serve_copy(const char *backing, const char *port)
{
	int fd = open(backing, O_RDWR | O_CLOEXEC);
	int listener = tcp_socket();
	int on = 1;
	struct sockaddr_in address = loopback(port);
	if (fd == -1 || listener == -1) {
		perror("serve-copy");
		return 1;
	}
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 1) != 0) {
		perror("listen");
		return 1;
	}
	socklen_t length = sizeof(address);
	getsockname(listener, (struct sockaddr *)&address, &length);
	printf("listening %d\n", ntohs(address.sin_port));
	fflush(stdout);
	int connection = accept(listener, NULL, NULL);
	if (connection == -1) {
		perror("accept");
		return 1;
	}
	setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	static char data[MAX_TRANSFER];
	struct peer_request request;
	while (read_all(connection, &request, sizeof(request)) == 0 && request.length <= sizeof(data)) {
		struct peer_answer answer = { 0, 0 };
		if (request.op == OP_WRITE) {
			if (read_all(connection, data, request.length) != 0)
				break;
			answer.status = (uint32_t)pwrite_all(fd, data, request.length, (off_t)request.offset);
		} else {
			ssize_t count = pread(fd, data, request.length, (off_t)request.offset);
			if (count < 0)
				answer.status = (uint32_t)errno;
			else
				answer.length = (uint32_t)count;
		}
		struct iovec parts[2] = {
			{ .iov_base = &answer, .iov_len = sizeof(answer) },
			{ .iov_base = data, .iov_len = answer.length },
		};
		if (write_all(connection, parts, 2) != 0)
			break;
	}
	return 0;
}

static int connect_peer(const char *port)
{
	struct sockaddr_in address = loopback(port);
	peer_fd = tcp_socket();
	if (peer_fd == -1 || connect(peer_fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		perror("connect to the peer");
		return -1;
	}
	return 0;
}

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
	if (peer_use == PEER_REMOTE) {
		send_to_peer(req, OP_READ, NULL, size, offset);
		return;
	}
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
	if (peer_use != PEER_REMOTE) {
		int error = pwrite_all(backing_fd, data, size, offset);
		if (error != 0) {
			fuse_reply_err(req, error);
			return;
		}
	}
	if (peer_use == PEER_NONE)
		fuse_reply_write(req, size);
	else
		send_to_peer(req, OP_WRITE, data, size, offset);
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
	if (argc == 4 && strcmp(argv[1], "--serve-copy") == 0)
		return serve_copy(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[4], "--replicate") == 0)
		peer_use = PEER_REPLICATE;
	else if (argc == 6 && strcmp(argv[4], "--remote") == 0)
		peer_use = PEER_REMOTE;
	else if (argc < 3 || argc > 4) {
		fprintf(stderr,
			"usage: %s BACKING_FILE MOUNTPOINT [NAME] [--replicate PORT | --remote PORT]\n"
			"       %s --serve-copy BACKING_FILE PORT\n",
			argv[0], argv[0]);
		return 2;
	}
	if (argc >= 4)
		file_name = argv[3];
	pthread_t answers;
	if (peer_use != PEER_NONE) {
		if (connect_peer(argv[5]) != 0 || pthread_create(&answers, NULL, answer_peer, NULL) != 0)
			return 1;
	}
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
	if (peer_use != PEER_NONE) {
		shutdown(peer_fd, SHUT_RDWR);
		pthread_join(answers, NULL);
	}
	return status;
}
