/**
 * The golden case list (`fixtures/cases.json`) and the fixture manifest
 * (`fixtures/manifest.json`), as schemas. Both are read by `scripts/make_goldens.py` too.
 * @module
 */
import { z } from "zod";
import { CondConvSpec } from "./spec.ts";
import { geometryIssues } from "./geometry.ts";

/** How a case's input and routing bias are drawn (see `seeded.ts`). */
export const CaseData = z.strictObject({
  /** `"zeros"` makes an all-zero input; `"uniform"` draws `u * inputScale + inputOffset` */
  input: z.enum(["uniform", "zeros"]).default("uniform"),
  /** a power of two, so generation stays exact in both languages */
  inputScale: z.number().positive().refine((s) => Number.isInteger(Math.log2(s)), {
    message: "inputScale must be a power of two",
  }).default(1),
  inputOffset: z.number().finite().default(0),
  /** added to every routing bias: large magnitudes saturate the sigmoid near 0 or 1 */
  routingBiasShift: z.number().finite().default(0),
});
/** `CaseData` after parsing. */
export type CaseData = z.infer<typeof CaseData>;

/** One golden case: a spec, an input shape and the seed its tensors come from. */
export const GoldenCase = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, {
    message: "case ids are lower-case letters, digits, '_', '.' and '-'",
  }),
  about: z.string().min(1),
  tags: z.array(z.string().min(1)).default([]),
  seed: z.int().nonnegative().max(0xffffffff),
  input: z.strictObject({
    batch: z.int().positive(),
    height: z.int().positive(),
    width: z.int().positive(),
  }),
  spec: CondConvSpec,
  data: CaseData.default({
    input: "uniform",
    inputScale: 1,
    inputOffset: 0,
    routingBiasShift: 0,
  }),
}).superRefine((goldenCase, ctx) => {
  const { batch, height, width } = goldenCase.input;
  const shape = [batch, goldenCase.spec.inChannels, height, width];
  for (const issue of geometryIssues(goldenCase.spec, shape)) {
    const path = issue.path[0] === "input" ? issue.path : ["spec", ...issue.path];
    ctx.addIssue({ code: "custom", path, message: issue.message });
  }
});
/** A parsed golden case. */
export type GoldenCase = z.infer<typeof GoldenCase>;

/** The whole case list, ids unique. */
export const CaseList = z.strictObject({
  cases: z.array(GoldenCase).min(1),
}).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.cases.forEach((c, index) => {
    if (seen.has(c.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", index, "id"],
        message: `duplicate case id "${c.id}"`,
      });
    }
    seen.add(c.id);
  });
});
/** A parsed case list. */
export type CaseList = z.infer<typeof CaseList>;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { message: "expected a sha256 hex digest" });
const errorStats = z.strictObject({ maxAbsErr: z.number().nonnegative(), maxRelErr: z.number() });

/** What `scripts/make_goldens.py` wrote for one case. */
export const ManifestEntry = z.strictObject({
  id: z.string(),
  /** the case entry exactly as it was in cases.json when the goldens were made */
  case: z.unknown(),
  /** path of the float64 little-endian output, relative to fixtures/ */
  file: z.string(),
  outputShape: z.array(z.int().positive()).length(4),
  sha256: sha256Hex,
  /** sha256 of the float32 bytes of input, weights and supplied routing, in STREAMS order */
  tensorsSha256: sha256Hex,
  /** the routing weights PyTorch computed, (B, E), float64 */
  routingWeights: z.array(z.number()),
  /** PyTorch's own float32 result measured against the float64 truth */
  torchFloat32: errorStats,
  /** how the user's module agreed with the vectorised reference, or why it could not run */
  oracle: z.strictObject({
    status: z.enum(["module", "module-patched", "not-runnable"]),
    detail: z.string(),
    maxAbsDiff: z.number().nonnegative().nullable(),
  }),
  /**
   * sha256 of every other field of this entry in canonical form (`manifestEntryDigest`), so
   * that a hand edit of the output shape or of PyTorch's error is caught like a corrupt golden
   */
  fieldsSha256: sha256Hex,
});
/** A parsed manifest entry. */
export type ManifestEntry = z.infer<typeof ManifestEntry>;

/** The fixture manifest. */
export const Manifest = z.strictObject({
  format: z.literal(1),
  seededAlgorithm: z.string(),
  generator: z.strictObject({
    script: z.string(),
    torch: z.string(),
    numpy: z.string(),
    python: z.string(),
  }),
  cases: z.array(ManifestEntry),
});
/** A parsed manifest. */
export type Manifest = z.infer<typeof Manifest>;

/**
 * A JSON value as text that Python and TypeScript write alike (JSON's own number and string
 * formats differ between them): `null`, `true`, `false`; a number as `d` and the 16 hex digits
 * of its float64 bits, big-endian (-0 as 0); a string as `s`, its UTF-8 byte length, `:` and itself;
 * arrays as `[a,b]`; objects as `{k:v,...}` with keys sorted. `scripts/make_goldens.py`
 * (`canonical`) writes the same.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value + 0); // -0 as 0: JSON.stringify writes -0 as 0
    const hex = Array.from(new Uint8Array(view.buffer), (b) => b.toString(16).padStart(2, "0"));
    return `d${hex.join("")}`;
  }
  if (typeof value === "string") return `s${new TextEncoder().encode(value).length}:${value}`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  throw new TypeError(`Cannot write ${typeof value} as canonical JSON`);
}

/**
 * The sha256 (hex) of a manifest entry's fields other than `fieldsSha256`, in canonical form.
 *
 * @example
 * ```ts
 * import { manifestEntryDigest } from "./cases.ts";
 * const digest = await manifestEntryDigest({ id: "a", outputShape: [1, 2, 3, 4] });
 * if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(digest);
 * ```
 */
export async function manifestEntryDigest(entry: Record<string, unknown>): Promise<string> {
  const { fieldsSha256: _, ...fields } = entry;
  const bytes = new TextEncoder().encode(canonicalJson(fields));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
