/**
 * Drives Debian's headless Chromium (`/usr/bin/chromium`, never a downloaded browser) with npm
 * `puppeteer-core`: launches it with WebGPU flags, opens the page cross-origin isolated,
 * optionally overrides `navigator.hardwareConcurrency` over the DevTools protocol, and keeps
 * the page's console and errors for the report.
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** The browser this task drives. */
export const CHROMIUM = "/usr/bin/chromium";

/** WebGPU flag sets: which one gives Chromium a GPU adapter on a machine without a GPU. */
export const GPU_FLAGS: Readonly<Record<string, readonly string[]>> = {
  // Dawn on SwiftShader (Vulkan on the CPU, shipped with Chromium)
  swiftshader: [
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-angle=swiftshader",
    "--use-webgpu-adapter=swiftshader",
  ],
  // Dawn's own choice of Vulkan adapter (a real GPU where there is one; else SwiftShader)
  vulkan: ["--enable-unsafe-webgpu", "--enable-features=Vulkan"],
  // no WebGPU flags: the WebGPU adapters say why they cannot run
  none: [],
};

const BASE_FLAGS = [
  // the sandbox needs user namespaces that containers and CI runners often lack
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--no-default-browser-check",
];

/** Thrown when `/usr/bin/chromium` is missing: the message says how to install it. */
export class NoChromiumError extends Error {
  override name = "NoChromiumError";
}

/** Throws a `NoChromiumError` unless `/usr/bin/chromium` is a file. */
export async function requireChromium(path = CHROMIUM): Promise<void> {
  try {
    if ((await Deno.stat(path)).isFile) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new NoChromiumError(
    `Cannot find Chromium at ${path}: install Debian's package (apt-get install -y chromium); ` +
      "this task never downloads a browser",
  );
}

/** Options of `openPage`. */
export interface OpenOptions {
  url: string;
  gpu: string;
  /** what `navigator.hardwareConcurrency` says in the page; undefined: the real count */
  hardwareConcurrency?: number;
  /** the longest a single `page.evaluate` may take, ms */
  protocolTimeoutMs: number;
}

/** An open page and how to close everything. */
export interface OpenPage {
  browser: Browser;
  page: Page;
  /** e.g. `"chromium 156"` */
  name: string;
  /** e.g. `"HeadlessChrome/156.0.8078.114"` */
  version: string;
  flags: string[];
  /** console messages, page errors and failed requests, in order */
  logs: string[];
  close(): Promise<void>;
}

/** Launches Chromium and opens `url`, waiting until the page says it is ready. */
export async function openPage(options: OpenOptions): Promise<OpenPage> {
  const gpuFlags = GPU_FLAGS[options.gpu];
  const flags = [...BASE_FLAGS, ...gpuFlags];
  // beside the build, git-ignored (reports/browser-*/), so the task writes nowhere but reports/
  await Deno.mkdir("reports", { recursive: true });
  const userDataDir = await Deno.realPath(
    await Deno.makeTempDir({ dir: "reports", prefix: "browser-profile-" }),
  );
  const removeProfile = () => Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir,
      // a copy: puppeteer takes --enable-features out of the array it is given
      args: [...flags],
      protocolTimeout: options.protocolTimeoutMs,
      dumpio: false,
      // Chromium's whole environment, given rather than inherited (puppeteer would copy
      // process.env, which needs --allow-env for every variable)
      env: { PATH: "/usr/bin:/bin", HOME: userDataDir },
    });
  } catch (error) {
    await removeProfile();
    throw error;
  }
  const logs: string[] = [];
  const close = async () => {
    await browser.close().catch(() => {});
    await removeProfile();
  };
  try {
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`[pageerror] ${e}`));
    page.on(
      "requestfailed",
      (r) => logs.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`),
    );
    page.setDefaultTimeout(options.protocolTimeoutMs);
    if (options.hardwareConcurrency !== undefined) {
      const cdp = await page.createCDPSession();
      await cdp.send("Emulation.setHardwareConcurrencyOverride", {
        hardwareConcurrency: options.hardwareConcurrency,
      });
    }
    await page.goto(options.url, { waitUntil: "load" });
    try {
      await page.waitForFunction(() => document.title === "condconv ready", { timeout: 60_000 });
    } catch (error) {
      throw new Error(
        `The page did not get ready: ${(error as Error).message}\n${logs.slice(-20).join("\n")}`,
      );
    }
    const version = await browser.version();
    const major = /\/(\d+)\./.exec(version)?.[1] ?? version;
    return { browser, page, name: `chromium ${major}`, version, flags, logs, close };
  } catch (error) {
    await close();
    throw error;
  }
}
