#!/usr/bin/env node
// The packaging proof: the README's "Installing into an existing Backstage"
// section, done to a fresh app made with @backstage/create-app at the
// Backstage version in backstage.json, then checked in Chromium.
//
//   1. `./dev pack` builds and packs the three plugin packages;
//   2. a fresh app (cached under .cache/install/, keyed by the create-app
//      version and Node's version; every run restores its pristine files);
//   3. only the README's steps: the resolution and dependencies in
//      package.json files, `yarn install`, the one backend line, the
//      `kubernetes:` and `canary:` configuration (pointed at the sandbox);
//   4. the sandbox and its Prometheus on free ports, `yarn start` of the app
//      on free ports (never 3000/7007, so it can run next to e2e/run.mjs);
//   5. in Chromium: the Canary tab of a component renders, and a rollout
//      started there advances.
//
// Usage: node e2e/install/run.mjs [--json out.json] [--keep-running]
// Writes {passed, failed, tests} like e2e/run.mjs.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../lib/browser.mjs';
import YAML from 'yaml';
import {
  backgroundProcesses,
  freePort,
  waitForUrl,
} from '../lib/processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const jsonOut = args.includes('--json')
  ? path.resolve(args[args.indexOf('--json') + 1])
  : undefined;
const cacheDir = path.join(root, '.cache', 'install');
const reportDir = path.join(root, 'e2e-test-report');
fs.mkdirSync(cacheDir, { recursive: true });
fs.mkdirSync(reportDir, { recursive: true });

const pin = JSON.parse(
  fs.readFileSync(path.join(here, 'create-app.json'), 'utf8'),
);
const backstageVersion = JSON.parse(
  fs.readFileSync(path.join(root, 'backstage.json'), 'utf8'),
).version;

const log = (...m) => console.log('  [install]', ...m);

/** The environment for tools run inside the created app: none of our Yarn's variables. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_(?!config_nodedir)|YARN_|BERRY_|PROJECT_CWD|INIT_CWD)/.test(k))
      continue;
    env[k] = v;
  }
  // The created app's lockfile is written by its first installs, as on a
  // user's machine; under CI=true Yarn would refuse that (YN0028).
  env.YARN_ENABLE_IMMUTABLE_INSTALLS = 'false';
  return { ...env, ...extra };
}

function run(cmd, cmdArgs, opts = {}) {
  const started = Date.now();
  const logFile = opts.log ? path.join(reportDir, opts.log) : undefined;
  const res = spawnSync(cmd, cmdArgs, {
    cwd: opts.cwd ?? root,
    env: opts.env ?? cleanEnv(),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: (opts.timeoutS ?? 900) * 1000,
  });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  if (logFile)
    fs.writeFileSync(logFile, `$ ${cmd} ${cmdArgs.join(' ')}\n${output}`);
  if (res.status !== 0) {
    const tail = output.trim().split('\n').slice(-25).join('\n');
    throw new Error(
      `${cmd} ${cmdArgs.join(' ')} failed (${
        res.error?.message ?? `exit ${res.status}`
      })${logFile ? `; log: ${path.relative(root, logFile)}` : ''}\n${tail}`,
    );
  }
  return { output, ms: Date.now() - started };
}

const sha1 = data => crypto.createHash('sha1').update(data).digest('hex');

const { start: startBackground, stopAll } = backgroundProcesses({
  logDir: reportDir,
});

// --- the steps -------------------------------------------------------------

/** `./dev pack` into a folder named after the packages' content. */
function pack() {
  const tmp = fs.mkdtempSync(path.join(cacheDir, 'packs-'));
  run(path.join(root, 'dev'), ['pack', tmp], {
    log: 'install-pack.log',
    env: process.env,
  });
  const files = fs
    .readdirSync(tmp)
    .filter(f => f.endsWith('.tgz'))
    .sort();
  if (files.length !== 4)
    throw new Error(`./dev pack wrote ${files.join(', ')}`);
  // A new folder for new contents: Yarn caches `file:` tarballs by path.
  const hash = sha1(
    files.map(f => fs.readFileSync(path.join(tmp, f))).join(''),
  ).slice(0, 12);
  const dir = path.join(cacheDir, 'packs', hash);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.renameSync(tmp, dir);
  // What the issue found missing: the backend must ship its OpenAPI document
  // and migrations, and name canary-common by version.
  const listing = run('tar', [
    'tzf',
    path.join(dir, 'backstage-plugin-canary-backend.tgz'),
  ]).output;
  for (const needed of [
    'package/schema/openapi.yaml',
    'package/migrations/',
    'package/dist/index.cjs.js',
    'package/config.schema.json',
  ]) {
    if (!listing.split('\n').some(l => l.startsWith(needed))) {
      throw new Error(`the packed backend lacks ${needed}`);
    }
  }
  return dir;
}

