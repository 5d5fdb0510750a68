/**
 * The data types of the Raft core: log entries, persistent state, membership,
 * snapshots and the messages peers exchange. Plain objects only, so that the
 * node layer can encode them (see `codec.ts`) and tests can compare them.
 *
 * Terms and indexes are non-negative safe integers. Index 0 and term 0 mean
 * "nothing": the first real entry has index 1, and a message with term 0 is a
 * local message (it never crossed the network).
 *
 * @module
 */

/** A node's identity in the group. Never empty; `""` stands for "no node". */
export type NodeId = string;

/** The `NodeId` value meaning "none" (no vote cast, no leader known). */
export const NO_NODE = "" as const;

/** What an entry carries: application data, or an encoded {@link ConfChange}. */
export type EntryType = "normal" | "confChange";

/** One log entry. Invariant: `index >= 1`, `term >= 1` once in a log. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** The state that must be durable before any message that depends on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId | typeof NO_NODE;
  commit: number;
}

/** The membership: voters (count in quorums) and learners (only replicate). Disjoint. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** Which log prefix a snapshot replaces, and the membership at its index. */
export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

/** A state-machine snapshot; `data` is opaque to Raft. */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/**
 * Every message kind. Local kinds (`Hup`, `Beat`, `Unreachable`, `SnapStatus`,
 * `CheckQuorum`) never cross the network; `RawNode.step` refuses them.
 */
export const MessageType = {
  /** Local: start an election. */
  Hup: "Hup",
  /** Local: the leader should broadcast heartbeats. */
  Beat: "Beat",
  /** A proposal (local, or forwarded by a follower to the leader). */
  Prop: "Prop",
  /** Leader -> follower: entries to append after (index, logTerm). */
  App: "App",
  /** Follower -> leader: answer to App/Snap (accept or reject with a hint). */
  AppResp: "AppResp",
  Vote: "Vote",
  VoteResp: "VoteResp",
  PreVote: "PreVote",
  PreVoteResp: "PreVoteResp",
  /** Leader -> follower: install this snapshot. */
  Snap: "Snap",
  Heartbeat: "Heartbeat",
  HeartbeatResp: "HeartbeatResp",
  /** Local: the transport could not reach `from`. */
  Unreachable: "Unreachable",
  /** Local: the outcome of sending a snapshot to `from` (`reject` = failed). */
  SnapStatus: "SnapStatus",
  /** Local: the leader should check it still hears from a quorum. */
  CheckQuorum: "CheckQuorum",
  /** Ask the leader to hand leadership to `from`. */
  TransferLeader: "TransferLeader",
  /** Leader -> transferee: campaign now, ignoring the election timeout. */
  TimeoutNow: "TimeoutNow",
  /** A linearizable read request carrying an opaque `context`. */
  ReadIndex: "ReadIndex",
  /** Leader -> follower: the read index for the request with this `context`. */
  ReadIndexResp: "ReadIndexResp",
} as const;

/** One of the {@link MessageType} values. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Message kinds that only ever originate inside the local node. */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);

/** Message kinds that answer a request of the receiver. */
export const RESPONSE_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.AppResp,
  MessageType.VoteResp,
  MessageType.PreVoteResp,
  MessageType.HeartbeatResp,
  MessageType.Unreachable,
  MessageType.SnapStatus,
]);

/** A Raft message. Fields that a kind does not use are zero, empty or absent. */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /** Sender's term; 0 for local messages (and forwarded Prop/ReadIndex). */
  term: number;
  /** App: term of the entry at `index`. AppResp reject: term of the hint entry. Votes: last log term. */
  logTerm: number;
  /** App: index preceding `entries`. AppResp: last matched (or rejected) index. Votes: last log index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp reject: the follower's guess at the last index that may match. */
  rejectHint: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
}

/** Builds a message: every field not given is zero, empty or absent. */
export function newMessage(
  fields: Partial<Message> & Pick<Message, "type">,
): Message {
  return {
    from: NO_NODE,
    to: NO_NODE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** A single-server membership change. `addNode` on an existing learner promotes it. */
export interface ConfChange {
  type: "addNode" | "addLearner" | "removeNode";
  nodeId: NodeId;
  context: Uint8Array;
}

/** The role of a node. */
export type RaftStateType = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state worth telling the application about (not persisted). */
export interface SoftState {
  lead: NodeId | typeof NO_NODE;
  state: RaftStateType;
}

/** A confirmed linearizable read: reads may be served once `index` is applied. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

/** Replication state of one follower, as seen by the leader. */
export type ProgressStateType = "probe" | "replicate" | "snapshot";

/** Size of an entry for message-size limits: a fixed header estimate plus the payload. */
export function entrySizeBytes(entry: Entry): number {
  return ENTRY_HEADER_BYTES + entry.data.length;
}

/** The header estimate used by {@link entrySizeBytes}. */
export const ENTRY_HEADER_BYTES = 16;

/** The sum of the payload sizes (data only) of `entries`. */
export function payloadSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.length;
  return total;
}

/** Value meaning "no limit" for byte and count limits. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * The longest prefix of `entries` whose total {@link entrySizeBytes} fits in
 * `maxSizeBytes`, but never fewer than one entry (so progress is always made).
 */
export function limitSize(entries: Entry[], maxSizeBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = 0;
  let count = 0;
  for (const entry of entries) {
    size += entrySizeBytes(entry);
    if (count > 0 && size > maxSizeBytes) break;
    count++;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}

/** True when both byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** A copy of a conf state (arrays are not shared). */
export function cloneConfState(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners] };
}
