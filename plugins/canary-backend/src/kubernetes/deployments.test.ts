import type { V1Deployment } from '@kubernetes/client-node';
import {
  deriveCanaryDeployment,
  hashPodTemplate,
  podsMatch,
  withPromotedTemplate,
} from './deployments';
import {
  parseManifests,
  SEED_000_DEPLOYMENT_V2,
  SEED_000_SERVICE_AND_DEPLOYMENT,
  SEED_002_REPLICA_SPLIT,
  parseManifest,
} from './__fixtures__/seedManifests';

describe('deployments', () => {
  const [, v1] = parseManifests<V1Deployment>(SEED_000_SERVICE_AND_DEPLOYMENT);
  const [baseline, canary] = parseManifests<V1Deployment>(
    SEED_002_REPLICA_SPLIT,
  );

  it('derives seed 000 my-app-v2 from my-app-v1', () => {
    const v2 = deriveCanaryDeployment(v1, {
      name: 'my-app-v2',
      versionLabel: 'version',
      stableVersion: 'v1',
      canaryVersion: 'v2',
      image: 'my-registry/my-app:v2',
    });
    const expected = parseManifest<V1Deployment>(SEED_000_DEPLOYMENT_V2);
    expect(v2.spec!.selector).toEqual(expected.spec!.selector);
    expect(v2.spec!.template).toEqual(expected.spec!.template);
    expect(v2.metadata!.name).toBe('my-app-v2');
    // the engine scales it as the rollout goes
    expect(v2.spec!.replicas).toBe(0);
    expect(v1.spec!.template.metadata!.labels!.version).toBe('v1');
  });

  it('gives canary pods a version label when stable has none', () => {
    const plain: V1Deployment = JSON.parse(JSON.stringify(v1));
    delete plain.spec!.selector.matchLabels!.version;
    delete plain.spec!.template.metadata!.labels!.version;
    const c = deriveCanaryDeployment(plain, {
      name: 'my-app-canary',
      versionLabel: 'version',
      stableVersion: undefined,
      canaryVersion: 'canary',
    });
    expect(c.spec!.selector.matchLabels).toEqual({
      app: 'my-app',
      version: 'canary',
    });
    expect(podsMatch(c, { app: 'my-app' })).toBe(true);
  });

  it('copies the canary template into stable, keeping stable labels', () => {
    const promoted = withPromotedTemplate(baseline, canary);
    expect(promoted.spec!.template.spec!.containers[0].image).toBe(
      'apargo/api-service:v1.5.0',
    );
    expect(promoted.spec!.template.metadata!.labels).toEqual({
      app: 'api-service',
      version: 'stable',
    });
    expect(promoted.spec!.selector).toEqual(baseline.spec!.selector);
    expect(promoted.spec!.replicas).toBe(9);
  });

  it('hashes templates independent of key order', () => {
    const a = hashPodTemplate(baseline.spec!.template);
    const reordered = JSON.parse(
      JSON.stringify({
        spec: baseline.spec!.template.spec,
        metadata: baseline.spec!.template.metadata,
      }),
    );
    expect(hashPodTemplate(reordered)).toBe(a);
    expect(hashPodTemplate(canary.spec!.template)).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
  });
});
