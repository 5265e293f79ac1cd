/**
 * Which adapter's child may load native code, and which file: onnxruntime-node's addon, for the
 * `ort-node` adapter (`impls/ort_node.ts`) alone, so that a process that loads no third-party
 * code (conform's, bench's and the gate's parent) can grant FFI to that one file
 * (`child.ts`, `adapterChildPermissions`). The permission policy lives here, on the parent's
 * side, not in the adapter: no imports (the parent and `deno task report` load this file,
 * and the report loads no adapter code); `impls/ort_node_test.ts` checks that the id and the
 * version agree with the adapter's and with `deno.json`.
 *
 * The npm tarball of onnxruntime-node 1.30.0 ships the CPU addon prebuilt
 * (`bin/napi-v6/<platform>/<arch>/onnxruntime_binding.node`, with `libonnxruntime.so.1`
 * beside it on Linux, loaded by the system's dynamic linker, not through Deno), for linux,
 * darwin and win32 on x64 and arm64 (darwin: arm64 only). Its `postinstall` script only fetches
 * the CUDA and TensorRT providers for linux/x64, which this project does not use, so `deno
 * install` need not run it (`deno approve-scripts` is not needed).
 * @module
 */

/** The adapter that needs the addon. */
export const ORT_NODE_ID = "ort-node";

/** The version of onnxruntime-node this project pins (`deno.json`), as Deno installs it. */
export const ORT_NODE_INSTALLED_VERSION = "1.30.0";

/** Node's names of the platforms and architectures, from Deno's (`Deno.build`). */
const PLATFORMS: Record<string, string> = { linux: "linux", darwin: "darwin", windows: "win32" };
const ARCHES: Record<string, string> = { x86_64: "x64", aarch64: "arm64" };

/**
 * The addon's path under the project root (through the `node_modules/onnxruntime-node` link,
 * which Deno's permission check does not follow: resolve it before granting), for Deno's
 * `os` and `arch`; `undefined` where Node has no name for them.
 */
export function ortNodeAddonPath(os: string, arch: string): string | undefined {
  const platform = PLATFORMS[os];
  const nodeArch = ARCHES[arch];
  if (platform === undefined || nodeArch === undefined) return undefined;
  return `node_modules/onnxruntime-node/bin/napi-v6/${platform}/${nodeArch}/onnxruntime_binding.node`;
}

/**
 * Where Deno installs the addon of `ortNodeAddonPath` (`nodeModulesDir: "auto"`): the file the
 * link leads to, for a tree whose `node_modules` is not made yet (Deno makes it when the
 * child first loads the package, as for the gate's base revision).
 */
export function ortNodeInstalledAddonPath(os: string, arch: string): string | undefined {
  const linked = ortNodeAddonPath(os, arch);
  const store = `node_modules/.deno/onnxruntime-node@${ORT_NODE_INSTALLED_VERSION}/node_modules/`;
  return linked?.replace("node_modules/", store);
}
