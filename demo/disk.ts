/**
 * The demo's "VM": it fills an image through a mount with recognisable
 * 4 KiB sectors ("ukai demo | sector 000042 | write 00000000" and a filler
 * derived from both numbers), keeps rewriting sectors while the image moves,
 * remembers the last write of every sector, and checks the whole image
 * against that through any mount.
 *
 * @module
 */

/** Bytes per sector. */
export const SECTOR = 4096;

const encoder = new TextEncoder();

/** The content of `sector` after write number `write`. */
export function sectorContent(sector: number, write: number): Uint8Array {
  const bytes = new Uint8Array(SECTOR).fill((sector * 31 + write * 7) & 0xff);
  const header = `ukai demo | sector ${String(sector).padStart(6, "0")} | write ${
    String(write).padStart(8, "0")
  }\n`;
  bytes.set(encoder.encode(header));
  return bytes;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** A writer that keeps a disk busy. */
export class DemoWriter {
  /** The last write of each sector (0: the initial fill). */
  readonly #lastWrite: Uint32Array;
  readonly #file: Deno.FsFile;
  #writes = 0;
  #running: Promise<void> | null = null;
  #stopping = false;

  private constructor(file: Deno.FsFile, sectors: number) {
    this.#file = file;
    this.#lastWrite = new Uint32Array(sectors);
  }

  /** Opens the image at `path` (as a VM opens its disk). */
  static async open(path: string, bytes: number): Promise<DemoWriter> {
    return new DemoWriter(await Deno.open(path, { read: true, write: true }), bytes / SECTOR);
  }

  /** Writes made since the fill. */
  get writes(): number {
    return this.#writes;
  }

  /** Fills every sector and flushes. */
  async fill(): Promise<void> {
    const perChunk = 256;
    const chunk = new Uint8Array(perChunk * SECTOR);
    await this.#file.seek(0, Deno.SeekMode.Start);
    for (let first = 0; first < this.#lastWrite.length; first += perChunk) {
      for (let index = 0; index < perChunk; index++) {
        chunk.set(sectorContent(first + index, 0), index * SECTOR);
      }
      await writeAll(this.#file, chunk);
    }
    await this.#file.syncData();
  }

  /** Starts rewriting sectors, one every few milliseconds, all over the disk. */
  start(): void {
    this.#running = (async () => {
      while (!this.#stopping) {
        const write = ++this.#writes;
        const sector = (write * 7919) % this.#lastWrite.length;
        await this.#file.seek(sector * SECTOR, Deno.SeekMode.Start);
        await writeAll(this.#file, sectorContent(sector, write));
        this.#lastWrite[sector] = write;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
  }

  /** Stops writing, flushes and closes the disk. */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    await this.#file.syncData();
    this.#file.close();
  }

  /** Sectors of the image at `path` that differ from their last write. */
  async mismatches(path: string): Promise<number[]> {
    const image = await Deno.readFile(path);
    const wrong: number[] = [];
    for (let sector = 0; sector < this.#lastWrite.length; sector++) {
      const expected = sectorContent(sector, this.#lastWrite[sector] as number);
      const actual = image.subarray(sector * SECTOR, (sector + 1) * SECTOR);
      if (!expected.every((byte, index) => byte === actual[index])) wrong.push(sector);
    }
    return wrong;
  }
}
