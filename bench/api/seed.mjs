// Puts a long history behind one rollout in the canary plugin's SQLite file:
// events and analysis rows as the engine writes them (the analysis rows copy
// the rollout's newest real row, checks and PromQL included, so their size
// is what a long rollout really stores). Used by `./dev bench api` and the
// e2e run to measure the tab and the API with 1,000 events and 10,000
// analysis rows behind a rollout.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The canary plugin's database file under a backend's SQLite directory. */
export function canaryDatabaseFile(directory) {
  const names = fs.existsSync(directory) ? fs.readdirSync(directory) : [];
  const file = names.find(n => /canary/.test(n) && n.endsWith('.sqlite'));
  if (!file) {
    throw new Error(
      `No canary SQLite file in ${directory} (found: ${
        names.join(', ') || 'nothing'
      })`,
    );
  }
  return path.join(directory, file);
}

/**
 * Adds `events` events and `analysis` analysis rows to rollout `id`, spread
 * over the hours before its newest row, in one transaction.
 */
export function seedHistory(
  file,
  id,
  { events = 1000, analysis = 10000 } = {},
) {
  const Database = require('better-sqlite3');
  const db = new Database(file, { timeout: 15000 });
  try {
    const newest = db
      .prepare(
        'SELECT * FROM canary_analysis_results WHERE rollout_id = ? ORDER BY id DESC LIMIT 1',
      )
      .get(id);
    const checks =
      newest?.checks ??
      JSON.stringify([
        {
          metric: 'error-rate',
          query:
            'sum(increase(istio_requests_total{destination_workload="checkout-v2",response_code=~"5.."}[10s]))',
          canary: 0.1,
          stable: 0.1,
          verdict: 'pass',
          bound: { text: 'sequential test' },
          evidence: 'seeded',
        },
      ]);
    const now = Date.now();
    const insertEvent = db.prepare(
      'INSERT INTO canary_rollout_events (rollout_id, time, type, message, actor, data) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertAnalysis = db.prepare(
      'INSERT INTO canary_analysis_results (rollout_id, time, step_index, weight, action, reason, failed_checks, checks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    db.transaction(() => {
      for (let i = 0; i < events; i++) {
        const time = now - (events - i) * 10_000 - 3_600_000;
        insertEvent.run(
          id,
          time,
          'analysis',
          `Seeded analysis tick ${i + 1}: all gates pass`,
          'coalmine',
          JSON.stringify({ action: 'hold', seeded: true }),
        );
      }
      for (let i = 0; i < analysis; i++) {
        const time = now - (analysis - i) * 1_000 - 3_600_000;
        insertAnalysis.run(
          id,
          time,
          0,
          5,
          'hold',
          `seeded tick ${i + 1}`,
          0,
          checks,
        );
      }
    })();
    return { events, analysis, checksBytes: Buffer.byteLength(checks) };
  } finally {
    db.close();
  }
}
