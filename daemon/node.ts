/**
 * A running ukai node, assembled: peer transport, metadata group, block
 * store, data-path engine, control API and (optionally) the FUSE mount, with
 * the background timer, and a clean stop in the reverse order — unmount
 * (finishing requests in flight), release owned images (flushing every copy),
 * then the rest. `ukai serve` runs one; tests run one in-process without a
 * mount.
 *
 * @module
 */

import { systemClock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import { AddressBook } from "../cluster/address_book.ts";
import { Cluster } from "../cluster/cluster.ts";
import type { ControlContext } from "../control/context.ts";
import { Metrics } from "../control/metrics.ts";
import { ProgressSampler } from "../control/progress_sampler.ts";
import { controlRouter, type ControlServer, startControlServer } from "../control/server.ts";
import { Engine } from "../engine/engine.ts";
import { LanePermits } from "../engine/lane_permits.ts";
import { FuseSession } from "../ffi/fuse_session.ts";
import { keepLargeAllocationsOnHeap } from "../ffi/libc.ts";
import { AllocationCache } from "../fuse/allocation_cache.ts";
import { ImageFilesystem } from "../fuse/image_filesystem.ts";
import { type LaneFastPathConfig, LaneHandles } from "../fuse/lane_fast_path.ts";
import { TcpTransport } from "../net/mod.ts";
import { BlockStore } from "../store/mod.ts";
import type { ServeConfig } from "./config.ts";
import { acquireDataLock, type DataLock } from "./data_lock.ts";
import { loadSecret } from "./secret.ts";

/** The version `ukai --version` and the API report. */
export const UKAI_VERSION = "0.1.0";

/** How often background work runs (pings, flushes, resync ownership, moves). */
export const BACKGROUND_INTERVAL_MS = 1000;

/** A node in a process. */
export interface RunningNode {
  readonly config: ServeConfig;
  readonly engine: Engine;
  readonly cluster: Cluster;
  readonly transport: TcpTransport;
  /** Resolves when the node has stopped. */
  readonly stopped: Promise<void>;
  /** Stops everything cleanly (idempotent). */
  stop(reason: string): Promise<void>;
}

function hasRaftState(data: string): boolean {
  try {
    for (const entry of Deno.readDirSync(`${data}/raft/wal`)) {
      if (entry.name.endsWith(".wal")) return true;
    }
  } catch {
    // no folder: no state
  }
  return false;
}

/** This boot of the machine; a copy whose boot id changed may have lost unflushed writes. */
async function readBootId(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
  } catch {
    return "unknown";
  }
}

async function readToken(path: string): Promise<string> {
  const token = (await Deno.readTextFile(path)).trim();
  if (token.length < 16) {
    throw new UkaiError(
      "CONFIG",
      `The control token in ${path} is too short: at least 16 characters`,
    );
  }
  return token;
}

/**
 * Frame bodies, reads and whole-block transfers of blocks up to 32 MiB stay
 * on the heap (bigger ones are rare: a snapshot, a 64 MiB block); up to
 * 128 MiB of freed heap is kept for the next ones rather than handed back and
 * faulted in again. Measured with 1 MiB reads from a remote-only copy: +10 to
 * +40% MiB/s, two-copy writes unchanged.
 */
const HEAP_ALLOCATION_MAX_BYTES = 32 * 1024 * 1024;
const HEAP_RETAINED_MAX_BYTES = 128 * 1024 * 1024;

/** Starts a node from `config`; `mount: false` skips FUSE (tests). */
export async function startNode(
  config: ServeConfig,
  logger: Logger,
  options: { mount: boolean } = { mount: true },
): Promise<RunningNode> {
  keepLargeAllocationsOnHeap(HEAP_ALLOCATION_MAX_BYTES, HEAP_RETAINED_MAX_BYTES);
  await Deno.mkdir(config.data, { recursive: true });
  const lock: DataLock = await acquireDataLock(config.data);
  const cleanups: (() => Promise<void> | void)[] = [() => lock.release()];
  const unwind = async () => {
    for (const cleanup of cleanups.reverse()) {
      await Promise.resolve(cleanup()).catch(() => undefined);
    }
  };
  try {
    return await assemble(config, logger, options, cleanups);
  } catch (error) {
    await unwind();
    throw error;
  }
}

