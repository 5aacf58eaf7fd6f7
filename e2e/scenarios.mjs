// The end-to-end scenarios, in the order a new user would meet them.
import fs from 'node:fs';
import path from 'node:path';
import { canaryDatabaseFile, seedHistory } from '../bench/api/seed.mjs';
import { canaryApi } from './lib/canaryApi.mjs';

const DEFAULT_TIMEOUT = 60_000;

export async function signInAsGuest(page, app) {
  page.setDefaultTimeout(DEFAULT_TIMEOUT);
  await page.goto(app);
  const enter = page.getByRole('button', { name: /enter/i });
  await enter.click();
  await page
    .getByRole('link', { name: 'checkout', exact: true })
    .first()
    .waitFor();
}

/**
 * Opens a component's page, then its Canary tab the way a person does (a click
 * on the tab, inside the already loaded app). Returns the ms from the click
 * until the tab shows its controls.
 */
export async function openCanaryTab(page, app, name) {
  await page.goto(`${app}/catalog/default/component/${name}`);
  // The entity page's tab (the sidebar's "Canary" goes to /canary instead).
  const tab = page
    .locator(`a[href$="/catalog/default/component/${name}/canary"]`)
    .first();
  await tab.waitFor();
  const started = Date.now();
  await tab.click();
  await page.getByTestId('canary-tab').waitFor();
  await page.getByRole('group', { name: 'Rollout controls' }).waitFor();
  return Date.now() - started;
}

async function phase(page) {
  return page.getByTestId('canary-phase').first().getAttribute('data-phase');
}

async function waitForPhase(page, phases, timeoutMs) {
  const wanted = Array.isArray(phases) ? phases : [phases];
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await phase(page).catch(() => undefined);
    if (wanted.includes(last)) return last;
    await page.waitForTimeout(500);
  }
  throw new Error(
    `phase is ${last}, expected ${wanted.join(' or ')} within ${
      timeoutMs / 1000
    } s`,
  );
}

async function weight(page) {
  const w = await page
    .getByTestId('canary-weight')
    .first()
    .getAttribute('data-weight');
  return Number(w);
}

async function control(page, name, fields = {}) {
  await page.getByRole('button', { name, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  for (const [label, value] of Object.entries(fields)) {
    await dialog.getByLabel(label).fill(value);
  }
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'detached' });
}

