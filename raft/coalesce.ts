/**
 * Coalescing of the messages of one Ready. A leader appends each proposal as
 * it comes and sends every follower an append for it at once, so a Ready
 * taken after many proposals holds one small append per proposal per
 * follower, and each follower answers every one of them. Joined into one
 * append per follower (and one acknowledgement per leader), the same entries
 * cost a fraction of the encoding, framing, stepping and answering. The
 * core's bookkeeping is unchanged: an acknowledgement of the joined append's
 * last index releases everything the parts had in flight.
 *
 * @module
 */

import { type Message, MessageType, payloadSizeBytes } from "./types.ts";

/**
 * `messages` with runs of joinable messages to the same recipient joined,
 * order otherwise kept. Joined, only when nothing else to that recipient
 * lies between them and they share sender and term:
 * - appends that continue each other (the second follows the first's last
 *   entry) into one append of both entries, carrying the later commit
 *   index, while the entries stay within `maxEntryBytes`;
 * - accepting append acknowledgements into the one with the highest index
 *   (within a term a leader's log only grows, so a match at the highest
 *   index implies the others).
 */
export function coalesceMessages(messages: readonly Message[], maxEntryBytes: number): Message[] {
  const out: Message[] = [];
  /** Position in `out` of the last message to each recipient. */
  const lastTo = new Map<string, number>();
  for (const message of messages) {
    const at = lastTo.get(message.to);
    const joined = at === undefined ? undefined : join(out[at] as Message, message, maxEntryBytes);
    if (at !== undefined && joined !== undefined) {
      out[at] = joined;
    } else {
      lastTo.set(message.to, out.length);
      out.push(message);
    }
  }
  return out;
}

function join(first: Message, second: Message, maxEntryBytes: number): Message | undefined {
  if (first.type !== second.type || first.from !== second.from || first.term !== second.term) {
    return undefined;
  }
  if (first.type === MessageType.App) return joinAppends(first, second, maxEntryBytes);
  if (first.type === MessageType.AppResp && !first.reject && !second.reject) {
    return first.index >= second.index ? first : second;
  }
  return undefined;
}

function joinAppends(first: Message, second: Message, maxEntryBytes: number): Message | undefined {
  const last = first.entries[first.entries.length - 1];
  if (last === undefined || second.entries.length === 0) return undefined;
  if (second.index !== last.index || second.logTerm !== last.term) return undefined;
  if (payloadSizeBytes(first.entries) + payloadSizeBytes(second.entries) > maxEntryBytes) {
    return undefined;
  }
  return {
    ...first,
    entries: [...first.entries, ...second.entries],
    commit: Math.max(first.commit, second.commit),
  };
}