const TOUCHED = [
  'package.json',
  'yarn.lock',
  'packages/backend/package.json',
  'packages/backend/src/index.ts',
  'packages/app/package.json',
];

/** The @backstage packages of this Backstage release: what create-app names, and what this repository locks. */
function releasePins(appDir) {
  const pins = {};
  for (const file of [
    'package.json',
    'packages/app/package.json',
    'packages/backend/package.json',
  ]) {
    const p = JSON.parse(fs.readFileSync(path.join(appDir, file), 'utf8'));
    for (const deps of [p.dependencies, p.devDependencies]) {
      for (const [name, range] of Object.entries(deps ?? {})) {
        const m = /^\^?(\d+\.\d+\.\d+)$/.exec(range);
        if (name.startsWith('@backstage/') && m) pins[name] = m[1];
      }
    }
  }
  const seen = new Map();
  const lock = fs.readFileSync(path.join(root, 'yarn.lock'), 'utf8');
  for (const m of lock.matchAll(
    /^"(@backstage\/[^@"]+)@npm:[^\n]*":\n  version: (\S+)/gm,
  )) {
    seen.set(m[1], new Set([...(seen.get(m[1]) ?? []), m[2]]));
  }
  for (const [name, versions] of seen) {
    if (versions.size === 1 && !(name in pins)) pins[name] = [...versions][0];
  }
  return pins;
}

/** A fresh app from create-app, created once per create-app and Node version. */
function createdApp() {
  const key = sha1(`${pin.createApp}|${process.version}|default|v3`).slice(
    0,
    12,
  );
  const dir = path.join(cacheDir, `app-${key}`);
  const pristine = path.join(dir, '.coalmine-pristine');
  if (fs.existsSync(path.join(pristine, 'ready'))) {
    for (const f of TOUCHED)
      fs.copyFileSync(path.join(pristine, f), path.join(dir, f));
    fs.rmSync(path.join(dir, 'app-config.coalmine.yaml'), { force: true });
    return { dir, cached: true, ms: 0 };
  }
  for (const old of fs
    .readdirSync(cacheDir)
    .filter(f => f.startsWith('app-'))) {
    fs.rmSync(path.join(cacheDir, old), { recursive: true, force: true });
  }
  log(
    `creating an app with @backstage/create-app@${pin.createApp} (first run: several minutes) ...`,
  );
  const created0 = Date.now();
  run(
    'npx',
    [
      '-y',
      `@backstage/create-app@${pin.createApp}`,
      '--path',
      dir,
      '--skip-install',
    ],
    {
      cwd: cacheDir,
      env: cleanEnv({ BACKSTAGE_APP_NAME: 'app', CI: 'true' }),
      log: 'install-create-app.log',
      timeoutS: 1800,
    },
  );
  // The app as it was on release day. create-app names its own packages
  // with `^` ranges and lets everything else float; without the seed lock it
  // fetches from GitHub (unreachable here) the registry's later Backstage
  // packages get in, and they do not fit the release: plugin-signals-backend
  // 0.3.21 needs an httpRouter that backend-defaults 0.18 lacks, and the
  // backend does not start. So the release's versions are pinned (Yarn
  // resolutions): every @backstage package create-app names, at the version it
  // names, and every one this repository (on the same release) locks.
  const pins = releasePins(dir);
  editJson(path.join(dir, 'package.json'), p => {
    p.resolutions = { ...p.resolutions, ...pins };
  });
  log(
    `installing the app's dependencies with ${
      Object.keys(pins).length
    } @backstage packages pinned to Backstage ${backstageVersion} ...`,
  );
  run('yarn', ['install'], {
    cwd: dir,
    log: 'install-create-app-yarn.log',
    timeoutS: 1800,
  });
  const ms = Date.now() - created0;
  const created = JSON.parse(
    fs.readFileSync(path.join(dir, 'backstage.json'), 'utf8'),
  ).version;
  if (created !== backstageVersion) {
    throw new Error(
      `@backstage/create-app@${pin.createApp} creates Backstage ${created}, but backstage.json says ${backstageVersion}: update e2e/install/create-app.json`,
    );
  }
  for (const f of TOUCHED) {
    fs.mkdirSync(path.dirname(path.join(pristine, f)), { recursive: true });
    fs.copyFileSync(path.join(dir, f), path.join(pristine, f));
  }
  fs.writeFileSync(path.join(pristine, 'ready'), new Date().toISOString());
  return { dir, cached: false, ms };
}

