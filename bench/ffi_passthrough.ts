/**
 * ffi_passthrough: the same filesystem as bench/fuse_reference.c — one
 * backing file exposed as the regular file /NAME — served by ukai's ffi layer,
 * so that comparing the two measures the layer's own overhead. Reads pread
 * into one buffer and reply from it; writes pwrite straight from the receive
 * buffer. Both are synchronous libc calls through ffi/libc.ts.
 *
 * Usage: deno run --allow-all bench/ffi_passthrough.ts BACKING_FILE MOUNTPOINT [NAME]
 * Prints "mounted" once serving; SIGTERM or SIGINT unmounts and exits.
 * Started by bench/fuse_layer_bench.ts.
 *
 * @module
 */

import { Errno } from "../ffi/errno.ts";
import {
  fdatasync,
  fstat,
  fsync,
  openFile,
  OpenFlags,
  pread,
  pwrite,
  statvfs,
} from "../ffi/libc.ts";
import type { FuseOperations } from "../ffi/fuse_operations.ts";
import type {
  AttributesRequest,
  EntryRequest,
  OpenRequest,
  ReadRequest,
  StatfsRequest,
  StatusRequest,
  WriteRequest,
} from "../ffi/fuse_request.ts";
import { FuseSession } from "../ffi/fuse_session.ts";
import type { FileAttributes } from "../ffi/fuse_types.ts";
import { MAX_TRANSFER_BYTES } from "../ffi/fuse_layout.ts";

const ROOT_INODE = 1;
const FILE_INODE = 2;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** One backing file served as `/name`. */
class Passthrough implements FuseOperations {
  readonly #readBuffer = new Uint8Array(MAX_TRANSFER_BYTES);

  constructor(readonly fd: number, readonly name: string, readonly backingPath: string) {}

  #attributes(inode: number): FileAttributes | undefined {
    if (inode === ROOT_INODE) {
      return {
        inode,
        mode: S_IFDIR | 0o755,
        nlink: 2,
        uid: 0,
        gid: 0,
        size: 0,
        blocks: 0,
        atimeMs: 0,
        mtimeMs: 0,
        ctimeMs: 0,
      };
    }
    if (inode !== FILE_INODE) return undefined;
    const stat = fstat(this.fd);
    return {
      inode,
      mode: S_IFREG | 0o644,
      nlink: 1,
      uid: 0,
      gid: 0,
      size: stat.size,
      blocks: stat.sectors,
      atimeMs: 0,
      mtimeMs: 0,
      ctimeMs: 0,
    };
  }

  lookup(request: EntryRequest, parent: number, name: string): void {
    const attributes = parent === ROOT_INODE && name === this.name
      ? this.#attributes(FILE_INODE)
      : undefined;
    if (attributes === undefined) return request.error(Errno.ENOENT);
    request.entry({ inode: FILE_INODE, attributes });
  }

  getattr(request: AttributesRequest, inode: number): void {
    const attributes = this.#attributes(inode);
    if (attributes === undefined) return request.error(Errno.ENOENT);
    request.attributes(attributes);
  }

  open(request: OpenRequest, inode: number): void {
    if (inode !== FILE_INODE) return request.error(Errno.EISDIR);
    request.open({ directIo: true });
  }

  read(request: ReadRequest, _inode: number, _fileHandle: number, offset: number): void {
    const count = pread(this.fd, this.#readBuffer.subarray(0, request.size), offset);
    request.data(this.#readBuffer.subarray(0, count));
  }

  write(
    request: WriteRequest,
    _inode: number,
    _fileHandle: number,
    data: Uint8Array<ArrayBuffer>,
    offset: number,
  ): void {
    pwrite(this.fd, data, offset);
    request.written(data.length);
  }

  async fsync(
    request: StatusRequest,
    _inode: number,
    _fileHandle: number,
    dataOnly: boolean,
  ): Promise<void> {
    await (dataOnly ? fdatasync(this.fd) : fsync(this.fd));
    request.ok();
  }

  release(request: StatusRequest): void {
    request.ok();
  }

  statfs(request: StatfsRequest): void {
    request.statfs(statvfs(this.backingPath));
  }
}

const [backingPath, mountPoint, name = "disk"] = Deno.args;
if (backingPath === undefined || mountPoint === undefined) {
  console.error("usage: ffi_passthrough.ts BACKING_FILE MOUNTPOINT [NAME]");
  Deno.exit(2);
}
const fd = openFile(backingPath, OpenFlags.RDWR);
const session = await FuseSession.mount(mountPoint, new Passthrough(fd, name, backingPath), {
  fsName: "ffi_passthrough",
  subtype: "ffi_passthrough",
});
const stop = () => void session.unmount({ busyTimeoutMs: 5000 });
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
await Deno.stdout.write(new TextEncoder().encode("mounted\n"));
await session.closed;
Deno.removeSignalListener("SIGTERM", stop);
Deno.removeSignalListener("SIGINT", stop);
