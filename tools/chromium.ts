// Headless Chromium for the browser test tier: Debian's build, driven by puppeteer-core, with
// WebGPU on (SwiftShader without a GPU), plus a loopback HTTP server for the pages it opens.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM_PATH = process.env['PDCR_CHROMIUM'] ?? '/usr/bin/chromium';

/** Why the browser tier cannot run here, or null when it can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM_PATH)
    ? null
    : `no Chromium at ${CHROMIUM_PATH}: install Debian's chromium (scripts/bootstrap.sh does)`;
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Bounds any one call into the page, a wait for a selector included (ms; puppeteer: 180 s). */
  readonly protocolTimeout?: number;
  /**
   * false: the browser offers no WebGPU adapter (`requestAdapter()` resolves to null), as on a
   * machine without a GPU where Chromium's WebGPU is not enabled. Default true: SwiftShader.
   */
  readonly webgpu?: boolean;
}

/** Starts headless Chromium, with WebGPU on SwiftShader unless `webgpu` is false. */
export async function launchChromium(options: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'pdcr-chromium-'));
  const browser = await puppeteer.launch({
    ...(options.protocolTimeout ? { protocolTimeout: options.protocolTimeout } : {}),
    executablePath: CHROMIUM_PATH,
    headless: true,
    userDataDir,
    args: [
      '--no-sandbox',
      ...(options.webgpu === false ? [] : ['--enable-unsafe-webgpu', '--enable-features=Vulkan']),
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--no-first-run',
      '--no-default-browser-check',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface StaticFile {
  readonly type: string;
  readonly body: string | Uint8Array;
}

export interface LocalServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `files` (path to content) on 127.0.0.1 at a free port: a secure context for WebGPU. */
export async function serveFiles(files: Record<string, StaticFile>): Promise<LocalServer> {
  const server = createServer((request, response) => {
    const file = files[new URL(request.url ?? '/', 'http://localhost').pathname];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    response.end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Collects what a page reports as errors (uncaught exceptions, console errors) into a list. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}