async function shot(page, root, name) {
  const dir = path.join(root, 'docs', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({
    path: path.join(dir, `${name}.png`),
    fullPage: true,
  });
}

const SANDBOX_API = `http://127.0.0.1:${process.env.SANDBOX_API_PORT || 6443}`;
const SANDBOX_TOKEN = process.env.SANDBOX_TOKEN || 'sandbox-token';

/** Changes an object in the sandbox cluster, as `kubectl patch` would. */
async function patchSandbox(
  apiPath,
  patch,
  type = 'application/merge-patch+json',
) {
  const res = await fetch(`${SANDBOX_API}${apiPath}`, {
    method: 'PATCH',
    headers: { 'content-type': type, authorization: `Bearer ${SANDBOX_TOKEN}` },
    body: JSON.stringify(patch),
  });
  if (!res.ok)
    throw new Error(`PATCH ${apiPath}: ${res.status} ${await res.text()}`);
}

/** A new image for an Argo Rollout: starts an update. */
function setRolloutImage(name, container, image) {
  return patchSandbox(
    `/apis/argoproj.io/v1alpha1/namespaces/demo/rollouts/${name}`,
    {
      spec: {
        template: { spec: { containers: [{ name: container, image }] } },
      },
    },
  );
}

/** The guest's token, as the app gets it on sign-in (for API calls a scenario makes itself). */
async function guestToken(backend) {
  const res = await fetch(`${backend}/api/auth/guest/refresh?env=development`, {
    headers: { 'x-requested-with': 'XMLHttpRequest' },
  });
  if (!res.ok)
    throw new Error(`guest sign-in: ${res.status} ${await res.text()}`);
  return (await res.json()).backstageIdentity.token;
}

/** Filled by the scenarios; the runner writes it to bench/results/tab-interactive.json. */
export const timings = {};

export const scenarios = [
  {
    name: 'guest signs in and sees the demo catalog',
    async run({ page, app }) {
      await signInAsGuest(page, app);
      // The catalog opens on the components the guest owns …
      for (const name of ['checkout', 'payments', 'search']) {
        await page.getByRole('link', { name, exact: true }).first().waitFor();
      }
      // … and the platform team's storefront is under "All".
      await page.getByText('All', { exact: true }).first().click();
      await page
        .getByRole('link', { name: 'storefront', exact: true })
        .first()
        .waitFor();
    },
  },
  {
    name: 'owner starts a healthy canary, watches it advance and promotes it',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.checkoutTabInteractiveMs = await openCanaryTab(
        page,
        app,
        'checkout',
      );
      await control(page, 'Start', {
        'New canary image (optional)': 'shop/checkout:v2',
        'Version label (optional)': 'v2',
      });
      await waitForPhase(page, 'Progressing', 60_000);
      const first = await weight(page);
      // The tab follows the rollout without a reload.
      const deadline = Date.now() + 120_000;
      let now = first;
      while (now <= first && Date.now() < deadline) {
        await page.waitForTimeout(500);
        now = await weight(page);
      }
      if (!(now > first)) throw new Error(`weight stayed at ${first} %`);
      await page.getByTestId('canary-step-1').waitFor();
      // The pods behind both versions, as the cluster reports them.
      for (const side of ['stable', 'canary']) {
        await page
          .getByTestId(`canary-${side}-version`)
          .filter({ hasText: /[1-9]\d*\/[1-9]\d* pods? available/ })
          .waitFor({ timeout: 15_000 });
      }
      await shot(page, root, 'canary-tab-progressing');
      await control(page, 'Promote', {
        'Reason (optional)': 'e2e: looks good',
      });
      await waitForPhase(page, 'Succeeded', 120_000);
      await page.getByTestId('canary-action-result').waitFor();
      await shot(page, root, 'canary-tab-succeeded');
    },
  },
  {
    name: 'a faulty canary is rolled back by the analysis, with the failing gate and its chart',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.paymentsTabInteractiveMs = await openCanaryTab(
        page,
        app,
        'payments',
      );
      await control(page, 'Start', {
        'New canary image (optional)': 'shop/payments:1.5.0-errors20',
        'Version label (optional)': '1.5.0',
      });
      await waitForPhase(page, ['RolledBack'], 240_000);
      const failing = page
        .locator('[data-testid^="gate-"][data-verdict="fail"]')
        .first();
      await failing.waitFor();
      await page.locator('[data-testid^="chart-"]').first().waitFor();
      if ((await weight(page)) !== 0)
        throw new Error('traffic did not return to stable');
      await shot(page, root, 'canary-tab-rolled-back');
    },
  },
  {
    name: 'owner aborts a rollout mid-way and traffic returns to stable',
    async run({ page, app }) {
      await signInAsGuest(page, app);
      timings.searchTabInteractiveMs = await openCanaryTab(page, app, 'search');
      await control(page, 'Start', {
        'New canary image (optional)': 'shop/search:2.0.0',
      });
      await waitForPhase(page, 'Progressing', 60_000);
      const deadline = Date.now() + 120_000;
      while ((await weight(page)) === 0 && Date.now() < deadline)
        await page.waitForTimeout(500);
      await control(page, 'Abort', {
        'Reason (optional)': 'e2e: abort mid-way',
      });
      await waitForPhase(page, 'Aborted', 90_000);
      if ((await weight(page)) !== 0)
        throw new Error('weight is not 0 after abort');
    },
  },
  {
    name: 'the tab opens quickly on a rollout with 1,000 events and 10,000 analysis rows, and loads older events and analysis rows',
    async run({ page, app, backend, root }) {
      const token = await guestToken(backend);
      // Run alone, this may be the first scenario: wait for the catalog.
      const inCatalog = Date.now() + 120_000;
      while (
        !(
          await fetch(
            `${backend}/api/catalog/entities/by-name/component/default/checkout`,
            { headers: { authorization: `Bearer ${token}` } },
          )
        ).ok
      ) {
        if (Date.now() > inCatalog)
          throw new Error('checkout is not in the catalog after 120 s');
        await page.waitForTimeout(500);
      }
      // A second rollout of checkout (the first one succeeded), paused so it
      // stays active, with a long history put behind it in the database.
      const started = await canaryApi(backend, token, 'POST', '/rollouts', {
        entityRef: 'component:default/checkout',
        image: 'shop/checkout:v3',
        version: 'v3',
      });
      const deadline = Date.now() + 90_000;
      for (;;) {
        const d = await canaryApi(
          backend,
          token,
          'GET',
          `/rollouts/${started.id}`,
        );
        if (d.rollout.phase === 'Progressing' && d.analysis.length > 0) break;
        if (Date.now() > deadline)
          throw new Error(
            `rollout is ${d.rollout.phase}, not Progressing with analysis`,
          );
        await page.waitForTimeout(500);
      }
      await canaryApi(backend, token, 'POST', `/rollouts/${started.id}/pause`, {
        reason: 'e2e: long history',
      });
      seedHistory(
        canaryDatabaseFile(path.join(root, '.sandbox', 'db')),
        started.id,
        {
          events: 1000,
          analysis: 10000,
        },
      );
      await signInAsGuest(page, app);
      const interactive = await openCanaryTab(page, app, 'checkout');
      const afterControls = Date.now();
      await page
        .getByRole('group', { name: 'Rollout controls' })
        .locator('button:not([disabled])')
        .first()
        .waitFor();
      timings.longHistoryControlsEnabledMs =
        interactive + (Date.now() - afterControls);
      await page.getByTestId('canary-timeline').waitFor();
      timings.longHistoryTabInteractiveMs = interactive;
      // Until the event timeline (the paginated details call) is shown too.
      timings.longHistoryTimelineShownMs =
        interactive + (Date.now() - afterControls);
      const shown = await page.getByTestId('canary-event').count();
      const older = page.getByRole('button', { name: 'Load older events' });
      await older.click();
      const more = Date.now() + 30_000;
      while ((await page.getByTestId('canary-event').count()) <= shown) {
        if (Date.now() > more)
          throw new Error(
            `Load older events did not add events (still ${shown})`,
          );
        await page.waitForTimeout(200);
      }
      // The analysis rows: the newest page in the tick strip, older ones on demand.
      const ticks = page
        .getByTestId('canary-decision-strip')
        .getByTestId('canary-tick');
      await ticks.first().waitFor();
      const ticksShown = await ticks.count();
      await page
        .getByRole('button', { name: 'Load older analysis checks' })
        .click();
      const moreTicks = Date.now() + 30_000;
      while ((await ticks.count()) <= ticksShown) {
        if (Date.now() > moreTicks)
          throw new Error(
            `Load older analysis checks did not add rows (still ${ticksShown})`,
          );
        await page.waitForTimeout(200);
      }
      await canaryApi(backend, token, 'POST', `/rollouts/${started.id}/abort`, {
        reason: 'e2e: done measuring',
      });
    },
  },
  {
    name: 'on a component the user does not own the controls are disabled with the reason',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.storefrontTabInteractiveMs = await openCanaryTab(
        page,
        app,
        'storefront',
      );
      const start = page.getByRole('button', { name: 'Start', exact: true });
      await start.waitFor();
      if (!(await start.isDisabled()))
        throw new Error('Start is enabled for a non-owner');
      const reason = await page
        .locator('#canary-control-start-reason')
        .textContent();
      if (
        !/You need canary\.rollout\.create on this component/.test(reason ?? '')
      ) {
        throw new Error(`unexpected reason: ${reason}`);
      }
      await shot(page, root, 'canary-tab-not-owner');
    },
  },
  {
    name: 'owner promotes an Argo Rollout paused at a step',
    async run({ page, app, root }) {
      await setRolloutImage(
        'guestbook',
        'guestbook',
        `shop/guestbook:1.1.${Date.now() % 1000}`,
      );
      await signInAsGuest(page, app);
      await openCanaryTab(page, app, 'guestbook');
      await page
        .getByText(
          /Run by Argo Rollouts \(Rollout demo\/guestbook on sandbox\)/,
        )
        .waitFor();
      await waitForPhase(page, 'AwaitingApproval', 60_000);
      if ((await weight(page)) !== 20)
        throw new Error(`weight is ${await weight(page)}, not 20`);
      // Argo has no approval gate of its own: the button says so.
      const approve = page.getByRole('button', {
        name: 'Approve',
        exact: true,
      });
      if (!(await approve.isDisabled()))
        throw new Error('Approve is enabled for an Argo Rollout');
      await shot(page, root, 'canary-tab-argo-paused');
      await control(page, 'Promote', {
        'Reason (optional)': 'e2e: step looks good',
      });
      const deadline = Date.now() + 60_000;
      while ((await weight(page)) < 40 && Date.now() < deadline)
        await page.waitForTimeout(500);
      if ((await weight(page)) < 40)
        throw new Error(
          `weight stayed at ${await weight(page)} % after Promote`,
        );
      await page.getByTestId('canary-action-result').waitFor();
    },
  },
  {
    name: 'owner rolls back a Flagger canary through its rollback gate',
    async run({ page, app, root }) {
      await patchSandbox(
        '/apis/apps/v1/namespaces/demo/deployments/podinfo',
        {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    name: 'podinfod',
                    image: `ghcr.io/stefanprodan/podinfo:6.0.${
                      Date.now() % 1000
                    }`,
                  },
                ],
              },
            },
          },
        },
        'application/strategic-merge-patch+json',
      );
      await signInAsGuest(page, app);
      await openCanaryTab(page, app, 'podinfo');
      await page
        .getByText(/Run by Flagger \(Canary demo\/podinfo on sandbox\)/)
        .waitFor();
      await waitForPhase(page, 'Progressing', 60_000);
      await control(page, 'Roll back', {
        'Reason (optional)': 'e2e: roll back',
      });
      await waitForPhase(page, 'RolledBack', 90_000);
      if ((await weight(page)) !== 0)
        throw new Error('Flagger kept canary traffic after the rollback');
      await shot(page, root, 'canary-tab-flagger-rolled-back');
    },
  },
  {
    name: 'on an Argo Rollout the user does not own the controls are disabled with the reason',
    async run({ page, app }) {
      await setRolloutImage(
        'reviews',
        'reviews',
        `shop/reviews:3.1.${Date.now() % 1000}`,
      );
      await signInAsGuest(page, app);
      await openCanaryTab(page, app, 'reviews');
      await waitForPhase(page, 'AwaitingApproval', 60_000);
      const promote = page.getByRole('button', {
        name: 'Promote',
        exact: true,
      });
      await promote.waitFor();
      const deadline = Date.now() + 20_000;
      let reason = '';
      while (Date.now() < deadline) {
        reason =
          (await page
            .locator('#canary-control-promote-reason')
            .textContent()
            .catch(() => '')) ?? '';
        if (/You need/.test(reason)) break;
        await page.waitForTimeout(300);
      }
      if (!(await promote.isDisabled()))
        throw new Error('Promote is enabled for a non-owner');
      if (!/You need canary\.rollout\.promote on this component/.test(reason)) {
        throw new Error(`unexpected reason: ${reason}`);
      }
    },
  },
];

export function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
