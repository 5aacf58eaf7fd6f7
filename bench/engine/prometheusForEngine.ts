import {
  BatchedPrometheus,
  PrometheusClient,
} from '../../plugins/canary-backend/src/analysis';

/** Prometheus as plugin.ts hands it to the engine: reads batched across rollouts. */
export function prometheusForEngine(
  client: PrometheusClient,
): BatchedPrometheus {
  return new BatchedPrometheus(client);
}
