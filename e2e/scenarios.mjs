// The end-to-end scenarios, in the order a new user would meet them.
import fs from 'node:fs';
import path from 'node:path';

const DEFAULT_TIMEOUT = 60_000;

export async function signInAsGuest(page, app) {
  page.setDefaultTimeout(DEFAULT_TIMEOUT);
  await page.goto(app);
  const enter = page.getByRole('button', { name: /enter/i });
  await enter.click();
  await page.getByText('checkout', { exact: true }).first().waitFor();
}

export async function openCanaryTab(page, app, name) {
  await page.goto(`${app}/catalog/default/component/${name}/canary`);
}

export const scenarios = [
  {
    name: 'guest signs in and sees the demo catalog',
    async run({ page, app }) {
      await signInAsGuest(page, app);
      for (const name of ['checkout', 'payments', 'search', 'storefront']) {
        await page.getByText(name, { exact: true }).first().waitFor();
      }
    },
  },
];

export function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
