/**
 * The one line protocol between a task's process and its children (conform's and bench's
 * adapter processes, the gate's timing workers, the WebGPU probe): each message is one line
 * `@@condconv <json>`, in either direction. Anything else a child prints (library banners)
 * is not a message.
 *
 * JSON has no Infinity or NaN (`JSON.stringify` writes `null`), and a non-finite error is
 * exactly what a broken adapter produces, so numbers that are not finite travel as
 * `{"$nonFinite": "Infinity" | "-Infinity" | "NaN"}` and come back as numbers: a child
 * reports the same numbers as an in-process run. No imports: the process that may start
 * others loads this file.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./protocol.ts";
 * const line = encodeMessage({ worstRatio: Infinity, maxAbsErr: NaN });
 * const back = decodeMessage(line) as { worstRatio: number; maxAbsErr: number };
 * if (back.worstRatio !== Infinity || !Number.isNaN(back.maxAbsErr)) throw new Error("lost");
 * ```
 * @module
 */

/** Marks the protocol lines among whatever else a process prints. */
export const LINE_PREFIX = "@@condconv ";

/** The key of the object that stands for a non-finite number. */
const NON_FINITE = "$nonFinite";

/** `value` as JSON, with Infinity, -Infinity and NaN kept as explicit markers. */
export function stringifyKeepingNonFinite(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_key, v) => typeof v === "number" && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v,
    indent,
  );
}

/** Parses JSON written by {@link stringifyKeepingNonFinite}, markers back to numbers. */
export function parseKeepingNonFinite(text: string): unknown {
  return JSON.parse(text, (_key, v) => {
    if (
      typeof v === "object" && v !== null && Object.keys(v).length === 1 &&
      typeof v[NON_FINITE] === "string"
    ) {
      const number = Number(v[NON_FINITE]);
      if (Number.isFinite(number) || !["Infinity", "-Infinity", "NaN"].includes(v[NON_FINITE])) {
        throw new TypeError(`Invalid non-finite marker ${JSON.stringify(v)}`);
      }
      return number;
    }
    return v;
  });
}

/** One message as a protocol line (without the newline). */
export function encodeMessage(message: unknown): string {
  return LINE_PREFIX + stringifyKeepingNonFinite(message);
}

/** The message of a protocol line, or `undefined` for a line that is not one. */
export function decodeMessage(line: string): unknown {
  if (!line.startsWith(LINE_PREFIX)) return undefined;
  return parseKeepingNonFinite(line.slice(LINE_PREFIX.length));
}

/** The lines of a byte stream, decoded as UTF-8, as they arrive. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of stream) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  buffer += decoder.decode();
  if (buffer) yield buffer;
}
