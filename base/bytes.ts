/**
 * Byte-array helpers shared by the transport, the simulator, the control
 * API's HTTP server and their tests.
 *
 * @module
 */

/** The parts, in order, copied into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
