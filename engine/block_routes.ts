/**
 * Exposes this node's block server to its peers: decodes each block request
 * from the transport, checks the payload matches its header, calls the
 * server, and encodes the answer. Malformed requests are refused with
 * PROTOCOL and never reach the store.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { checkNodeId } from "../meta/mod.ts";
import type { Transport } from "../net/mod.ts";
import {
  BlockMessage,
  decodeBlockHeader,
  encodeExport,
  encodeJson,
  WRITE_FLAG_DURABLE,
} from "./block_protocol.ts";
import type { BlockServer } from "./block_server.ts";
import type { Channels } from "./channels.ts";

const EMPTY = new Uint8Array(0);

function headerOnly(body: Uint8Array) {
  const { header, rest } = decodeBlockHeader(body);
  if (rest.length !== 0) {
    throw new UkaiError("PROTOCOL", `Unexpected ${rest.length} bytes after a block header`);
  }
  return header;
}

/** Registers the block operations of `server` on `transport`. */
export function registerBlockRoutes(
  transport: Transport,
  server: BlockServer,
  channels: Channels,
): void {
  // The answer goes out from a pooled buffer, which the transport takes back once written.
  transport.handle(BlockMessage.read, async (_from, body) => {
    const header = headerOnly(body);
    return await server.read(header, transport.takeBody(header.length));
  });
  // The data is written (or refused) by the time the handler settles: its buffer can go back.
  transport.handle(BlockMessage.write, async (_from, body) => {
    const { header, rest } = decodeBlockHeader(body);
    if (rest.length !== header.length) {
      throw new UkaiError(
        "PROTOCOL",
        `Write of ${header.length} bytes carries ${rest.length} bytes of data`,
      );
    }
    await server.write(header, rest as Uint8Array<ArrayBuffer>);
    if ((header.flags & WRITE_FLAG_DURABLE) !== 0) await server.flush(header);
    return EMPTY;
  }, { releaseBody: true });
  transport.handle(BlockMessage.punch, async (_from, body) => {
    await server.punch(headerOnly(body));
    return EMPTY;
  });
  transport.handle(BlockMessage.flush, async (_from, body) => {
    return encodeJson({ bootId: await server.flush(headerOnly(body)) });
  });
  transport.handle(BlockMessage.fence, async (_from, body) => {
    return encodeJson({ bootId: await server.fence(headerOnly(body)) });
  });
  transport.handle(BlockMessage.exportBlock, async (_from, body) => {
    const exported = await server.exportBlock(headerOnly(body));
    return encodeExport(exported.extents, exported.data);
  });
  transport.handle(BlockMessage.pull, async (_from, body) => {
    const { header, rest } = decodeBlockHeader(body);
    const source = checkNodeId(new TextDecoder().decode(rest));
    const pulled = await server.pull(
      header,
      source,
      (node, exportHeader, blockSize) => channels.to(node).exportBlock(exportHeader, blockSize),
    );
    return encodeJson(pulled);
  });
}
