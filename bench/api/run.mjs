#!/usr/bin/env node
// ./dev bench api: the Canary tab's status call, the rollout details call and
// the rollout list, each side by side with the catalog's entity-by-name, at
// 50 concurrent clients (autocannon), against a demo backend this script
// starts itself on free ports (sandbox cluster + Prometheus + backend, SQLite
// files in a temporary folder, like ./dev demo). Writes bench/results/api.json.
//
// Environment: BENCH_API_SECONDS (per measurement, default 10),
// BENCH_API_CONNECTIONS (default 50), BENCH_API_SEED=0 to skip the long
// history (1,000 events, 10,000 analysis rows) put behind the rollout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { runBenchmark, startWorld, worldLogger } from '../world.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 50);
const SEED = process.env.BENCH_API_SEED !== '0';
const log = worldLogger('bench api');

function measure(url, token) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { authorization: `Bearer ${token}` },
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

function summary(result) {
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    bytesPerResponse: result.requests.total
      ? Math.round(result.throughput.total / result.requests.total)
      : 0,
  };
}

/** Every request answered 2xx on both sides: otherwise the numbers mean nothing. */
function clean(r) {
  return [r, r.catalog].every(
    x => x.requests > 0 && x.non2xx === 0 && x.errors === 0 && x.timeouts === 0,
  );
}

async function main() {
  const { backend, token, rollout, seeded, logDir } = await startWorld({
    name: 'bench api',
    seed: SEED,
  });
  const catalogUrl = `${backend}/api/catalog/entities/by-name/component/default/checkout`;
  const endpoints = [
    {
      name: 'status',
      url: `${backend}/api/canary/entities/component/default/checkout`,
    },
    { name: 'details', url: `${backend}/api/canary/rollouts/${rollout.id}` },
    // What the organisation page asks.
    { name: 'list', url: `${backend}/api/canary/rollouts?limit=500` },
  ];
  // BENCH_API_ONLY=status,list measures a subset (for profiling; the
  // results file then holds only those).
  const only = process.env.BENCH_API_ONLY?.split(',');
  if (only)
    endpoints.splice(
      0,
      endpoints.length,
      ...endpoints.filter(e => only.includes(e.name)),
    );
  // Warm-up: first requests compile code paths and fill connection pools.
  for (const url of [catalogUrl, ...endpoints.map(e => e.url)]) {
    await new Promise((resolve, reject) =>
      autocannon(
        {
          url,
          connections: 10,
          duration: 2,
          headers: { authorization: `Bearer ${token}` },
        },
        e => (e ? reject(e) : resolve()),
      ),
    );
  }
  const results = {};
  for (const endpoint of endpoints) {
    log(`catalog entity-by-name, ${CONNECTIONS} clients, ${SECONDS} s ...`);
    const catalog = summary(await measure(catalogUrl, token));
    log(`${endpoint.name}, ${CONNECTIONS} clients, ${SECONDS} s ...`);
    const own = summary(await measure(endpoint.url, token));
    results[endpoint.name] = {
      path: new URL(endpoint.url).pathname + new URL(endpoint.url).search,
      ...own,
      catalog,
      p99RatioToCatalog:
        catalog.p99Ms > 0
          ? Number((own.p99Ms / catalog.p99Ms).toFixed(2))
          : null,
    };
    results[endpoint.name].clean = clean(results[endpoint.name]);
    if (!results[endpoint.name].clean) {
      log(
        `${endpoint.name}: NOT CLEAN — errors, timeouts or non-2xx answers (logs in ${logDir})`,
      );
    }
    log(
      `${endpoint.name}: p50 ${own.p50Ms} ms, p99 ${own.p99Ms} ms, ${
        own.rps
      } req/s; catalog p99 ${catalog.p99Ms} ms → ratio ${
        results[endpoint.name].p99RatioToCatalog
      }`,
    );
  }
  const out = {
    measuredAt: new Date().toISOString(),
    note: `${CONNECTIONS} concurrent clients, ${SECONDS} s per measurement, each endpoint measured right after the catalog's GET /api/catalog/entities/by-name/component/default/checkout in the same run; one guest user's token for every client; demo backend (SQLite files, permission framework with the demo policy, sandbox cluster and Prometheus) on this machine (${
      os.cpus().length
    } cores); one paused rollout of checkout${
      seeded
        ? ` with ${seeded.events} events and ${seeded.analysis} analysis rows behind it`
        : ''
    }`,
    target: 'status p99 ≤ 1.5 × catalog p99',
    statusTargetMet: results.status
      ? clean(results.status) && results.status.p99RatioToCatalog <= 1.5
      : null,
    endpoints: results,
  };
  const file = path.join(root, 'bench', 'results', 'api.json');
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${path.relative(root, file)}`);
  console.log(JSON.stringify(out, null, 2));
}

runBenchmark(main, log);
