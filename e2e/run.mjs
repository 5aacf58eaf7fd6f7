#!/usr/bin/env node
// End-to-end tests: starts `./dev demo` (sandbox cluster, Prometheus, backend,
// app), drives the Canary tab in Debian's Chromium with playwright-core, and
// writes the results as {passed, failed, tests} to the file given by --json.
//
// Usage: node e2e/run.mjs [--json out.json] [--no-demo] [filter]
// (filter: part of a scenario's name; several separated by |)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/browser.mjs';
import { scenarios, timings, writeJson } from './scenarios.mjs';
import {
  signalScenarios,
  signalTimings,
  signalsResultFile,
} from './signals.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const jsonOut = args.includes('--json')
  ? args[args.indexOf('--json') + 1]
  : undefined;
const noDemo = args.includes('--no-demo');
const filter = args.find(
  (a, i) => !a.startsWith('--') && args[i - 1] !== '--json',
);
const reportDir = path.join(root, 'e2e-test-report');
fs.mkdirSync(reportDir, { recursive: true });

const APP = 'http://localhost:3000';
const BACKEND = 'http://localhost:7007';

async function answers(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function waitFor(url, seconds, what) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await answers(url)) return;
    await new Promise(r => setTimeout(r, 500));
  }
  throw new Error(
    `${what} did not answer on ${url} within ${seconds} s (see e2e-test-report/demo.log)`,
  );
}

let demo;
let stopping = false;
function stopDemo() {
  stopping = true;
  if (demo && demo.exitCode === null) {
    try {
      process.kill(-demo.pid, 'SIGTERM');
    } catch {}
  }
}
process.on('exit', stopDemo);

// ./dev demo stops its sandbox and development servers on SIGTERM (killing
// what is left after 15 s); wait for it, so the ports are free when the
// run returns.
async function stopDemoAndWait() {
  if (!demo || demo.exitCode !== null || demo.signalCode !== null) return;
  const exited = new Promise(resolve => demo.once('exit', resolve));
  stopDemo();
  const timeout = new Promise(resolve => setTimeout(resolve, 30_000).unref());
  await Promise.race([exited, timeout]);
}
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const results = [];
let browser;
try {
  if (!noDemo) {
    if (
      (await answers(`${BACKEND}/api/canary/health`)) ||
      (await answers(APP))
    ) {
      throw new Error(
        'Something already listens on :3000 or :7007; stop it (a running ./dev demo?) or pass --no-demo to test against it.',
      );
    }
    // The demo keeps rollouts in .sandbox/db across restarts; the scenarios
    // start from an empty history, like a fresh clone.
    fs.rmSync(path.join(root, '.sandbox', 'db'), {
      recursive: true,
      force: true,
    });
    const log = fs.openSync(path.join(reportDir, 'demo.log'), 'w');
    demo = spawn(path.join(root, 'dev'), ['demo'], {
      cwd: root,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, BROWSER: 'none' },
    });
    demo.on('exit', code => {
      if (!stopping && code !== null && code !== 0)
        console.error(
          `./dev demo exited with ${code}; see e2e-test-report/demo.log`,
        );
    });
  }
  await waitFor(`${BACKEND}/api/canary/health`, 300, 'the backend');
  await waitFor(APP, 300, 'the app');

  browser = await launchChromium();
  const ctx = { root, app: APP, backend: BACKEND, browser, reportDir };
  for (const scenario of [...scenarios, ...signalScenarios]) {
    if (filter && !filter.split('|').some(f => scenario.name.includes(f)))
      continue;
    const started = Date.now();
    const context = await browser.newContext({
      viewport: { width: 1440, height: 1000 },
    });
    const page = await context.newPage();
    try {
      await scenario.run({ ...ctx, page, context });
      results.push({
        name: scenario.name,
        status: 'passed',
        ms: Date.now() - started,
      });
      console.log(`  ✓ ${scenario.name} (${Date.now() - started} ms)`);
    } catch (e) {
      const shot = path.join(
        reportDir,
        `${scenario.name.replace(/\W+/g, '-')}.png`,
      );
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      results.push({
        name: scenario.name,
        status: 'failed',
        ms: Date.now() - started,
        error: String(e?.stack ?? e),
      });
      console.log(
        `  ✗ ${scenario.name}\n    ${String(e?.message ?? e)
          .split('\n')
          .join('\n    ')}\n    screenshot: ${shot}`,
      );
    } finally {
      await context.close();
    }
  }
} catch (e) {
  results.push({
    name: 'e2e setup',
    status: 'failed',
    error: String(e?.stack ?? e),
  });
  console.log(`  ✗ e2e setup: ${e?.message ?? e}`);
} finally {
  await browser?.close().catch(() => {});
  await stopDemoAndWait();
}

if (Object.keys(timings).length) {
  // The development section; ./dev bench tab writes the production one.
  const file = path.join(root, 'bench', 'results', 'tab-interactive.json');
  const previous = fs.existsSync(file)
    ? JSON.parse(fs.readFileSync(file, 'utf8'))
    : {};
  writeJson(file, {
    targetMs: 1500,
    development: {
      measuredAt: new Date().toISOString(),
      note: 'ms from a click on the Canary tab of a loaded component page until the tab shows its controls, measured by the e2e run against ./dev demo (webpack development server, not a production build; ./dev bench tab measures the production build); longHistory*: checkout with an active (paused) rollout that has 1,000 events and 10,000 analysis rows behind it, until the controls, until a control is enabled (its permission answered) and until the event timeline shows',
      ...timings,
    },
    production: previous.production,
  });
}

if (Object.keys(signalTimings).length) {
  writeJson(signalsResultFile(root), {
    measuredAt: new Date().toISOString(),
    note: "ms until the open Canary tab shows a change pushed by Backstage Signals (the tab polled only every 600 s, ?canaryPollSeconds=600): start and abort pressed through the REST API with the CI token (press = before the call, answer = the call returned, the change committed), and the engine's first step (from its event time). signalToTabMs is the refetch of status and details plus rendering in the development build. Measured by the e2e run against ./dev demo on one machine.",
    ...signalTimings,
  });
}

const passed = results.filter(r => r.status === 'passed').length;
const failed = results.length - passed;
if (jsonOut)
  fs.writeFileSync(
    jsonOut,
    JSON.stringify({ passed, failed, tests: results }, null, 2),
  );
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
