#!/usr/bin/env node
// End-to-end tests: starts `./dev demo` (sandbox cluster, Prometheus, backend,
// app), drives the Canary tab in Debian's Chromium with playwright-core, and
// writes the results as {passed, failed, tests} to the file given by --json.
//
// Usage: node e2e/run.mjs [--json out.json] [--no-demo] [filter]
// (filter: part of a scenario's name; several separated by |)
//
// A scenario that fails is shown with what went wrong (page crash, memory,
// the page's errors, rollouts left active, the demo's last errors), then
// tried once more from a clean state (E2E_ATTEMPTS=1: never); one that
// passes only then counts as passed and is named in the last line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/browser.mjs';
import { CI_TOKEN, canaryApi } from './lib/canaryApi.mjs';
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
/** With --no-demo: the rollouts already active before the scenarios ran (the user's own). */
const activeAtStart = new Set();
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

/** Tries per scenario: a second one after a failure, as Playwright does on CI. */
// (Anything but a whole number from 1 would retry forever or never: 2.)
const ATTEMPTS = /^[1-9]\d*$/.test(process.env.E2E_ATTEMPTS ?? '')
  ? Number(process.env.E2E_ATTEMPTS)
  : 2;
const canaryCall = (method, apiPath, body) =>
  canaryApi(BACKEND, CI_TOKEN, method, apiPath, body);

async function activeRollouts() {
  return (await canaryCall('GET', '/rollouts?active=true&limit=100')).items;
}

/** One try of a scenario in a new browser context, with what to show if it fails. */
async function runScenario(scenario) {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 1000 },
  });
  const page = await context.newPage();
  const consoleErrors = [];
  let crashed = false;
  page.on('console', message => {
    // React's development warnings also come as errors; they are noise here.
    if (message.type() === 'error' && !message.text().startsWith('Warning:'))
      consoleErrors.push(message.text().split('\n')[0].slice(0, 300));
  });
  page.on('pageerror', e => {
    // Where it was thrown, too: a message alone ("Invalid array length")
    // does not say which component to look at.
    const frames = String(e?.stack ?? '')
      .split('\n')
      .filter(line => /^\s+at /.test(line))
      .slice(0, 3)
      .map(line => line.trim());
    consoleErrors.push(
      `uncaught: ${String(e?.message ?? e).slice(0, 300)}${
        frames.length ? ` (${frames.join('; ').slice(0, 500)})` : ''
      }`,
    );
  });
  page.on('crash', () => {
    crashed = true;
  });
  try {
    await scenario.run({
      root,
      app: APP,
      backend: BACKEND,
      browser,
      reportDir,
      page,
      context,
    });
    return { ok: true };
  } catch (e) {
    const shot = path.join(
      reportDir,
      `${scenario.name.replace(/\W+/g, '-')}.png`,
    );
    if (!crashed)
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    return {
      ok: false,
      message: String(e?.message ?? e),
      error: String(e?.stack ?? e),
      crashed,
      shot: crashed ? '(none: the page crashed)' : shot,
      diagnosis: await diagnose({ crashed, consoleErrors }),
    };
  } finally {
    await context.close().catch(() => {});
  }
}

/**
 * What a reader of a CI log needs to tell why a scenario failed: whether
 * the page crashed, the machine's free memory and /dev/shm, the page's last
 * errors, the rollouts still active and the demo's last errors.
 */
async function diagnose({ crashed, consoleErrors }) {
  const lines = [];
  if (crashed) lines.push("the page crashed (Chromium's renderer died)");
  const shm = (() => {
    try {
      const s = fs.statfsSync('/dev/shm');
      return `${Math.round((s.bavail * s.bsize) / 2 ** 20)} MiB of ${Math.round(
        (s.blocks * s.bsize) / 2 ** 20,
      )} MiB free in /dev/shm`;
    } catch {
      return 'no /dev/shm';
    }
  })();
  lines.push(
    `memory: ${Math.round(os.freemem() / 2 ** 20)} MiB free of ${Math.round(
      os.totalmem() / 2 ** 20,
    )} MiB, ${shm}, load ${os
      .loadavg()
      .map(l => l.toFixed(1))
      .join(' ')}`,
  );
  for (const error of consoleErrors.slice(-3))
    lines.push(`page error: ${error}`);
  try {
    const active = await activeRollouts();
    lines.push(
      active.length
        ? `active rollouts: ${active
            .map(r => `${r.entityRef} ${r.phase} at ${r.weight} %`)
            .join('; ')}`
        : 'no active rollouts',
    );
  } catch (e) {
    lines.push(`the backend did not list the rollouts: ${e?.message ?? e}`);
  }
  try {
    const logLines = fs
      .readFileSync(path.join(reportDir, 'demo.log'), 'utf8')
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .filter(
        l =>
          /\b(error|warn)\b/i.test(l) &&
          // The demo runs without the events backend, on purpose (one process).
          !l.includes('events backend not found'),
      )
      .slice(-5);
    for (const l of logLines) lines.push(`demo: ${l.slice(0, 300)}`);
  } catch {}
  return lines;
}

