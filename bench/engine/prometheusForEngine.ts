import type { PrometheusQuerier } from '../../plugins/canary-backend/src/analysis';

/** Prometheus as plugin.ts hands it to the engine. */
export function prometheusForEngine(client: PrometheusQuerier): PrometheusQuerier {
  return client;
}
