/**
 * Byte-array helpers shared by the transport, the engine, the simulator, the
 * control API's HTTP server and their tests.
 *
 * @module
 */

/** The parts, in order, copied into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  copyParts(parts, out);
  return out;
}

/**
 * Copies the parts, in order, into `target` from its start and returns how
 * many bytes that was. Throws a RangeError when they do not fit.
 */
export function copyParts(parts: readonly Uint8Array[], target: Uint8Array): number {
  let offset = 0;
  for (const part of parts) {
    target.set(part, offset);
    offset += part.length;
  }
  return offset;
}