/** Aborts what a failed try left running and replaces a crashed browser. */
async function recover(crashed) {
  if (crashed || !browser.isConnected()) {
    await browser.close().catch(() => {});
    browser = await launchChromium();
  }
  try {
    // Against a demo of its own every rollout is the run's; against one run
    // by hand (--no-demo) only those that were not active when this run
    // began (a Flagger or Argo rollout's creation time is its object's, not
    // its update's, so the time would not tell).
    const ours = r => !noDemo || !activeAtStart.has(r.id);
    // The list may answer from a cache up to 10 s old (Flagger and Argo
    // rollouts are read from the clusters): it is read again, and what
    // shows up is aborted, until an answer read after that shows none.
    const aborted = new Set();
    const settled = Date.now() + 12_000;
    const deadline = Date.now() + 180_000;
    for (;;) {
      const left = (await activeRollouts()).filter(ours);
      for (const r of left.filter(r => !aborted.has(r.id))) {
        aborted.add(r.id);
        console.log(
          `    aborting ${r.entityRef} (${r.phase} at ${r.weight} %)`,
        );
        await canaryCall('POST', `/rollouts/${r.id}/abort`, {
          reason: 'e2e: a failed try left it running',
        }).catch(e => console.log(`    could not abort ${r.id}: ${e.message}`));
      }
      if ((!left.length && Date.now() >= settled) || Date.now() >= deadline)
        break;
      await new Promise(r => setTimeout(r, 1000));
    }
  } catch (e) {
    console.log(`    could not clean up the rollouts: ${e?.message ?? e}`);
  }
}
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

  if (noDemo) for (const r of await activeRollouts()) activeAtStart.add(r.id);
  browser = await launchChromium();
  for (const scenario of [...scenarios, ...signalScenarios]) {
    if (filter && !filter.split('|').some(f => scenario.name.includes(f)))
      continue;
    const started = Date.now();
    let first;
    for (let attempt = 1; ; attempt++) {
      const outcome = await runScenario(scenario);
      if (outcome.ok) {
        const ms = Date.now() - started;
        results.push({
          name: scenario.name,
          status: 'passed',
          ms,
          ...(first ? { attempts: attempt, firstError: first } : {}),
        });
        console.log(
          `  ✓ ${scenario.name} (${ms} ms${
            first ? `, on try ${attempt}; the first failed as shown above` : ''
          })`,
        );
        break;
      }
      first ??= outcome.error;
      console.log(
        `  ✗ ${scenario.name}${attempt > 1 ? ` (try ${attempt})` : ''}\n    ${[
          outcome.message,
          ...outcome.diagnosis,
        ]
          .join('\n')
          .split('\n')
          .join('\n    ')}\n    screenshot: ${outcome.shot}`,
      );
      if (attempt >= ATTEMPTS) {
        results.push({
          name: scenario.name,
          status: 'failed',
          ms: Date.now() - started,
          attempts: attempt,
          error: outcome.error,
        });
        break;
      }
      // What a failed try left behind must not fail the next one: a
      // rollout it started is aborted, a crashed browser replaced.
      console.log('    trying once more, from a clean state ...');
      await recover(outcome.crashed);
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
const retried = results.filter(r => r.status === 'passed' && r.attempts > 1);
console.log(
  `e2e: ${passed} passed, ${failed} failed${
    retried.length
      ? ` (${retried.length} passed only on a later try: ${retried
          .map(r => r.name)
          .join('; ')})`
      : ''
  }`,
);
process.exit(failed ? 1 : 0);
