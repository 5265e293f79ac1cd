/**
 * The static server of `deno task browser`: 127.0.0.1 on a free port, cross-origin isolated
 * (COOP same-origin and COEP require-corp on every response, so that `SharedArrayBuffer` and
 * wasm threads work in the page and its workers; `http://127.0.0.1` is a secure context).
 * `/` and every file path serve the built page, `/targets/<n>` the check targets held in memory.
 * @module
 */

/** The headers every response carries. */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
} as const;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  wasm: "application/wasm",
};

/** A running server. */
export interface PageServer {
  origin: string;
  /** serves `bytes` at the returned path (`/targets/<n>`) */
  addTarget(bytes: Uint8Array<ArrayBuffer>): string;
  shutdown(): Promise<void>;
}

/** Starts the server for the page built in `distDir`. */
export function startServer(distDir: string): PageServer {
  const targets: Uint8Array<ArrayBuffer>[] = [];
  const handle = async (request: Request): Promise<Response> => {
    const headers = new Headers(ISOLATION_HEADERS);
    if (request.method !== "GET") {
      return new Response("method not allowed", { status: 405, headers });
    }
    const path = decodeURIComponent(new URL(request.url).pathname);
    const target = /^\/targets\/(\d+)$/.exec(path);
    if (target) {
      const bytes = targets[Number(target[1])];
      if (!bytes) return new Response("not found", { status: 404, headers });
      headers.set("Content-Type", "application/octet-stream");
      return new Response(bytes, { headers });
    }
    const file = path === "/" ? "index.html" : path.slice(1);
    if (file === "" || file.split("/").includes("..")) {
      return new Response("not found", { status: 404, headers });
    }
    try {
      const body = await Deno.readFile(`${distDir}/${file}`);
      headers.set("Content-Type", TYPES[file.split(".").pop()!] ?? "application/octet-stream");
      return new Response(body, { headers });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      return new Response("not found", { status: 404, headers });
    }
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    addTarget(bytes) {
      targets.push(bytes);
      return `/targets/${targets.length - 1}`;
    },
    shutdown: () => server.shutdown(),
  };
}
