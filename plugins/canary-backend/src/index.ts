/**
 * Coalmine's backend plugin: canary rollouts on Kubernetes, judged with
 * Prometheus, controlled from Backstage.
 *
 * @packageDocumentation
 */
export { canaryPlugin as default } from './plugin';
