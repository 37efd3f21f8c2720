// The page in a real browser (Debian's Chromium driven by playwright-core) against the real stack
// (`stack up` on a free port, tasks scaled to milliseconds).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const stackBin = process.env.STACK_BIN || join(root, "target/debug/stack");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = join(root, "target/test-output");

let stack, browser, page, base;

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
    s.on("error", fail);
  });
}

async function waitHealthy(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try { if ((await fetch(url)).ok) return; } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

async function stat(name) {
  return Number(await page.locator(`[data-stat="${name}"]`).textContent());
}

async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function submit({ kind = "cpu", intensity = "light", count, fail }) {
  await page.selectOption("#kind", kind);
  await page.selectOption("#intensity", intensity);
  await page.fill("#count", String(count));
  await page.fill("#fail_percent", String(fail));
  await page.click("#submit");
}

before(async () => {
  assert.ok(existsSync(stackBin), `build the stack first: cargo build -p stack (looked for ${stackBin})`);
  assert.ok(existsSync(chromiumPath), `Chromium is missing: apt-get install -y chromium (looked for ${chromiumPath})`);
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(join(tmpdir(), "stack-e2e-"));
  stack = spawn(stackBin, ["up", "--port", String(port), "--runners", "2", "--workers", "4", "--time-scale", "0.01",
    "--data-dir", data, "--metrics-port", "0", "--retry-backoff-base", "0"], { stdio: ["ignore", "ignore", "inherit"] });
  await waitHealthy(`${base}/healthz`, 30000);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  page.on("dialog", (d) => d.accept());
  await page.goto(base + "/");
});

after(async () => {
  await browser?.close();
  stack?.kill("SIGINT");
});

test("twenty submitted tasks all reach succeeded", async () => {
  await submit({ count: 20, fail: 0 });
  await until("20 succeeded", async () => (await stat("succeeded")) === 20);
  await until("rows show succeeded", async () => (await page.locator('tr[data-status="succeeded"]').count()) === 20);
  assert.match(await page.locator("#form-message").textContent(), /20 task\(s\) queued/);
  await page.screenshot({ path: join(shots, "frontend-succeeded.png"), fullPage: true });
});

test("a task that always fails ends dead-lettered", async () => {
  await submit({ kind: "ram", count: 1, fail: 100 });
  await until("1 dead-lettered", async () => (await stat("dead_lettered")) === 1);
  await page.selectOption("#status-filter", "dead_lettered");
  await until("the filtered list shows it", async () => (await page.locator('tr[data-status="dead_lettered"]').count()) === 1);
  const attempts = await page.locator('tr[data-status="dead_lettered"] td').nth(4).textContent();
  assert.equal(attempts, "3", "dead-lettered after the maximum receives");
  await page.selectOption("#status-filter", "");
  await page.screenshot({ path: join(shots, "frontend-dead-lettered.png"), fullPage: true });
});

test("invalid input shows an error and sends nothing", async () => {
  const before = await stat("succeeded");
  await submit({ count: 0, fail: 0 });
  assert.match(await page.locator("#form-message").textContent(), /Number of tasks must be a whole number from 1 to 1000/);
  assert.equal(await page.locator("#count").getAttribute("aria-invalid"), "true");
  await submit({ count: 1, fail: 150 });
  assert.match(await page.locator("#form-message").textContent(), /Fail % must be/);
  assert.equal(await stat("succeeded"), before);
});

test("delete all empties the list", async () => {
  await page.click("#delete-all");
  await until("no rows", async () => (await page.locator("#task-rows tr").count()) === 0);
  await until("zero counts", async () => (await stat("succeeded")) === 0);
  assert.match(await page.locator("#form-message").textContent(), /deleted/);
});

test("the page works at phone width", async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  assert.ok(await page.locator("#submit").isVisible());
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, "no horizontal scrolling of the page");
  await page.screenshot({ path: join(shots, "frontend-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 1000 });
});

test("an unreachable API is reported", async () => {
  stack.kill("SIGINT");
  await new Promise((r) => stack.once("exit", r));
  await until("banner", async () => await page.locator("#connection").isVisible(), 10000);
  assert.match(await page.locator("#connection").textContent(), /cannot be reached/);
});