const editJson = (file, fn) => {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  fn(data);
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
};

/** The README's install section, as blocks of code (README.md "Installing into an existing Backstage"). */
function readmeSteps(packs) {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Installing into an existing Backstage');
  const end = readme.indexOf('\n## ', start + 10);
  if (start < 0 || end < 0)
    throw new Error(
      'README.md has no "Installing into an existing Backstage" section',
    );
  const section = readme.slice(start, end);
  const blocks = lang =>
    [
      ...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g')),
    ].map(m => m[1].replaceAll('/path/to/packs', packs));
  const json = blocks('json').map(b => JSON.parse(`{${b}}`));
  if (json.length !== 3)
    throw new Error(
      `the README's install section has ${json.length} JSON snippets, expected 3 (root, backend, app)`,
    );
  const backendLines = blocks('ts')
    .flatMap(b => b.split('\n'))
    .filter(l => l.trim() && !l.includes('createApp'));
  // The configuration example right after the section.
  const config = readme.slice(end).split('```yaml')[1]?.split('```')[0];
  return {
    root: json[0],
    backend: json[1],
    app: json[2],
    backendLines,
    config: YAML.parse(config ?? ''),
  };
}

/** Exactly the README's install section: its JSON snippets, `yarn install`, its backend lines. */
function followReadme(app, steps) {
  editJson(path.join(app, 'package.json'), p => {
    p.resolutions = { ...p.resolutions, ...steps.root.resolutions };
  });
  editJson(path.join(app, 'packages/backend/package.json'), p => {
    Object.assign(p.dependencies, steps.backend);
  });
  editJson(path.join(app, 'packages/app/package.json'), p => {
    Object.assign(p.dependencies, steps.app);
  });
  const install = run('yarn', ['install'], {
    cwd: app,
    log: 'install-yarn.log',
    timeoutS: 1800,
  });
  const indexFile = path.join(app, 'packages/backend/src/index.ts');
  const index = fs.readFileSync(indexFile, 'utf8');
  if (!index.includes('backend.start();'))
    throw new Error('the created backend has no backend.start()');
  fs.writeFileSync(
    indexFile,
    index.replace(
      'backend.start();',
      `${steps.backendLines.join('\n')}\n\nbackend.start();`,
    ),
  );
  // Frontend, new frontend system: nothing more (app.packages: all discovers it).
  const appConfig = YAML.parse(
    fs.readFileSync(path.join(app, 'app-config.yaml'), 'utf8'),
  );
  if (appConfig?.app?.packages !== 'all') {
    throw new Error(
      'the created app does not discover packages (app.packages: all); the README must say more',
    );
  }
  return install.ms;
}

/** The configuration a platform team writes, pointed at the sandbox (README's `kubernetes:` and `canary:` shape). */
function writeConfig(app, ports, readmeConfig) {
  const demo = YAML.parse(
    fs.readFileSync(path.join(root, 'app-config.canary.yaml'), 'utf8'),
  );
  const config = {
    app: { baseUrl: `http://localhost:${ports.app}` },
    backend: {
      baseUrl: `http://localhost:${ports.backend}`,
      listen: { port: ports.backend },
      cors: { origin: `http://localhost:${ports.app}` },
    },
    catalog: {
      locations: [
        {
          type: 'file',
          target: path.join(here, 'entities.yaml'),
          rules: [{ allow: ['Component'] }],
        },
        {
          type: 'file',
          target: '../../examples/org.yaml',
          rules: [{ allow: ['User', 'Group'] }],
        },
      ],
    },
    // The README's kubernetes block, with the sandbox as its one cluster.
    kubernetes: {
      ...readmeConfig.kubernetes,
      clusterLocatorMethods: [
        {
          type: 'config',
          clusters: [
            {
              name: 'sandbox',
              url: `http://127.0.0.1:${ports.api}`,
              authProvider: 'serviceAccount',
              serviceAccountToken: 'sandbox-token',
              skipTLSVerify: true,
            },
          ],
        },
      ],
    },
    // The demo's policies; notifications on (the demo backend has no notifications plugin, a created app has).
    canary: {
      ...demo.canary,
      notifications: { enabled: true },
      prometheus: { url: `http://127.0.0.1:${ports.prometheus}` },
    },
  };
  fs.writeFileSync(
    path.join(app, 'app-config.coalmine.yaml'),
    YAML.stringify(config),
  );
}

