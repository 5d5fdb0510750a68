/**
 * A tiny in-memory filesystem for the ffi tests: a flat root directory of
 * regular files that can be read, written, truncated and hole-punched;
 * create, mknod, mkdir, unlink, rmdir, rename, link and symlink fail with
 * EPERM. It records what the kernel sent (request sizes, open flags, caller
 * pids, forgotten lookups, fsyncs, requests in flight) and can answer after a delay, so tests see
 * asynchronous, out-of-order replies.
 *
 * @module
 */

import { Errno } from "../errno.ts";
import { FallocateMode } from "../libc.ts";
import type { FuseOperations } from "../fuse_operations.ts";
import type {
  AttributesRequest,
  CreateRequest,
  EntryRequest,
  FuseRequest,
  OpenRequest,
  ReaddirRequest,
  ReadRequest,
  StatfsRequest,
  StatusRequest,
  WriteRequest,
} from "../fuse_request.ts";
import type { AttributeChanges, FileAttributes } from "../fuse_types.ts";

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ROOT = 1;
const PAGE = 4096;

/** How a {@link MemoryFs} behaves beyond plain storage. */
export interface MemoryFsOptions {
  /** Files in the root directory: name → initial contents. */
  files: Record<string, Uint8Array>;
  /** Delay before each read/write reply in ms (0: reply inside the callback). */
  replyDelayMs?: () => number;
  /** Awaited before a write is stored and answered (its payload must stay valid meanwhile). */
  writeGate?: (data: Uint8Array, offset: number) => Promise<void>;
  /** Names whose reads throw, to test the EIO guard. */
  failingReads?: string[];
  /**
   * Answer reads with `dataPieces`: an empty piece, then views of at most
   * this many bytes (default: one `data` reply).
   */
  readPieceBytes?: number;
}

interface MemoryFile {
  name: string;
  inode: number;
  data: Uint8Array<ArrayBuffer>;
  size: number;
  /** Indexes of 4 KiB pages that hold written data (for st_blocks). */
  pages: Set<number>;
}

/** The in-memory filesystem (see the module doc). */
export class MemoryFs implements FuseOperations {
  readonly files = new Map<number, MemoryFile>();
  /** Sizes of the READ requests received. */
  readonly readSizes: number[] = [];
  /** Sizes of the WRITE requests received. */
  readonly writeSizes: number[] = [];
  /** Open flags of every open. */
  readonly openFlags: number[] = [];
  /** Caller pids of every open. */
  readonly openPids: number[] = [];
  /** Arrival sequence numbers of read/write requests, in the order they were answered. */
  readonly replyOrder: number[] = [];
  /** Lookups the kernel gave back per inode (forget and forget_multi). */
  readonly forgotten = new Map<number, number>();
  /** fsync requests answered. */
  fsyncs = 0;
  /** Read/write requests received so far. */
  arrivals = 0;
  /** Read/write requests received and not answered yet. */
  inFlight = 0;
  /** The most read/write requests in flight at once. */
  maxInFlight = 0;
  readonly #options: MemoryFsOptions;

  constructor(options: MemoryFsOptions) {
    this.#options = options;
    let inode = ROOT + 1;
    for (const [name, contents] of Object.entries(options.files)) {
      const data = new Uint8Array(Math.max(contents.length, PAGE));
      data.set(contents);
      const pages = new Set<number>();
      for (let page = 0; page * PAGE < contents.length; page++) pages.add(page);
      this.files.set(inode, { name, inode, data, size: contents.length, pages });
      inode++;
    }
  }

  /** The current contents of file `name`. */
  contents(name: string): Uint8Array {
    const file = [...this.files.values()].find((candidate) => candidate.name === name);
    if (file === undefined) throw new Error(`no file ${name}`);
    return file.data.subarray(0, file.size);
  }

