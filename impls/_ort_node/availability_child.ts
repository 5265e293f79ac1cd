/**
 * Prints `ort-node`'s availability as one JSON line: `impls/ort_node_test.ts` runs it with
 * the permissions every other adapter's child gets (`--deny-ffi`).
 * @module
 */
import { ortNodeAdapter } from "../ort_node.ts";

if (import.meta.main) console.log(JSON.stringify(await ortNodeAdapter.availability()));