async function assemble(
  config: ServeConfig,
  logger: Logger,
  options: { mount: boolean },
  cleanups: (() => Promise<void> | void)[],
): Promise<RunningNode> {
  const fresh = !hasRaftState(config.data);
  const secret = await loadSecret({
    secretFile: config.secretFile,
    dataFolder: config.data,
    mayCreate: fresh && config.join === undefined,
    logger,
  });
  const addresses = new AddressBook();
  const [hostname, port] = [
    config.listen.slice(0, config.listen.lastIndexOf(":")),
    Number(config.listen.slice(config.listen.lastIndexOf(":") + 1)),
  ];
  const transport = await TcpTransport.listen({
    nodeId: config.nodeId,
    secret,
    hostname: hostname.replace(/^\[|\]$/g, ""),
    port,
    resolve: (peer) => addresses.lookup(peer),
    logger: logger.child("net"),
    ...(config.tlsCert !== undefined && config.tlsKey !== undefined && config.tlsCa !== undefined
      ? { tls: { certFile: config.tlsCert, keyFile: config.tlsKey, caFile: config.tlsCa } }
      : {}),
  });
  cleanups.push(() => transport.close());
  const cluster = await Cluster.open({
    nodeId: config.nodeId,
    address: config.advertise,
    zone: config.zone,
    dataFolder: config.data,
    transport,
    logger,
    rng: new Rng(crypto.getRandomValues(new Uint32Array(1))[0] as number),
    timings: {
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntries: 10_000,
    },
    ...(config.join === undefined ? {} : { join: config.join }),
    learner: config.learner,
    bootstrap: config.bootstrap,
    runId: crypto.randomUUID().slice(0, 8),
    addresses,
  });
  cleanups.push(() => cluster.close());
  const store = await BlockStore.open({ root: config.data, logger: logger.child("store") });
  cleanups.push(() => store.close());
  // The metrics read the context at scrape time; it exists once the engine does.
  const holder: { context?: ControlContext } = {};
  const metrics = new Metrics(() => holder.context);
  const lanePermits = config.fuseThreads > 0 ? new LanePermits() : undefined;
  const engine = new Engine({
    nodeId: config.nodeId,
    meta: cluster.meta,
    store,
    transport,
    clock: systemClock,
    logger: logger.child("engine"),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    settings: {
      ioTimeoutMs: config.ioTimeout,
      resyncBytesPerSecond: config.resyncRate,
      bootId: await readBootId(),
    },
    lanePermits,
  });
  await engine.start();
  cleanups.push(() => engine.stop());
  const progress = new ProgressSampler();
  const context: ControlContext = {
    nodeId: config.nodeId,
    version: UKAI_VERSION,
    startedAtMs: systemClock.wallMs(),
    meta: cluster.meta,
    engine,
    cluster,
    clock: systemClock,
    progress,
    capacity: () => store.capacity(),
  };
  holder.context = context;
  const control: ControlServer = await startControlServer(controlRouter(context, metrics), {
    socketPath: config.control,
    socketMode: config.controlMode,
    ...(config.controlListen === undefined || config.controlTokenFile === undefined ? {} : {
      tcp: {
        hostname: config.controlListen.slice(0, config.controlListen.lastIndexOf(":")),
        port: Number(config.controlListen.slice(config.controlListen.lastIndexOf(":") + 1)),
        token: await readToken(config.controlTokenFile),
      },
    }),
  }, logger.child("control"));
  cleanups.push(() => control.close());
  const timer = setInterval(() => {
    progress.sample(cluster.meta.state(), systemClock.wallMs());
    engine.tick().catch((error) =>
      logger.warn("background work failed", { error: describeError(error) })
    );
  }, BACKGROUND_INTERVAL_MS);
  cleanups.push(() => clearInterval(timer));
  let session: FuseSession | null = null;
  if (options.mount) session = await mount(config, engine, cluster, store, lanePermits, logger);
  if (session !== null) {
    const mounted = session;
    cleanups.push(() => mounted.unmount());
  }
  return finish(config, engine, cluster, transport, session, cleanups, logger);
}

async function mount(
  config: ServeConfig,
  engine: Engine,
  cluster: Cluster,
  store: BlockStore,
  lanePermits: LanePermits | undefined,
  logger: Logger,
): Promise<FuseSession> {
  const stale = await FuseSession.clearStaleMount(config.mount).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return "none" as const;
    throw error;
  });
  await Deno.mkdir(config.mount, { recursive: true });
  if (stale === "cleared") {
    logger.warn("cleared a stale mount left by a killed process", { mount: config.mount });
  }
  if (stale === "alive") {
    throw new UkaiError("CONFIG", `${config.mount} is already served by a live FUSE filesystem`);
  }
  const allocation = new AllocationCache({
    measure: (image) =>
      image.hasLocation(config.nodeId)
        ? engine.server.blocksOf(image).allocatedBytes()
        : Promise.resolve(0),
    now: () => systemClock.monotonicMs(),
    logger,
  });
  const laneHandles = lanePermits === undefined ? undefined : new LaneHandles();
  const filesystem = new ImageFilesystem({
    engine,
    meta: cluster.meta,
    logger: logger.child("fuse"),
    defaults: { mode: config.fileMode, uid: config.fileOwner.uid, gid: config.fileOwner.gid },
    capacity: () => store.capacity(),
    allocatedBytes: (image) => allocation.bytesOf(image),
    now: () => systemClock.wallMs(),
    laneHandles,
  });
  const fastPath: LaneFastPathConfig | undefined = lanePermits === undefined ||
      laneHandles === undefined
    ? undefined
    : { handles: laneHandles.buffer, permits: lanePermits.buffer };
  const session = await FuseSession.mount(config.mount, filesystem, {
    fsName: `ukai:${config.nodeId}`,
    subtype: "ukai",
    allowOther: config.allowOther,
    defaultPermissions: true,
    logger: logger.child("fuse"),
    lanes: {
      count: config.fuseThreads,
      ...(fastPath === undefined ? {} : {
        fastPath: {
          module: new URL("../fuse/lane_fast_path.ts", import.meta.url).href,
          config: fastPath,
        },
      }),
    },
  });
  logger.info("images mounted", { mount: config.mount });
  return session;
}

function finish(
  config: ServeConfig,
  engine: Engine,
  cluster: Cluster,
  transport: TcpTransport,
  session: FuseSession | null,
  cleanups: (() => Promise<void> | void)[],
  logger: Logger,
): RunningNode {
  let stopping: Promise<void> | null = null;
  let resolveStopped = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const stop = (reason: string) => {
    stopping ??= (async () => {
      logger.info("stopping", { reason });
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          logger.warn("a shutdown step failed", { error: describeError(error) });
        }
      }
      logger.info("stopped");
      resolveStopped();
    })();
    return stopping;
  };
  session?.closed.then(() => {
    if (stopping === null) void stop("the mount went away (unmounted from outside)");
  });
  return { config, engine, cluster, transport, stopped, stop };
}
