/**
 * Tests of the image filesystem's name lookup against a metadata store that
 * trails the group, and of its read buffers (the FUSE mounts themselves are
 * tested end to end).
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import type { Engine } from "../engine/engine.ts";
import { Errno } from "../ffi/errno.ts";
import type { EntryReply } from "../ffi/fuse_types.ts";
import type { FuseRequest } from "../ffi/fuse_request.ts";
import { type Command, MemoryMetaStore, type MetaStore } from "../meta/mod.ts";
import { ImageFilesystem } from "./image_filesystem.ts";

const ADD_NODE: Command = {
  type: "node.add",
  id: "n1",
  address: "127.0.0.1:1",
  zone: "z",
  role: "voter",
};
const CREATE: Command = {
  type: "image.create",
  name: "vm",
  size: 1 << 20,
  blockSize: 1 << 16,
  locations: ["n1"],
  hypervisors: [],
  createdAtMs: 0,
};

/** A node that has not yet applied what `ahead` has, until `sync()` (or for good, when `stuck`). */
function trailingStore(ahead: MemoryMetaStore, stuck: boolean) {
  const behind = new MemoryMetaStore();
  let caughtUp = false;
  let syncs = 0;
  const store: MetaStore = {
    propose: (command) => ahead.propose(command),
    state: () => (caughtUp ? ahead : behind).state(),
    appliedIndex: () => (caughtUp ? ahead : behind).appliedIndex(),
    sync: () => {
      syncs++;
      if (stuck) return Promise.reject(new Error("no quorum"));
      caughtUp = true;
      return Promise.resolve();
    },
    watch: (listener) => ahead.watch(listener),
  };
  return { store, syncs: () => syncs };
}

function filesystem(meta: MetaStore, engine = {} as Engine): ImageFilesystem {
  return new ImageFilesystem({
    engine,
    meta,
    logger: silentLogger,
    defaults: { mode: 0o660, uid: 0, gid: 0 },
    capacity: () => ({ totalBytes: 0, availableBytes: 0, freeBytes: 0 }),
    allocatedBytes: () => 0,
    now: () => 0,
  });
}

/** Runs a lookup and returns what it replied. */
async function lookup(fs: ImageFilesystem, name: string) {
  let reply: { entry?: EntryReply; errno?: number } = {};
  const request = {
    entry: (entry: EntryReply) => (reply = { entry }),
    error: (errno: number) => (reply = { errno }),
  } as unknown as FuseRequest;
  await fs.lookup!(request as never, 1, name);
  return reply;
}

Deno.test("a lookup of a name this node does not know yet catches up with the group first", async () => {
  const ahead = new MemoryMetaStore();
  await ahead.propose(ADD_NODE);
  await ahead.propose(CREATE);
  const { store, syncs } = trailingStore(ahead, false);
  const reply = await lookup(filesystem(store), "vm");
  assert.equal(syncs(), 1);
  assert.equal(reply.errno, undefined, "found after catching up");
  assert.equal(reply.entry?.inode, ahead.state().image("vm").uid + 1);
  assert.equal((await lookup(filesystem(store), "vm")).entry?.inode, reply.entry?.inode);
  assert.equal(syncs(), 1, "a known name needs no round trip");
  assert.equal((await lookup(filesystem(store), "other")).errno, Errno.ENOENT);
});

Deno.test("a lookup that cannot catch up answers ENOENT", async () => {
  const ahead = new MemoryMetaStore();
  await ahead.propose(ADD_NODE);
  await ahead.propose(CREATE);
  const { store, syncs } = trailingStore(ahead, true);
  assert.deepEqual(await lookup(filesystem(store), "vm"), { errno: Errno.ENOENT });
  assert.equal(syncs(), 1);
});

Deno.test("a read answered later replies with the engine's pieces, then hands them back; reads answered at once use the scratch", async () => {
  const meta = new MemoryMetaStore();
  await meta.propose(ADD_NODE);
  await meta.propose(CREATE);
  const later = Promise.withResolvers<Uint8Array[]>();
  const pieces = [new Uint8Array(1000).fill(0x55), new Uint8Array(3096).fill(0x66)];
  // Reads below 64 KiB are served at once with 0xaa; others wait for `later`.
  const engine = {
    open: () => Promise.resolve(),
    readNow: (_name: string, offset: number, target: Uint8Array) => {
      if (offset >= 1 << 16) return false;
      target.fill(0xaa);
      return true;
    },
    readPieces: (_name: string, _offset: number, length: number) => {
      assert.equal(length, 4096);
      return later.promise;
    },
    releasePieces: (released: Uint8Array[]) => {
      assert.equal(replies.at(-1), released, "handed back after the reply, not before");
      releases.push(released);
    },
  } as unknown as Engine;
  const replies: Uint8Array[][] = [];
  const releases: Uint8Array[][] = [];
  const fs = filesystem(meta, engine);
  const inode = meta.state().image("vm").uid + 1;
  let handle = 0;
  await fs.open!(
    { open: (reply: { fileHandle: number }) => handle = reply.fileHandle } as never,
    inode,
    2,
  );
  const read = (offset: number) =>
    fs.read!(
      {
        size: 4096,
        data: (bytes: Uint8Array) => replies.push([bytes.slice()]),
        dataPieces: (answered: Uint8Array[]) => replies.push(answered),
      } as never,
      inode,
      handle,
      offset,
    );
  const slow = read(1 << 17);
  await read(0);
  await read(4096);
  later.resolve(pieces);
  await slow;
  assert.deepEqual(replies.slice(0, 2).map(([bytes]) => [bytes!.length, bytes![0], bytes![4095]]), [
    [4096, 0xaa, 0xaa],
    [4096, 0xaa, 0xaa],
  ]);
  assert.equal(replies[2], pieces, "the engine's pieces, not a copy");
  assert.deepEqual(releases, [pieces], "the pieces handed back once");
});