async function phaseOf(page) {
  return page
    .getByTestId('canary-phase')
    .first()
    .getAttribute('data-phase')
    .catch(() => undefined);
}

async function weightOf(page) {
  return Number(
    await page.getByTestId('canary-weight').first().getAttribute('data-weight'),
  );
}

// --- the run ---------------------------------------------------------------

const results = [];
async function step(name, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    const ms = Date.now() - started;
    results.push({ name, status: 'passed', ms, ...(detail ? { detail } : {}) });
    log(
      `✓ ${name} (${Math.round(ms / 1000)} s)${
        detail ? ` ${JSON.stringify(detail)}` : ''
      }`,
    );
    return true;
  } catch (e) {
    results.push({
      name,
      status: 'failed',
      ms: Date.now() - started,
      error: String(e?.stack ?? e),
    });
    log(
      `✗ ${name}\n    ${String(e?.message ?? e)
        .split('\n')
        .join('\n    ')}`,
    );
    return false;
  }
}

let browser;
const total = Date.now();
try {
  if (pin.backstage !== backstageVersion) {
    throw new Error(
      `backstage.json says ${backstageVersion} but e2e/install/create-app.json pins create-app for ${pin.backstage}: update it`,
    );
  }
  let packs;
  let app;
  let steps;
  const ok =
    (await step(
      'the plugin packages build and pack, the backend with its OpenAPI document and migrations',
      () => {
        packs = pack();
      },
    )) &&
    (await step(
      `a fresh @backstage/create-app@${pin.createApp} app (Backstage ${backstageVersion}) installs the packed packages with the README's steps`,
      () => {
        app = createdApp();
        steps = readmeSteps(packs);
        const installMs = followReadme(app.dir, steps);
        return { createdFromCache: app.cached, createMs: app.ms, installMs };
      },
    ));
  if (!ok) throw new Error('skipped the rest');

  const ports = {
    app: await freePort(),
    backend: await freePort(),
    api: await freePort(),
    metrics: await freePort(),
    prometheus: await freePort(),
  };
  writeConfig(app.dir, ports, steps.config);

  let backend;
  const started = await step(
    "the app's backend starts with the canary plugin against the sandbox",
    async () => {
      const sandboxDir = path.join(cacheDir, 'sandbox');
      // --demo keeps the cluster's objects between runs; every run starts
      // from the demo world as a newcomer's first start does.
      fs.rmSync(path.join(sandboxDir, 'db'), { recursive: true, force: true });
      const sandbox = startBackground(
        'install-sandbox',
        process.execPath,
        [
          '-r',
          '@backstage/cli/config/nodeTransform.cjs',
          'src/cli.ts',
          '--demo',
        ],
        {
          cwd: path.join(root, 'packages/sandbox'),
          env: {
            ...process.env,
            SANDBOX_API_PORT: String(ports.api),
            SANDBOX_METRICS_PORT: String(ports.metrics),
            SANDBOX_PROMETHEUS_PORT: String(ports.prometheus),
            SANDBOX_DIR: sandboxDir,
            SANDBOX_TOKEN: 'sandbox-token',
          },
        },
      );
      await waitForUrl(
        `http://127.0.0.1:${ports.api}/version`,
        120,
        'the sandbox',
        { headers: { Authorization: 'Bearer sandbox-token' }, proc: sandbox },
      );
      const t0 = Date.now();
      backend = startBackground(
        'install-app',
        'yarn',
        [
          'start',
          '--config',
          path.join(app.dir, 'app-config.yaml'),
          '--config',
          path.join(app.dir, 'app-config.coalmine.yaml'),
        ],
        { cwd: app.dir, env: cleanEnv({ BROWSER: 'none' }) },
      );
      await waitForUrl(
        `http://localhost:${ports.backend}/api/canary/health`,
        300,
        "the app's backend (e2e-test-report/install-app.log)",
        { proc: backend },
      );
      const backendMs = Date.now() - t0;
      await waitForUrl(
        `http://localhost:${ports.app}`,
        300,
        "the app's dev server (e2e-test-report/install-app.log)",
        { proc: backend },
      );
      return { backendMs, appMs: Date.now() - t0 };
    },
  );
  if (!started) throw new Error('skipped the rest');

  browser = await launchChromium();
  const context = await browser.newContext({
    viewport: { width: 1440, height: 1000 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(120_000);
  const appUrl = `http://localhost:${ports.app}`;
  const tabOk = await step(
    "the created app shows the component's Canary tab",
    async () => {
      const tab = page
        .locator('a[href$="/catalog/default/component/checkout/canary"]')
        .first();
      // The catalog reads the entity file shortly after start-up: reload until it is there.
      const deadline = Date.now() + 180_000;
      for (;;) {
        await page.goto(`${appUrl}/catalog/default/component/checkout`);
        // A sign-in page, if the template has one: enter as guest.
        const enter = page.getByRole('button', { name: /enter/i });
        // Wait until the app has rendered one or the other: a slow first
        // bundle would otherwise hide the sign-in page from this check.
        await enter
          .or(tab)
          .first()
          .waitFor({ timeout: 60_000 })
          .catch(() => {});
        if (await enter.isVisible().catch(() => false)) await enter.click();
        const found = await tab
          .waitFor({ timeout: 10_000 })
          .then(() => true)
          .catch(() => false);
        if (found) break;
        if (Date.now() > deadline)
          throw new Error(
            'the component page never showed a Canary tab (see e2e-test-report/install-canary-tab.png)',
          );
      }
      await tab.click();
      await page.getByTestId('canary-tab').waitFor();
      await page.getByRole('group', { name: 'Rollout controls' }).waitFor();
    },
  );
  if (tabOk) {
    await step('a rollout started in the tab advances', async () => {
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await dialog
        .getByLabel('New canary image (optional)')
        .fill('shop/checkout:v2');
      await dialog.getByLabel('Version label (optional)').fill('v2');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.waitFor({ state: 'detached' });
      const deadline = Date.now() + 300_000;
      let phase;
      let weight = 0;
      while (Date.now() < deadline) {
        phase = await phaseOf(page);
        weight = await weightOf(page).catch(() => 0);
        if (phase === 'Progressing' && weight > 5) break;
        if (['RolledBack', 'Failed', 'Aborted'].includes(phase)) break;
        await page.waitForTimeout(1000);
      }
      if (!(phase === 'Progressing' && weight > 5)) {
        throw new Error(
          `the rollout did not advance past the first step: phase ${phase}, weight ${weight} %`,
        );
      }
      await page.screenshot({
        path: path.join(reportDir, 'install-canary-tab.png'),
        fullPage: true,
      });
      return { phase, weight };
    });
    await step(
      "the owner is notified in the app's notifications when the rollout succeeds",
      async () => {
        await page
          .getByRole('button', { name: 'Promote', exact: true })
          .click();
        const dialog = page.getByRole('dialog');
        await dialog.waitFor();
        await dialog.getByLabel('Reason (optional)').fill('install test');
        await dialog.getByRole('button', { name: 'Confirm' }).click();
        await dialog.waitFor({ state: 'detached' });
        const deadline = Date.now() + 180_000;
        let phase;
        while (Date.now() < deadline) {
          phase = await phaseOf(page);
          if (['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(phase))
            break;
          await page.waitForTimeout(1000);
        }
        if (phase !== 'Succeeded')
          throw new Error(`the promoted rollout ended ${phase}`);
        const title =
          'Canary of component:default/checkout v2 on sandbox succeeded';
        const until = Date.now() + 90_000;
        for (;;) {
          await page.goto(`${appUrl}/notifications`);
          const found = await page
            .getByText(title)
            .first()
            .waitFor({ timeout: 10_000 })
            .then(() => true)
            .catch(() => false);
          if (found) break;
          if (Date.now() > until) {
            await page.screenshot({
              path: path.join(reportDir, 'install-notifications.png'),
              fullPage: true,
            });
            throw new Error(
              `no notification "${title}" (see e2e-test-report/install-notifications.png)`,
            );
          }
        }
        await page.screenshot({
          path: path.join(reportDir, 'install-notifications.png'),
          fullPage: true,
        });
      },
    );
  } else {
    await page
      .screenshot({
        path: path.join(reportDir, 'install-canary-tab.png'),
        fullPage: true,
      })
      .catch(() => {});
  }
} catch (e) {
  if (String(e?.message) !== 'skipped the rest') {
    results.push({
      name: 'install test setup',
      status: 'failed',
      error: String(e?.stack ?? e),
    });
    log(`✗ install test setup: ${e?.message ?? e}`);
  }
} finally {
  await browser?.close().catch(() => {});
  stopAll();
}

const passed = results.filter(r => r.status === 'passed').length;
const failed = results.length - passed;
const report = {
  passed,
  failed,
  totalMs: Date.now() - total,
  host: `${os.cpus().length} cores`,
  tests: results,
};
if (jsonOut) fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(report, null, 2));
log(
  `install: ${passed} passed, ${failed} failed in ${Math.round(
    report.totalMs / 1000,
  )} s`,
);
process.exit(failed ? 1 : 0);
