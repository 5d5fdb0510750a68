/**
 * Gateway checks for messages that come from outside the core (the network
 * or a decoder): the properties the core relies on and otherwise asserts, so
 * that a malformed peer message is refused instead of crashing the node.
 *
 * @module
 */

import { type Message, MessageType, NO_NODE } from "./types.ts";

/**
 * Why `message` is malformed, or null when the core may step it. Checks
 * addressing, that appended entries are consecutive after `index` with
 * non-decreasing terms no newer than the message's term, and that a Snap
 * carries a snapshot.
 */
export function messageInvalid(message: Message): string | null {
  if (message.from === NO_NODE) return `${message.type} without a sender`;
  if (message.to === NO_NODE) return `${message.type} without a recipient`;
  const hasEntries = message.entries.length > 0;
  if (hasEntries && message.type !== MessageType.App && message.type !== MessageType.Prop) {
    return `${message.type} must not carry entries`;
  }
  if (message.type === MessageType.Prop && !hasEntries) return "Prop without entries";
  if (message.type === MessageType.App) return appendInvalid(message);
  if (message.type === MessageType.Snap) {
    if (message.snapshot === undefined) return "Snap without a snapshot";
    if (message.snapshot.metadata.index === 0) return "Snap of an empty snapshot";
    if (message.snapshot.metadata.term > message.term) return "Snap newer than its term";
  }
  return null;
}

function appendInvalid(message: Message): string | null {
  if (message.logTerm > message.term) return "App: logTerm is newer than the message term";
  if (message.index === 0 && message.logTerm !== 0) return "App: nonzero logTerm at index 0";
  let previousTerm = message.logTerm;
  for (let i = 0; i < message.entries.length; i++) {
    const entry = message.entries[i]!;
    if (entry.index !== message.index + 1 + i) return `App: entry ${i} has index ${entry.index}`;
    if (entry.term < previousTerm || entry.term < 1) {
      return `App: entry ${entry.index} term goes back`;
    }
    if (entry.term > message.term) {
      return `App: entry ${entry.index} term is newer than the message`;
    }
    previousTerm = entry.term;
  }
  return null;
}
