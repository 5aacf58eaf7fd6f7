// The end-to-end scenarios, in the order a new user would meet them.
import fs from 'node:fs';
import path from 'node:path';

const DEFAULT_TIMEOUT = 60_000;

export async function signInAsGuest(page, app) {
  page.setDefaultTimeout(DEFAULT_TIMEOUT);
  await page.goto(app);
  const enter = page.getByRole('button', { name: /enter/i });
  await enter.click();
  await page.getByRole('link', { name: 'checkout', exact: true }).first().waitFor();
}

/**
 * Opens a component's page, then its Canary tab the way a person does (a click
 * on the tab, inside the already loaded app). Returns the ms from the click
 * until the tab shows its controls.
 */
export async function openCanaryTab(page, app, name) {
  await page.goto(`${app}/catalog/default/component/${name}`);
  // The entity page's tab (the sidebar's "Canary" goes to /canary instead).
  const tab = page.locator(`a[href$="/catalog/default/component/${name}/canary"]`).first();
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
  throw new Error(`phase is ${last}, expected ${wanted.join(' or ')} within ${timeoutMs / 1000} s`);
}

async function weight(page) {
  const w = await page.getByTestId('canary-weight').first().getAttribute('data-weight');
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
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
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
      await page.getByRole('link', { name: 'storefront', exact: true }).first().waitFor();
    },
  },
  {
    name: 'owner starts a healthy canary, watches it advance and promotes it',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.checkoutTabInteractiveMs = await openCanaryTab(page, app, 'checkout');
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
      await shot(page, root, 'canary-tab-progressing');
      await control(page, 'Promote', { 'Reason (optional)': 'e2e: looks good' });
      await waitForPhase(page, 'Succeeded', 120_000);
      await page.getByTestId('canary-action-result').waitFor();
      await shot(page, root, 'canary-tab-succeeded');
    },
  },
  {
    name: 'a faulty canary is rolled back by the analysis, with the failing gate and its chart',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.paymentsTabInteractiveMs = await openCanaryTab(page, app, 'payments');
      await control(page, 'Start', {
        'New canary image (optional)': 'shop/payments:1.5.0-errors20',
        'Version label (optional)': '1.5.0',
      });
      await waitForPhase(page, ['RolledBack'], 240_000);
      const failing = page.locator('[data-testid^="gate-"][data-verdict="fail"]').first();
      await failing.waitFor();
      await page.locator('[data-testid^="chart-"]').first().waitFor();
      if ((await weight(page)) !== 0) throw new Error('traffic did not return to stable');
      await shot(page, root, 'canary-tab-rolled-back');
    },
  },
  {
    name: 'owner aborts a rollout mid-way and traffic returns to stable',
    async run({ page, app }) {
      await signInAsGuest(page, app);
      timings.searchTabInteractiveMs = await openCanaryTab(page, app, 'search');
      await control(page, 'Start', { 'New canary image (optional)': 'shop/search:2.0.0' });
      await waitForPhase(page, 'Progressing', 60_000);
      const deadline = Date.now() + 120_000;
      while ((await weight(page)) === 0 && Date.now() < deadline) await page.waitForTimeout(500);
      await control(page, 'Abort', { 'Reason (optional)': 'e2e: abort mid-way' });
      await waitForPhase(page, 'Aborted', 90_000);
      if ((await weight(page)) !== 0) throw new Error('weight is not 0 after abort');
    },
  },
  {
    name: 'on a component the user does not own the controls are disabled with the reason',
    async run({ page, app, root }) {
      await signInAsGuest(page, app);
      timings.storefrontTabInteractiveMs = await openCanaryTab(page, app, 'storefront');
      const start = page.getByRole('button', { name: 'Start', exact: true });
      await start.waitFor();
      if (!(await start.isDisabled())) throw new Error('Start is enabled for a non-owner');
      const reason = await page.locator('#canary-control-start-reason').textContent();
      if (!/You need canary\.rollout\.create on this component/.test(reason ?? '')) {
        throw new Error(`unexpected reason: ${reason}`);
      }
      await shot(page, root, 'canary-tab-not-owner');
    },
  },
];

export function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
