#!/usr/bin/env node
// ./dev bench tab: a click on the Canary tab until its controls show, in a
// PRODUCTION build of the app served by the backend as a real install serves
// it (@backstage/plugin-app-backend with packages/app/dist), in Debian's
// Chromium. The same definition as the e2e run's development measurement
// (e2e/scenarios.mjs openCanaryTab: a loaded component page, a click on its
// Canary tab, until the "Rollout controls" group shows) and the same data: an
// active (paused) rollout of checkout with 1,000 events and 10,000 analysis
// rows behind it, and search with no rollout. Every run uses a new browser
// context (empty cache), so the tab's code is fetched after the click.
//
// Writes the `production` section of bench/results/tab-interactive.json and
// keeps the `development` section the e2e run wrote.
//
// Usage: node bench/frontend/tab.mjs [--runs N]   (./dev bench tab [--no-build] [--runs N])
//        node bench/frontend/tab.mjs --against http://localhost:3000 [--backend http://localhost:7007]
//   (--against: measure a running app instead, e.g. ./dev demo's development
//   server, print the figures and write nothing; the long history must
//   already be there)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../e2e/lib/browser.mjs';
import { openCanaryTab, signInAsGuest } from '../../e2e/scenarios.mjs';
import { runBenchmark, startWorld, worldLogger } from '../world.mjs';

const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../..',
);
const args = process.argv.slice(2);
const option = name =>
  args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
const RUNS = Number(option('--runs') ?? 5);
const against = option('--against');
const log = worldLogger('bench tab');
const resultFile = path.join(root, 'bench', 'results', 'tab-interactive.json');

const median = xs => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};

/**
 * One measurement: a new context (empty cache), sign in, open the
 * component's page, click its Canary tab. Returns the ms until the controls
 * show, until their permission checks answered (a button enabled), until
 * the event timeline and the charts show, and what the browser fetched
 * between the click and the controls.
 */
async function measureOnce(browser, app, name) {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 1000 },
  });
  const page = await context.newPage();
  try {
    const requests = [];
    page.on('requestfinished', request => {
      const t = request.timing();
      requests.push({
        url: request.url(),
        type: request.resourceType(),
        startAt: t.startTime,
        endMs: t.responseEnd,
      });
    });
    await signInAsGuest(page, app);
    const interactiveMs = await openCanaryTab(page, app, name);
    const clickedAt = Date.now() - interactiveMs;
    const controls = page.getByRole('group', { name: 'Rollout controls' });
    await controls.locator('button:not([disabled])').first().waitFor();
    const controlsEnabledMs = Date.now() - clickedAt;
    let timelineShownMs = null;
    let chartsShownMs = null;
    if (name === 'checkout') {
      await page.getByTestId('canary-timeline').waitFor();
      timelineShownMs = Date.now() - clickedAt;
      await page
        .locator('[data-testid^="chart-"]')
        .or(page.getByText('No metric samples yet.'))
        .first()
        .waitFor();
      chartsShownMs = Date.now() - clickedAt;
    }
    // What was fetched between the click and the controls showing.
    const beforeControls = requests
      .map(r => ({
        path: new URL(r.url).pathname,
        type: r.type,
        startMs: Math.round(r.startAt - clickedAt),
        doneMs: Math.round(r.startAt + r.endMs - clickedAt),
      }))
      .filter(r => r.startMs >= -5 && r.startMs <= interactiveMs)
      .sort((a, b) => a.startMs - b.startMs);
    return {
      interactiveMs,
      controlsEnabledMs,
      timelineShownMs,
      chartsShownMs,
      beforeControls,
    };
  } finally {
    await context.close();
  }
}

async function measureAll(app) {
  const browser = await launchChromium();
  try {
    const out = {};
    for (const name of ['checkout', 'search']) {
      // One unmeasured run first: the backend's own first-request costs.
      await measureOnce(browser, app, name);
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        const run = await measureOnce(browser, app, name);
        log(
          `${name} run ${i + 1}: controls ${run.interactiveMs} ms, enabled ${
            run.controlsEnabledMs
          } ms${
            run.timelineShownMs ? `, timeline ${run.timelineShownMs} ms` : ''
          }${run.chartsShownMs ? `, charts ${run.chartsShownMs} ms` : ''}`,
        );
        runs.push(run);
      }
      const pick = k => runs.map(r => r[k]).filter(v => v !== null);
      out[name] = {
        interactiveMs: pick('interactiveMs'),
        medianInteractiveMs: median(pick('interactiveMs')),
        maxInteractiveMs: Math.max(...pick('interactiveMs')),
        medianControlsEnabledMs: median(pick('controlsEnabledMs')),
        ...(name === 'checkout'
          ? {
              medianTimelineShownMs: median(pick('timelineShownMs')),
              medianChartsShownMs: median(pick('chartsShownMs')),
            }
          : {}),
        // The last run's requests from the click to the controls.
        requestsBeforeControls: runs[runs.length - 1].beforeControls,
      };
    }
    return out;
  } finally {
    await browser.close();
  }
}

async function main() {
  if (against) {
    console.log(JSON.stringify(await measureAll(against), null, 2));
    return;
  }
  const dist = path.join(root, 'packages', 'app', 'dist', 'index.html');
  if (!fs.existsSync(dist)) {
    throw new Error(
      'packages/app/dist is missing: run `./dev bench tab` (it builds the app for production first).',
    );
  }
  const { backend, seeded } = await startWorld({
    name: 'bench tab',
    seed: true,
    serveApp: true,
  });
  // The backend serves the built app at its own address.
  const index = await fetch(`${backend}/catalog`);
  const html = await index.text();
  if (!index.ok || !html.includes('<div id="root">')) {
    throw new Error(
      `the backend does not serve the built app at ${backend}/ (${index.status})`,
    );
  }
  const measured = await measureAll(backend);
  const previous = fs.existsSync(resultFile)
    ? JSON.parse(fs.readFileSync(resultFile, 'utf8'))
    : {};
  const production = {
    measuredAt: new Date().toISOString(),
    note: `ms from a click on the Canary tab of a loaded component page until the "Rollout controls" group shows (interactiveMs), until a control is enabled (its permission answered), and for checkout until the event timeline and the charts show; production build of packages/app served by the backend (app-backend), Debian's Chromium, a new browser context (empty cache) per run, ${RUNS} runs after one unmeasured; checkout has an active (paused) rollout with ${
      seeded.events
    } events and ${
      seeded.analysis
    } analysis rows behind it, search has no rollout; this machine (${
      os.cpus().length
    } cores, load average ${os
      .loadavg()
      .map(l => l.toFixed(1))
      .join(' / ')} at the end)`,
    targetMs: 1500,
    ...measured,
  };
  const { development, production: _old, ...rest } = previous;
  const out = {
    targetMs: 1500,
    development: development ?? (Object.keys(rest).length ? rest : undefined),
    production,
  };
  fs.mkdirSync(path.dirname(resultFile), { recursive: true });
  fs.writeFileSync(resultFile, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${path.relative(root, resultFile)}`);
  console.log(JSON.stringify(production, null, 2));
}

runBenchmark(main, log);
