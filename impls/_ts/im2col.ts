/**
 * The im2col of the `ts` adapter's general path: a chunk of output columns of one example and
 * group, straight into 4-column panels for the GEMM (`gemm.ts`). Padding of every mode goes
 * through index maps (`paddingMap`), so no padded copy of the input is made.
 * @module
 */
import { paddingMap, type TsPlan } from "./plan.ts";

/** Index maps from output pixels and padded coordinates to the input, made once per plan. */
export interface PixelMaps {
  /** padded row -> input row, -1 for a zero */
  rowMap: Int32Array;
  /** padded column -> input column, -1 for a zero */
  colMap: Int32Array;
  /** general path only: output row of each output pixel */
  pixelRow: Int32Array;
  /** general path only: output column of each output pixel */
  pixelCol: Int32Array;
}

/** The index maps of a plan (pixel maps only on the general path). */
export function pixelMaps(p: TsPlan): PixelMaps {
  const outPlane = p.path === "general" ? p.outHeight * p.outWidth : 0;
  const maps: PixelMaps = {
    rowMap: paddingMap(p.inHeight, p.padTop, p.padBottom, p.paddingMode),
    colMap: paddingMap(p.inWidth, p.padLeft, p.padRight, p.paddingMode),
    pixelRow: new Int32Array(outPlane),
    pixelCol: new Int32Array(outPlane),
  };
  for (let i = 0; i < outPlane; i++) {
    maps.pixelRow[i] = Math.floor(i / p.outWidth);
    maps.pixelCol[i] = i % p.outWidth;
  }
  return maps;
}

/**
 * Panels `[tile][C/g * kh * kw][4]` into `cols`: example `b`, group `g`, `tiles` column tiles
 * from `ct0`.
 */
export function im2col(
  p: TsPlan,
  maps: PixelMaps,
  input: Float32Array,
  b: number,
  g: number,
  ct0: number,
  tiles: number,
  cols: Float32Array,
): void {
  const { inHeight: H, inWidth: W, kernelHeight: kh, kernelWidth: kw } = p;
  const sh = p.strideHeight, sw = p.strideWidth, dh = p.dilationHeight, dw = p.dilationWidth;
  const { rowMap, colMap, pixelRow, pixelCol } = maps;
  const outPlane = p.outHeight * p.outWidth, Cg = p.channelsPerGroup;
  const channelBase = (b * p.inChannels + g * Cg) * H * W;
  let d = 0;
  // the four pixels of a panel are unrolled on purpose (one local per pixel and coordinate)
  for (let t = 0; t < tiles; t++) {
    const px = (ct0 + t) * 4;
    // the top-left padded coordinate of each of the 4 pixels; -1 marks a pixel past the end
    const valid1 = px + 1 < outPlane, valid2 = px + 2 < outPlane, valid3 = px + 3 < outPlane;
    const y0 = pixelRow[px] * sh, x0 = pixelCol[px] * sw;
    const y1 = valid1 ? pixelRow[px + 1] * sh : -1, x1 = valid1 ? pixelCol[px + 1] * sw : 0;
    const y2 = valid2 ? pixelRow[px + 2] * sh : -1, x2 = valid2 ? pixelCol[px + 2] * sw : 0;
    const y3 = valid3 ? pixelRow[px + 3] * sh : -1, x3 = valid3 ? pixelCol[px + 3] * sw : 0;
    for (let c = 0; c < Cg; c++) {
      const cb = channelBase + c * H * W;
      for (let u = 0; u < kh; u++) {
        const du = u * dh;
        const r0 = rowMap[y0 + du];
        const r1 = y1 < 0 ? -1 : rowMap[y1 + du];
        const r2 = y2 < 0 ? -1 : rowMap[y2 + du];
        const r3 = y3 < 0 ? -1 : rowMap[y3 + du];
        for (let v = 0; v < kw; v++) {
          const dv = v * dw;
          const s0 = colMap[x0 + dv], s1 = colMap[x1 + dv];
          const s2 = colMap[x2 + dv], s3 = colMap[x3 + dv];
          cols[d] = r0 < 0 || s0 < 0 ? 0 : input[cb + r0 * W + s0];
          cols[d + 1] = r1 < 0 || s1 < 0 ? 0 : input[cb + r1 * W + s1];
          cols[d + 2] = r2 < 0 || s2 < 0 ? 0 : input[cb + r2 * W + s2];
          cols[d + 3] = r3 < 0 || s3 < 0 ? 0 : input[cb + r3 * W + s3];
          d += 4;
        }
      }
    }
  }
}