  #attributes(inode: number): FileAttributes | undefined {
    const now = Date.now();
    const common = { inode, uid: 0, gid: 0, atimeMs: now, mtimeMs: now, ctimeMs: now };
    if (inode === ROOT) return { ...common, mode: S_IFDIR | 0o755, nlink: 2, size: 0, blocks: 0 };
    const file = this.files.get(inode);
    if (file === undefined) return undefined;
    return {
      ...common,
      mode: S_IFREG | 0o666,
      nlink: 1,
      size: file.size,
      blocks: file.pages.size * 8,
    };
  }

  /** Answers `request` now or after the configured delay, keeping the in-flight count. */
  #answerLater(sequence: number, answer: () => void): void {
    const finish = () => {
      this.inFlight--;
      this.replyOrder.push(sequence);
      answer();
    };
    const delay = this.#options.replyDelayMs?.() ?? 0;
    if (delay > 0) setTimeout(finish, delay);
    else finish();
  }

  #arrive(): number {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return this.arrivals++;
  }

  lookup(request: EntryRequest, parent: number, name: string): void {
    const file = [...this.files.values()].find((candidate) => candidate.name === name);
    const attributes = file === undefined ? undefined : this.#attributes(file.inode);
    if (parent !== ROOT || attributes === undefined) return request.error(Errno.ENOENT);
    request.entry({ inode: attributes.inode, attributes });
  }

  forget(inode: number, lookups: number): void {
    this.forgotten.set(inode, (this.forgotten.get(inode) ?? 0) + lookups);
  }

  getattr(request: AttributesRequest, inode: number): void {
    const attributes = this.#attributes(inode);
    if (attributes === undefined) return request.error(Errno.ENOENT);
    request.attributes(attributes);
  }

  setattr(request: AttributesRequest, inode: number, changes: AttributeChanges): void {
    const file = this.files.get(inode);
    if (file === undefined) return request.error(Errno.ENOENT);
    if (changes.size !== undefined) this.#resize(file, changes.size);
    request.attributes(this.#attributes(inode)!);
  }

  open(request: OpenRequest, inode: number, flags: number): void {
    this.openFlags.push(flags);
    this.openPids.push(request.credentials.pid);
    if (!this.files.has(inode)) return request.error(Errno.ENOENT);
    request.open({ fileHandle: inode * 10, directIo: true });
  }

  read(request: ReadRequest, inode: number, fileHandle: number, offset: number): void {
    const file = this.files.get(inode);
    if (file === undefined || fileHandle !== inode * 10) return request.error(Errno.EBADF);
    if (this.#options.failingReads?.includes(file.name)) throw new Error("planted read failure");
    this.readSizes.push(request.size);
    const sequence = this.#arrive();
    this.#answerLater(sequence, () => {
      const end = Math.min(file.size, offset + request.size);
      const bytes = file.data.subarray(Math.min(offset, end), end);
      const pieceBytes = this.#options.readPieceBytes;
      if (pieceBytes === undefined) return request.data(bytes);
      const pieces = [bytes.subarray(0, 0)];
      for (let start = 0; start < bytes.length; start += pieceBytes) {
        pieces.push(bytes.subarray(start, start + pieceBytes));
      }
      request.dataPieces(pieces);
    });
  }

  async write(
    request: WriteRequest,
    inode: number,
    _fileHandle: number,
    data: Uint8Array<ArrayBuffer>,
    offset: number,
  ): Promise<void> {
    const file = this.files.get(inode);
    if (file === undefined) return request.error(Errno.EBADF);
    this.writeSizes.push(data.length);
    const sequence = this.#arrive();
    await this.#options.writeGate?.(data, offset);
    this.#answerLater(sequence, () => {
      if (offset + data.length > file.size) this.#resize(file, offset + data.length);
      file.data.set(data, offset);
      for (let page = Math.floor(offset / PAGE); page * PAGE < offset + data.length; page++) {
        file.pages.add(page);
      }
      request.written(data.length);
    });
  }

  flush(request: StatusRequest): void {
    request.ok();
  }

  fsync(request: StatusRequest): void {
    this.fsyncs++;
    request.ok();
  }

  release(request: StatusRequest): void {
    request.ok();
  }

  opendir(request: OpenRequest, inode: number): void {
    if (inode !== ROOT) return request.error(Errno.ENOTDIR);
    request.open({ fileHandle: 1 });
  }

  readdir(request: ReaddirRequest, _inode: number, _fileHandle: number, offset: number): void {
    const entries: [string, number, number][] = [
      [".", ROOT, S_IFDIR],
      ["..", ROOT, S_IFDIR],
      ...[...this.files.values()].map((
        file,
      ): [string, number, number] => [file.name, file.inode, S_IFREG]),
    ];
    const listing = request.listing();
    for (let index = offset; index < entries.length; index++) {
      const [name, inode, mode] = entries[index]!;
      if (!listing.add(name, inode, mode, index + 1)) break;
    }
    request.entries(listing);
  }

  releasedir(request: StatusRequest): void {
    request.ok();
  }

  statfs(request: StatfsRequest): void {
    let used = 0;
    for (const file of this.files.values()) used += file.pages.size;
    request.statfs({
      blockSize: PAGE,
      fragmentSize: PAGE,
      blocks: 1 << 20,
      blocksFree: (1 << 20) - used,
      blocksAvailable: (1 << 20) - used,
      files: 100,
      filesFree: 100 - this.files.size,
      nameMax: 255,
    });
  }

  fallocate(
    request: StatusRequest,
    inode: number,
    _fileHandle: number,
    mode: number,
    offset: number,
    length: number,
  ): void {
    const file = this.files.get(inode);
    if (file === undefined) return request.error(Errno.EBADF);
    if (mode !== (FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE)) {
      return request.error(Errno.EOPNOTSUPP);
    }
    const end = Math.min(file.size, offset + length);
    file.data.fill(0, offset, end);
    for (let page = Math.ceil(offset / PAGE); (page + 1) * PAGE <= end; page++) {
      file.pages.delete(page);
    }
    request.ok();
  }

  create(request: CreateRequest): void {
    request.error(Errno.EPERM);
  }

  mknod(request: EntryRequest): void {
    request.error(Errno.EPERM);
  }

  mkdir(request: EntryRequest): void {
    request.error(Errno.EPERM);
  }

  unlink(request: StatusRequest): void {
    request.error(Errno.EPERM);
  }

  rmdir(request: StatusRequest): void {
    request.error(Errno.EPERM);
  }

  rename(request: StatusRequest): void {
    request.error(Errno.EPERM);
  }

  link(request: EntryRequest): void {
    request.error(Errno.EPERM);
  }

  symlink(request: FuseRequest): void {
    request.error(Errno.EPERM);
  }

  #resize(file: MemoryFile, size: number): void {
    if (size > file.data.length) {
      const grown = new Uint8Array(Math.max(size, file.data.length * 2));
      grown.set(file.data.subarray(0, file.size));
      file.data = grown;
    } else if (size < file.size) {
      file.data.fill(0, size, file.size);
      for (const page of file.pages) if (page * PAGE >= size) file.pages.delete(page);
    }
    file.size = size;
  }
}
