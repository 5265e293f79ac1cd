/**
 * The plan words shared by the host (`impls/wasm.ts`, the workers) and the AssemblyScript
 * kernels (`assembly/condconv.ts` imports this file too, so it holds plain integer constants
 * only). A plan is `PLAN_WORDS` 32-bit words in the shared memory; pointers are byte offsets.
 * @module
 */
/** 0 pointwise (1x1 GEMM), 1 depthwise, 2 general (im2col GEMM) */
export const P_PATH = 0;
export const P_C = 1;
export const P_H = 2;
export const P_W = 3;
export const P_O = 4;
export const P_OH = 5;
export const P_OW = 6;
export const P_GROUPS = 7;
/** input channels per group */
export const P_CG = 8;
/** output channels per group */
export const P_OG = 9;
export const P_KH = 10;
export const P_KW = 11;
export const P_SH = 12;
export const P_SW = 13;
export const P_DH = 14;
export const P_DW = 15;
export const P_E = 16;
/** 0 sigmoid, 1 softmax, 2 supplied */
export const P_ROUTING = 17;
/** softmax temperature, a float32 */
export const P_TEMPERATURE = 18;
/** 0 none, 1 shared, 2 perExpert */
export const P_BIAS = 19;
/** `Cg * kh * kw`: the GEMM reduction length */
export const P_K = 20;
/** examples in the current job */
export const P_BATCH = 21;
/** `(E, O, Cg, kh, kw)` */
export const P_EXPERTS_PTR = 22;
export const P_BIAS_PTR = 23;
export const P_RW_PTR = 24;
export const P_RB_PTR = 25;
/** `(cap, C, H, W)` */
export const P_INPUT_PTR = 26;
/** `(cap, E)` */
export const P_SUPPLIED_PTR = 27;
/** `(cap, C)` float64 channel means */
export const P_POOLED_PTR = 28;
/** pointwise: `(cap, colPanels, C, NR)` */
export const P_PACKED_PTR = 29;
/** `(cap, O, OH, OW)` */
export const P_OUTPUT_PTR = 30;
/** int32 `(Hp)`: padded row to source row, -1 for zero */
export const P_ROWMAP_PTR = 31;
/** int32 `(Wp)` */
export const P_COLMAP_PTR = 32;
/** padded height and width */
export const P_HP = 33;
export const P_WP = 34;
/** the first worker's scratch, and the bytes between two workers' scratch */
export const P_SCRATCH_PTR = 35;
export const P_SCRATCH_STRIDE = 36;
/** `ceil(OH * OW / NR)`: column panels of one output plane */
export const P_COL_PANELS = 37;
/** `ceil(Og / MR)`: row panels of one group */
export const P_ROW_PANELS = 38;
/** pointwise: row panels per unit; depthwise: channels per unit; general: column panels */
export const P_UNIT_SIZE = 39;
/** phase 2 units of one job (set per job) */
export const P_UNITS = 40;
/** input channels per phase 1 unit */
export const P_POOL_BLOCK = 41;
/** the largest batch the buffers hold */
export const P_CAPACITY = 42;
/** depthwise: width of one column-phase plane (a multiple of 4 plus the tap reach) */
export const P_PHASE_WIDTH = 43;
/** worker scratch: byte offsets (from the worker's scratch) of routing, mixed, bias, work */
export const P_S_ROUTING = 44;
export const P_S_MIXED = 45;
export const P_S_BIAS = 46;
export const P_S_WORK = 47;
/** padding before the first row and column */
export const P_PAD_TOP = 48;
export const P_PAD_LEFT = 49;
/** 0 zeros, 1 reflect, 2 replicate, 3 circular */
export const P_PAD_MODE = 50;
/** worker scratch: byte offset of the `MR x NR` edge-tile buffer */
export const P_S_TILE = 51;
/** worker scratch: byte offset of the mixing stage (`[E][4]` routing, `[4][4][64]` floats) */
export const P_S_STAGE = 52;
/** words of a plan */
export const PLAN_WORDS = 53;

/** Rows of the GEMM micro-kernel (output channels per tile). */
export const MR = 4;
/** Columns of the GEMM micro-kernel (output pixels per tile, two float32x4 vectors). */
export const NR = 8;
