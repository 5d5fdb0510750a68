/**
 * The metadata state machine: applies commands deterministically, one at a
 * time, in log order. A refused command returns its error as a value and
 * changes nothing; a command with a request id seen before returns the first
 * result again (retries are idempotent). The same code runs on every node,
 * under Raft and in tests.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import {
  applyHypervisorAdd,
  applyHypervisorRemove,
  applyImageClose,
  applyImageCreate,
  applyImageOpen,
  applyImageRemove,
  applyImageResize,
  applyImageSetResyncRate,
} from "./apply_images.ts";
import {
  applyBlocksMark,
  applyLocationAdd,
  applyLocationRemove,
  applyMoveCancel,
  applyMoveFinish,
  applyMoveStart,
} from "./apply_locations.ts";
import {
  applyNodeAdd,
  applyNodeCloseAll,
  applyNodeRemove,
  applyNodeUpdate,
} from "./apply_nodes.ts";
import {
  applyActivityAdd,
  applyActivityRetire,
  applyOwnerRelease,
  applyOwnerTake,
} from "./apply_ownership.ts";
import type { Command, CommandType } from "./commands.ts";
import { type ApplyResult, MetaState } from "./state.ts";

type Handler<T extends CommandType> = (
  state: MetaState,
  command: Extract<Command, { type: T }>,
) => Record<string, unknown>;

const HANDLERS: { [K in CommandType]: Handler<K> } = {
  "node.add": applyNodeAdd,
  "node.update": applyNodeUpdate,
  "node.remove": applyNodeRemove,
  "node.closeAll": applyNodeCloseAll,
  "image.create": applyImageCreate,
  "image.remove": applyImageRemove,
  "image.resize": applyImageResize,
  "image.setResyncRate": applyImageSetResyncRate,
  "image.open": applyImageOpen,
  "image.close": applyImageClose,
  "hypervisor.add": applyHypervisorAdd,
  "hypervisor.remove": applyHypervisorRemove,
  "location.add": applyLocationAdd,
  "location.remove": applyLocationRemove,
  "owner.take": applyOwnerTake,
  "owner.release": applyOwnerRelease,
  "blocks.mark": applyBlocksMark,
  "activity.add": applyActivityAdd,
  "activity.retire": applyActivityRetire,
  "move.start": applyMoveStart,
  "move.finish": applyMoveFinish,
  "move.cancel": applyMoveCancel,
};

/**
 * Applies `command` to `state`. Handlers validate before they change anything,
 * so a refusal (a UkaiError) leaves the state as it was.
 *
 * @example
 * ```ts
 * import { applyCommand, MetaState } from "./mod.ts";
 * const state = new MetaState();
 * const result = applyCommand(state, { type: "image.open", name: "vm1", node: "n1" });
 * if (result.ok || result.code !== "IMAGE_NOT_FOUND") throw new Error("expected a refusal");
 * ```
 */
export function applyCommand(state: MetaState, command: Command): ApplyResult {
  if (command.requestId !== undefined) {
    const earlier = state.recentResults.get(command.requestId);
    if (earlier !== undefined) return earlier;
  }
  const result = run(state, command);
  if (command.requestId !== undefined) state.rememberResult(command.requestId, result);
  return result;
}

function run(state: MetaState, command: Command): ApplyResult {
  const handler = HANDLERS[command.type] as Handler<CommandType>;
  try {
    return { ok: true, value: handler(state, command as never) };
  } catch (error) {
    if (!(error instanceof UkaiError)) throw error;
    return error.details === undefined
      ? { ok: false, code: error.code, message: error.message }
      : { ok: false, code: error.code, message: error.message, details: error.details };
  }
}

/** Turns a refusal into the UkaiError it stands for; returns the value otherwise. */
export function resultValue(result: ApplyResult): Readonly<Record<string, unknown>> {
  if (result.ok) return result.value;
  throw new UkaiError(
    result.code,
    result.message,
    result.details === undefined ? undefined : { details: { ...result.details } },
  );
}

export { MetaState };
