/**
 * The events of a simulation: everything that can happen at a virtual
 * instant. Node events carry the incarnation they were scheduled for, so that
 * a tick or fsync completion scheduled before a crash is ignored after it.
 *
 * @module
 */

import type { NodeId } from "../raft/mod.ts";

/** Something that happens at one virtual instant. */
export type SimEvent =
  | { kind: "tick"; node: NodeId; incarnation: number }
  | { kind: "fsyncDone"; node: NodeId; incarnation: number }
  | { kind: "deliver"; from: NodeId; to: NodeId; bytes: Uint8Array; summary: string }
  | { kind: "snapshotStatus"; node: NodeId; incarnation: number; target: NodeId; ok: boolean }
  | { kind: "unreachable"; node: NodeId; incarnation: number; target: NodeId }
  | { kind: "restart"; node: NodeId }
  | { kind: "randomCrash" }
  | { kind: "partition" }
  | { kind: "heal" }
  | { kind: "membership" }
  | { kind: "clientInvoke"; client: number }
  | { kind: "clientArrive"; client: number; request: number; attempt: number; node: NodeId }
  | { kind: "clientReply"; client: number; request: number; attempt: number; reply: ClientReply }
  | { kind: "clientTimeout"; client: number; request: number; attempt: number };

/** A node's answer to a client attempt. */
export type ClientReply =
  | { op: "put" }
  | { op: "cas"; swapped: boolean }
  | { op: "get"; value: string | null }
  | { op: "refused"; reason: string };

/** A short, stable description of an event for the trace. */
export function describeEvent(event: SimEvent): string {
  switch (event.kind) {
    case "tick":
    case "fsyncDone":
      return `${event.kind} ${event.node}#${event.incarnation}`;
    case "deliver":
      return `deliver ${event.summary}`;
    case "snapshotStatus":
      return `snapshotStatus ${event.node}->${event.target} ${event.ok ? "ok" : "failed"}`;
    case "unreachable":
      return `unreachable ${event.node}->${event.target}`;
    case "restart":
      return `restart ${event.node}`;
    case "randomCrash":
    case "partition":
    case "heal":
    case "membership":
      return event.kind;
    case "clientInvoke":
      return `clientInvoke c${event.client}`;
    case "clientArrive":
      return `clientArrive c${event.client}.${event.request}#${event.attempt} at ${event.node}`;
    case "clientReply":
      return `clientReply c${event.client}.${event.request}#${event.attempt} ${
        JSON.stringify(event.reply)
      }`;
    case "clientTimeout":
      return `clientTimeout c${event.client}.${event.request}#${event.attempt}`;
  }
}
