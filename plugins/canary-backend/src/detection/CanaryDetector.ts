import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { CANARY_POLICY_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import { CanaryConfig } from '../config/CanaryConfig';
import { ResolvedTarget, resolveTarget } from '../config/resolveTarget';
import { RolloutStore } from '../store/RolloutStore';
import type { ClusterAccess } from '../domain/ports';
import type { RolloutService } from '../service/RolloutService';

/** The actor recorded for rollouts the detector starts. */
export const DETECTOR_ACTOR = 'coalmine:detector';

/**
 * Notices when CI/GitOps applied a new pod template to a component's canary
 * Deployment and starts a rollout when the component's policy has autoStart.
 * The first sight of a component only records what runs; a change starts.
 */
export class CanaryDetector {
  constructor(
    private readonly options: {
      catalog: CatalogService;
      auth: AuthService;
      store: RolloutStore;
      rollouts: Pick<RolloutService, 'start'>;
      clusters: ClusterAccess;
      config: CanaryConfig;
      logger: LoggerService;
    },
  ) {}

  async run(): Promise<void> {
    const { catalog, auth, config, logger } = this.options;
    const credentials = await auth.getOwnServiceCredentials();
    const { items } = await catalog.getEntities(
      {
        filter: {
          [`metadata.annotations.${CANARY_POLICY_ANNOTATION}`]:
            CATALOG_FILTER_EXISTS,
        },
      },
      { credentials },
    );
    for (const entity of items) {
      const resolution = resolveTarget(entity, config);
      if (!resolution.ok || !resolution.resolved.policy.autoStart) continue;
      for (const cluster of resolution.resolved.target.clusters) {
        try {
          await this.check(resolution.resolved, cluster);
        } catch (e) {
          logger.warn(
            `Canary detection for ${stringifyEntityRef(
              entity,
            )} on ${cluster} failed: ${(e as Error).message}`,
          );
        }
      }
    }
  }

  private async check(resolved: ResolvedTarget, cluster: string) {
    const { store, rollouts, clusters, logger } = this.options;
    const { target, policy } = resolved;
    const topology = await clusters
      .trafficProvider(cluster, policy.trafficProvider)
      .discover({
        cluster,
        namespace: target.namespace,
        service: target.workload,
        route: target.route,
        provider: policy.trafficProvider,
        stickyHeader: policy.stickyHeader,
      });
    const hash = await clusters
      .workloads(cluster)
      .templateHash(target.namespace, topology.canary.name);
    if (!hash) return;
    const key = `${topology.canary.name}@${hash}`;
    const seen = await store.getWatchedHash(target.entityRef, cluster);
    if (seen?.hash === key) return;
    if (!seen) {
      // First sight: record what runs; only a change starts a rollout.
      await store.setWatchedHash(target.entityRef, cluster, key);
      return;
    }
    // After a versioned-subsets promotion the retired old stable looks like
    // "the other" Deployment; a Deployment with no replicas is not a new canary.
    if (
      topology.shape === 'versioned-subsets' &&
      topology.canary.replicas === 0
    ) {
      await store.setWatchedHash(target.entityRef, cluster, key);
      return;
    }
    // A rollout is active: the template is not recorded, so it starts one
    // once that rollout ends (unless that rollout took it over meanwhile).
    if (await store.activeFor(target.entityRef, cluster)) return;
    if (
      await store.activeForWorkload(cluster, target.namespace, target.workload)
    ) {
      return;
    }
    logger.info(
      `New canary template for ${target.entityRef} on ${cluster}; starting a rollout`,
    );
    // Recorded only once its rollout started: a start that failed is tried again.
    await rollouts.start({ resolved, cluster, startedBy: DETECTOR_ACTOR });
    await store.setWatchedHash(target.entityRef, cluster, key);
  }
}
