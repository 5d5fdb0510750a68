/**
 * One way to reach every node's block server: `LocalChannel` calls this
 * node's server directly (synchronous positional I/O, no copy from the FUSE
 * buffer), `RemoteChannel` sends the block protocol over the peer transport.
 * The data path only sees `BlockChannel`, so its logic is the same whichever
 * node holds a copy.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { UkaiError } from "../base/errors.ts";
import type { Transport } from "../net/mod.ts";
import {
  type BlockHeader,
  BlockMessage,
  decodeExport,
  decodeJson,
  encodeBlockHeader,
} from "./block_protocol.ts";
import type { BlockExport, BlockServer, PullResult } from "./block_server.ts";
import { ReadWindow } from "./read_window.ts";

/** Block operations on one node's copies. */
export interface BlockChannel {
  readonly node: string;
  read(header: BlockHeader): Promise<Uint8Array>;
  write(header: BlockHeader, data: Uint8Array<ArrayBuffer>): Promise<void>;
  punch(header: BlockHeader): Promise<void>;
  /** Makes the node's copy durable; resolves to the node's boot id. */
  flush(header: BlockHeader): Promise<string>;
  /** Raises the node's fence to the header's epoch; resolves to the node's boot id. */
  fence(header: BlockHeader): Promise<string>;
  exportBlock(header: BlockHeader, blockSize: number): Promise<BlockExport>;
  /**
   * Asks the node to overwrite its copy with the in-sync copy at `source`
   * (durable after its next flush, if its boot id is still the one answered).
   */
  pull(header: BlockHeader, source: string): Promise<PullResult>;
}

/** Finds the channel to a node. */
export interface Channels {
  to(node: string): BlockChannel;
}

/** This node's own block server, called in-process. */
export class LocalChannel implements BlockChannel {
  constructor(
    readonly node: string,
    readonly server: BlockServer,
    readonly channels: Channels,
  ) {}

  async read(header: BlockHeader): Promise<Uint8Array> {
    return await this.server.read(header);
  }

  async write(header: BlockHeader, data: Uint8Array<ArrayBuffer>): Promise<void> {
    await this.server.write(header, data);
  }

  async punch(header: BlockHeader): Promise<void> {
    await this.server.punch(header);
  }

  flush(header: BlockHeader): Promise<string> {
    return this.server.flush(header);
  }

  fence(header: BlockHeader): Promise<string> {
    return this.server.fence(header);
  }

  async exportBlock(header: BlockHeader): Promise<BlockExport> {
    return await this.server.exportBlock(header);
  }

  pull(header: BlockHeader, source: string): Promise<PullResult> {
    return this.server.pull(
      header,
      source,
      (from, exportHeader, blockSize) =>
        this.channels.to(from).exportBlock(exportHeader, blockSize),
    );
  }
}

/** How a {@link RemoteChannel} talks to its peer. */
export interface RemoteChannelOptions {
  /** Deadline of one request, from the call (time waiting for the read window included). */
  readonly timeoutMs: number;
  /** Bytes of reads in flight to the peer at once (see {@link ReadWindow}). */
  readonly readWindowBytes: number;
  readonly clock: Clock;
}

/** Another node's block server, over the peer transport. */
export class RemoteChannel implements BlockChannel {
  readonly timeoutMs: number;
  readonly #readWindow: ReadWindow;
  readonly #clock: Clock;

  constructor(
    readonly node: string,
    readonly transport: Transport,
    options: RemoteChannelOptions,
  ) {
    this.timeoutMs = options.timeoutMs;
    this.#readWindow = new ReadWindow(options.readWindowBytes);
    this.#clock = options.clock;
  }

  #call(type: number, parts: Uint8Array | readonly Uint8Array[], timeoutMs = this.timeoutMs) {
    return this.transport.request(this.node, type, parts, { timeoutMs });
  }

  async read(header: BlockHeader): Promise<Uint8Array> {
    const deadlineMs = this.#clock.monotonicMs() + this.timeoutMs;
    const admitted = this.#readWindow.acquire(header.length);
    if (admitted !== undefined) await admitted;
    try {
      const leftMs = Math.floor(deadlineMs - this.#clock.monotonicMs());
      if (leftMs <= 0) {
        throw new UkaiError(
          "TIMEOUT",
          `Read from node "${this.node}" waited ${this.timeoutMs} ms for the reads before it`,
        );
      }
      // The reader checks the answer's length, whichever channel gave it.
      return await this.#call(BlockMessage.read, encodeBlockHeader(header), leftMs);
    } finally {
      this.#readWindow.release(header.length);
    }
  }

  async write(header: BlockHeader, data: Uint8Array<ArrayBuffer>): Promise<void> {
    await this.#call(BlockMessage.write, [encodeBlockHeader(header), data]);
  }

  async punch(header: BlockHeader): Promise<void> {
    await this.#call(BlockMessage.punch, encodeBlockHeader(header));
  }

  async flush(header: BlockHeader): Promise<string> {
    const answer = decodeJson(await this.#call(BlockMessage.flush, encodeBlockHeader(header)));
    if (typeof answer.bootId !== "string") {
      throw new UkaiError("PROTOCOL", `Node "${this.node}" answered a flush without its boot id`);
    }
    return answer.bootId;
  }

  async fence(header: BlockHeader): Promise<string> {
    const answer = decodeJson(await this.#call(BlockMessage.fence, encodeBlockHeader(header)));
    if (typeof answer.bootId !== "string") {
      throw new UkaiError("PROTOCOL", `Node "${this.node}" answered a fence without its boot id`);
    }
    return answer.bootId;
  }

  async exportBlock(header: BlockHeader, blockSize: number): Promise<BlockExport> {
    const body = await this.#call(BlockMessage.exportBlock, encodeBlockHeader(header));
    // The transport gives every body its own ArrayBuffer.
    return decodeExport(body as Uint8Array<ArrayBuffer>, blockSize);
  }

  async pull(header: BlockHeader, source: string): Promise<PullResult> {
    const answer = decodeJson(
      await this.#call(
        BlockMessage.pull,
        [encodeBlockHeader(header), new TextEncoder().encode(source)],
        this.timeoutMs * 4,
      ),
    );
    if (typeof answer.bytes !== "number" || typeof answer.bootId !== "string") {
      throw new UkaiError(
        "PROTOCOL",
        `Node "${this.node}" answered a pull without a byte count and boot id`,
      );
    }
    return { bytes: answer.bytes, bootId: answer.bootId };
  }
}
