/**
 * The result files of every task, defined once: one zod schema per report kind, each with its
 * type under the same name. The tasks write these and `deno task report` reads them; nothing
 * here imports an adapter, a registry or a Deno API.
 * @module
 */
export * from "./environment.ts";
export * from "./adapter_summary.ts";
export * from "./conformance.ts";
export * from "./bench.ts";
export * from "./gate.ts";
export * from "./soak.ts";
