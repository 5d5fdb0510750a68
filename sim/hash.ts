/**
 * A small non-cryptographic hash (FNV-1a, 32 bits, two independent lanes
 * combined into a 53-bit safe integer) for the simulator's registries and
 * trace fingerprints. Deterministic across runs and platforms; not for
 * anything adversarial.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

const FNV_OFFSET_A = 0x811c9dc5;
const FNV_OFFSET_B = 0x01000193 ^ 0x5bd1e995;
const FNV_PRIME = 0x01000193;
const LANE_B_BITS = 21;

/** A running hash of bytes and strings; `value()` is a safe integer. */
export class Hasher {
  #a = FNV_OFFSET_A;
  #b = FNV_OFFSET_B;

  /** Mixes every byte of `bytes` in. */
  bytes(bytes: Uint8Array): this {
    let a = this.#a;
    let b = this.#b;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      a = Math.imul(a ^ byte, FNV_PRIME) >>> 0;
      b = Math.imul(b ^ byte ^ 0xa5, FNV_PRIME) >>> 0;
    }
    this.#a = a;
    this.#b = b;
    return this;
  }

  /** Mixes the UTF-16 code units of `text` in, followed by a separator. */
  string(text: string): this {
    let a = this.#a;
    let b = this.#b;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      a = Math.imul(a ^ (unit & 0xff), FNV_PRIME) >>> 0;
      a = Math.imul(a ^ (unit >>> 8), FNV_PRIME) >>> 0;
      b = Math.imul(b ^ unit ^ 0xa5, FNV_PRIME) >>> 0;
    }
    this.#a = Math.imul(a ^ 0xff, FNV_PRIME) >>> 0;
    this.#b = Math.imul(b ^ 0x1ff, FNV_PRIME) >>> 0;
    return this;
  }

  /** Mixes a non-negative safe integer in. */
  number(value: number): this {
    assert(Number.isSafeInteger(value), `Hasher.number: ${value} is not a safe integer`);
    return this.string(String(value));
  }

  /** The hash so far: a non-negative safe integer (32 + 21 bits). */
  value(): number {
    const high = this.#b >>> (32 - LANE_B_BITS);
    return high * 0x100000000 + this.#a;
  }
}

/**
 * The hash of one string.
 *
 * @example
 * ```ts
 * import { hashString } from "./hash.ts";
 * if (hashString("a") === hashString("b")) throw new Error("collision on a tiny input");
 * ```
 */
export function hashString(text: string): number {
  return new Hasher().string(text).value();
}
