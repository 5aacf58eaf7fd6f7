// Live updates: a change made outside the tab (CI, another person) reaches an
// open Canary tab through Backstage Signals, long before the tab would poll.
import path from 'node:path';
import { signInAsGuest } from './scenarios.mjs';
import { CI_TOKEN, canaryApi } from './lib/canaryApi.mjs';

/** The tab's poll interval in this scenario: whatever shows up sooner was pushed. */
const POLL_SECONDS = 600;

/** Filled by the scenario; the runner writes it to bench/results/signals.json. */
export const signalTimings = {};

/** The API as CI calls it, with the demo's CI token. */
const api = (backend, method, apiPath, body) =>
  canaryApi(backend, CI_TOKEN, method, apiPath, body);

export const signalScenarios = [
  {
    name: 'a change made through the API reaches the open tab through Signals, before its next poll',
    async run({ page, app, backend }) {
      await signInAsGuest(page, app);
      // The tab subscribes over the signals WebSocket; wait until it asked for its channel.
      const channel = 'canary:entity:component:default/search';
      const received = []; // signals of this channel as the browser got them
      const subscribed = new Promise(resolve => {
        page.on('websocket', ws => {
          ws.on('framesent', frame => {
            if (String(frame.payload).includes(channel)) resolve();
          });
          ws.on('framereceived', frame => {
            if (String(frame.payload).includes(channel))
              received.push(Date.now());
          });
        });
      });
      // How long the tab's own calls take (what a pushed change waits for).
      const calls = [];
      page.on('requestfinished', request => {
        const url = request.url();
        if (!url.includes('/api/canary/')) return;
        const t = request.timing();
        calls.push({
          what: url.includes('/entities/')
            ? 'status'
            : url.includes('/series')
            ? 'series'
            : 'details',
          ms: Math.round(t.responseEnd),
        });
      });
      await page.goto(
        `${app}/catalog/default/component/search/canary?canaryPollSeconds=${POLL_SECONDS}`,
      );
      const loaded = Date.now();
      await page.getByTestId('canary-tab').waitFor();
      const live = page.getByTestId('canary-live');
      if ((await live.getAttribute('data-pushed')) !== 'true')
        throw new Error('the tab does not use Signals');
      if (
        !(await live.textContent()).includes(`checked every ${POLL_SECONDS} s`)
      )
        throw new Error(
          `the tab does not poll every ${POLL_SECONDS} s: ${await live.textContent()}`,
        );
      let timer;
      await Promise.race([
        subscribed,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the tab never subscribed to ${channel}`)),
            60_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const nextPoll = loaded + POLL_SECONDS * 1000;

      /**
       * Presses through the API, then waits for the tab to show `selector`.
       * Records ms from the press and from the API's answer (the change is
       * committed by then) to the tab showing it, and when the browser got
       * the first signal after the press.
       */
      async function pushed(what, press, selector) {
        const pressed = Date.now();
        const result = await press();
        const answered = Date.now();
        try {
          await page
            .locator(selector(result))
            .first()
            .waitFor({ timeout: 60_000 });
        } catch (e) {
          // What the tab showed and what reached it, for the log.
          const shown = await page
            .locator('[data-testid="canary-rollout"]')
            .evaluateAll(els =>
              els.map(el => el.getAttribute('data-rollout-id')),
            )
            .catch(() => []);
          throw new Error(
            `${what}: the tab did not show it within 60 s; it shows rollout(s) ${
              shown.join(', ') || 'none'
            }; ${
              received.filter(t => t >= pressed).length
            } signal(s) of ${channel} reached the browser after the press (${
              received.length
            } in all); ${e.message.split('\n')[0]}`,
          );
        }
        const seen = Date.now();
        if (seen >= nextPoll)
          throw new Error(
            `${what}: shown only after the tab's next poll was due`,
          );
        const signal = received.find(t => t >= pressed);
        signalTimings[what] = {
          pressToTabMs: seen - pressed,
          answerToTabMs: seen - answered,
          apiCallMs: answered - pressed,
          ...(signal !== undefined
            ? {
                pressToSignalInBrowserMs: signal - pressed,
                signalToTabMs: seen - signal,
              }
            : {}),
        };
        return result;
      }

      const started = await pushed(
        'start',
        () =>
          api(backend, 'POST', '/rollouts', {
            entityRef: 'component:default/search',
            image: 'shop/search:2.1.0',
          }),
        r => `[data-testid="canary-rollout"][data-rollout-id="${r.id}"]`,
      );
      // The engine moves on by itself; its first step is pushed too. The
      // latency is from the step's event (the commit, backend clock) to the
      // tab showing the weight (same machine).
      await page
        .locator('[data-testid="canary-weight"]:not([data-weight="0"])')
        .first()
        .waitFor({ timeout: 120_000 });
      const stepSeen = Date.now();
      if (stepSeen >= nextPoll)
        throw new Error(
          'the first step was shown only after the next poll was due',
        );
      const details = await api(backend, 'GET', `/rollouts/${started.id}`);
      const step = details.events.find(e => e.type === 'step');
      if (!step)
        throw new Error('no step event behind the weight the tab shows');
      const signal = received.find(t => t >= Date.parse(step.time));
      signalTimings.engineStep = {
        commitToTabMs: stepSeen - Date.parse(step.time),
        ...(signal !== undefined
          ? {
              commitToSignalInBrowserMs: signal - Date.parse(step.time),
              signalToTabMs: stepSeen - signal,
            }
          : {}),
      };
      await pushed(
        'abort',
        () =>
          api(backend, 'POST', `/rollouts/${started.id}/abort`, {
            reason: 'e2e: signals',
          }),
        () =>
          '[data-testid="canary-phase"][data-phase="RollingBack"], [data-testid="canary-phase"][data-phase="Aborted"]',
      );
      await page
        .locator('[data-testid="canary-phase"][data-phase="Aborted"]')
        .first()
        .waitFor({ timeout: 120_000 });
      if (Date.now() >= nextPoll)
        throw new Error(
          'the end of the rollback was shown only after the next poll was due',
        );
      for (const what of ['status', 'details']) {
        const ms = calls
          .filter(c => c.what === what)
          .map(c => c.ms)
          .sort((a, b) => a - b);
        if (ms.length)
          signalTimings[`${what}CallMs`] = {
            count: ms.length,
            median: ms[Math.floor(ms.length / 2)],
            max: ms[ms.length - 1],
          };
      }
    },
  },
  {
    name: "a rollout started through the API appears on the organisation's Canary page through Signals, before its next poll",
    async run({ page, app, backend }) {
      await signInAsGuest(page, app);
      const channel = 'canary:rollouts';
      const subscribed = new Promise(resolve => {
        page.on('websocket', ws => {
          ws.on('framesent', frame => {
            if (String(frame.payload).includes(channel)) resolve();
          });
        });
      });
      await page.goto(`${app}/canary?canaryPollSeconds=${POLL_SECONDS}`);
      const loaded = Date.now();
      const list = page.getByTestId('canary-org-rollouts');
      await list.waitFor();
      if ((await list.getAttribute('data-pushed')) !== 'true')
        throw new Error('the Canary page does not use Signals');
      let timer;
      await Promise.race([
        subscribed,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the page never subscribed to ${channel}`)),
            60_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const title = await page
        .getByText(/^Rollouts \(\d+\)$/)
        .first()
        .textContent();
      const before = Number(title.match(/\d+/)[0]);
      const pressed = Date.now();
      const started = await api(backend, 'POST', '/rollouts', {
        entityRef: 'component:default/search',
        image: 'shop/search:2.2.0',
      });
      await page
        .getByText(`Rollouts (${before + 1})`, { exact: true })
        .first()
        .waitFor({ timeout: 60_000 });
      const seen = Date.now();
      if (seen >= loaded + POLL_SECONDS * 1000)
        throw new Error(
          'the new rollout showed only after the next poll was due',
        );
      signalTimings.organisationPage = { startToListMs: seen - pressed };
      await api(backend, 'POST', `/rollouts/${started.id}/abort`, {
        reason: 'e2e: organisation page',
      });
    },
  },
];

export const signalsResultFile = root =>
  path.join(root, 'bench', 'results', 'signals.json');
