import {
  coreServices,
  createBackendPlugin,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import type { Config } from '@backstage/config';
import {
  prometheusFor,
  readCanaryConfig,
  startupWarnings,
} from './config/CanaryConfig';
import { RolloutStore } from './store/RolloutStore';
import { createRouter } from './service/router';
import { ClusterClients } from './kubernetes/ClusterClients';
import { KubernetesClusterAccess } from './engine/KubernetesClusterAccess';
import { PrometheusRolloutAnalyzer } from './engine/PrometheusRolloutAnalyzer';
import { RolloutEngine } from './engine/RolloutEngine';
import { CanaryDetector } from './detection/CanaryDetector';
import { RolloutService } from './service/RolloutService';
import { WebhookDispatcher } from './webhooks/WebhookDispatcher';
import { WebhookOutbox } from './webhooks/outbox';
import { KubernetesBindingReader, WorkloadBinding } from './binding';
import { createRedactor } from './service/redact';
import {
  BatchedPrometheus,
  PrometheusClient,
  PrometheusQuerier,
} from './analysis';
import { ExternalControllers } from './controllers/ExternalControllers';
import { FlaggerGateStore } from './controllers/FlaggerGateStore';
import {
  createControllersRouter,
  listExternalRollouts,
  withExternalControllers,
} from './controllers/router';
import { FLAGGER_GATE_PATH } from './controllers/flagger';
import { ownersOf } from './config/resolveTarget';
import type { TrafficTopology } from './kubernetes/types';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { notificationService } from '@backstage/plugin-notifications-node';
import { RolloutNotifier } from './notifications/RolloutNotifier';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { registerCanaryActions } from './actions/registerCanaryActions';
import { RolloutAuthorizer } from './service/authorize';
import { RolloutRetention } from './retention/RolloutRetention';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { RolloutSignalPublisher } from './signals/RolloutSignalPublisher';

/**
 * Coalmine's backend plugin: runs canary rollouts on Kubernetes and serves
 * the API under /api/canary.
 *
 * @public
 */
export const canaryPlugin = createBackendPlugin({
  pluginId: 'canary',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        database: coreServices.database,
        scheduler: coreServices.scheduler,
        lifecycle: coreServices.lifecycle,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        permissions: coreServices.permissions,
        auditor: coreServices.auditor,
        catalog: catalogServiceRef,
        notifications: notificationService,
        actionsRegistry: actionsRegistryServiceRef,
        // Has a default factory (through the events service): an app
        // without the signals backend starts, and nobody hears the signals.
        signals: signalsServiceRef,
      },
      async init({
        config,
        logger,
        database,
        scheduler,
        lifecycle,
        httpRouter,
        httpAuth,
        auth,
        permissions,
        auditor,
        catalog,
        notifications,
        actionsRegistry,
        signals,
      }) {
        // Throws at start-up with every wrong key named.
        const canaryConfig = readCanaryConfig(config);
        const db = await database.getClient();
        const store = await RolloutStore.create(
          db,
          resolvePackagePath(
            '@coalmine/backstage-plugin-canary-backend',
            'migrations',
          ),
        );
        // Live updates: every change a viewer would see is signalled to open tabs.
        const publisher = new RolloutSignalPublisher({
          signals,
          logger,
          lookup: async id => (await store.get(id))?.entityRef,
        });
        store.onChange(change => publisher.changed(change));
        lifecycle.addShutdownHook(() => publisher.stop());
        for (const warning of startupWarnings(canaryConfig)) {
          logger.warn(warning);
        }
        const clusterClients = ClusterClients.fromConfig(config, {
          // A cache older than two loops is not trusted: reads go direct.
          watchCache: canaryConfig.loop.watchCache && {
            staleAfterMs: 2 * canaryConfig.loop.frequencyMs,
          },
          logger,
        });
        lifecycle.addShutdownHook(() => clusterClients.close());
        const clusters = new KubernetesClusterAccess(clusterClients);
        const binding = new WorkloadBinding(
          canaryConfig.clusters,
          new KubernetesBindingReader(clusterClients),
        );
        // Flagger Canaries and Argo Rollouts: shown and controlled, never driven by the engine.
        const external = new ExternalControllers({
          cluster: name => clusterClients.forCluster(name),
          clusterNames: clusterClients.clusterNames(),
          gates: new FlaggerGateStore(db),
          // Only the Service binding and the Deployments the controller changes:
          // Argo's ReplicaSets belong to the Rollout, not to a Deployment.
          requireBinding: ({
            entity,
            cluster,
            namespace,
            service,
            deployments,
          }) =>
            binding.require({
              entityRef: stringifyEntityRef(entity),
              owners: ownersOf(entity),
              cluster,
              namespace,
              service,
              topology: {
                stable: { name: deployments[0] ?? `${service}-unmanaged` },
                canary: { name: deployments[0] ?? `${service}-unmanaged` },
              } as TrafficTopology,
            }),
        });
        // URLs, headers and secrets of webhooks come from the config at call time.
        const webhooks = new WebhookDispatcher(logger, (policy, name) =>
          canaryConfig.webhooks[policy]?.find(h => h.name === name),
        );
        const outbox = new WebhookOutbox({
          db,
          dispatcher: webhooks,
          logger,
          recordEvents: (id, events) => store.addEvents(id, events),
        });
        const prometheusClients = new Map<
          string,
          PrometheusQuerier | undefined
        >();
        const analyzer = new PrometheusRolloutAnalyzer(
          canaryConfig.templates,
          cluster => {
            if (!prometheusClients.has(cluster)) {
              const block = prometheusFor(canaryConfig, cluster);
              prometheusClients.set(
                cluster,
                block
                  ? new BatchedPrometheus(PrometheusClient.fromConfig(block))
                  : undefined,
              );
            }
            return prometheusClients.get(cluster);
          },
        );
        const engine = new RolloutEngine({
          store,
          clusters,
          analyzer,
          webhooks,
          binding,
          logger,
          leaseMs: canaryConfig.loop.leaseMs,
          concurrency: canaryConfig.loop.concurrency,
          // Rollouts waiting for the cluster are looked at on every loop.
          pollMs: canaryConfig.loop.frequencyMs,
          // A step or an analysis due between two loops runs at its time.
          lookaheadMs: canaryConfig.loop.frequencyMs,
          // A canary with traffic is looked at every loop (at least every 5 s).
          watchMs: Math.max(5000, canaryConfig.loop.frequencyMs),
          // The analyses of one loop share their Prometheus queries (one per metric).
          analysisSlotMs: canaryConfig.loop.frequencyMs,
          // Analysis rows: every change of verdict, else one a minute.
          analysisSampleMs: 60_000,
          // Looking passes re-read the binding once a minute; writing ones always.
          bindingRecheckMs: 60_000,
        });
        const rollouts = new RolloutService(store, engine);
        const detector = new CanaryDetector({
          catalog,
          auth,
          store,
          rollouts: {
            start: async request => {
              await external.refuseIfWorkloadManaged(
                request.resolved.target,
                request.cluster,
              );
              return rollouts.start(request);
            },
          },
          clusters,
          config: canaryConfig,
          logger,
        });

        await scheduler.scheduleTask({
          id: 'canary-rollout-loop',
          frequency: { milliseconds: canaryConfig.loop.frequencyMs },
          timeout: { minutes: 5 },
          scope: 'global',
          fn: () => engine.tick({ wait: false }),
        });
        await scheduler.scheduleTask({
          id: 'canary-detect-new-versions',
          frequency: { milliseconds: canaryConfig.detection.frequencyMs },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          scope: 'global',
          fn: () => detector.run(),
        });
        if (canaryConfig.notifications.enabled) {
          const notifier = new RolloutNotifier({
            db: await database.getClient(),
            notifications,
            logger,
          });
          await scheduler.scheduleTask({
            id: 'canary-notify-owners',
            frequency: { milliseconds: canaryConfig.notifications.frequencyMs },
            timeout: { minutes: 2 },
            initialDelay: { seconds: 5 },
            scope: 'global',
            fn: async () => {
              await notifier.run();
            },
          });
        }
        await scheduler.scheduleTask({
          id: 'canary-webhook-outbox',
          frequency: { milliseconds: canaryConfig.loop.frequencyMs },
          timeout: { minutes: 5 },
          scope: 'global',
          fn: async () => {
            await outbox.deliverDue();
          },
        });
        // Finished rollouts older than canary.retention.maxAge go, with their rows.
        const retention = new RolloutRetention({
          db,
          maxAgeMs: canaryConfig.retention.maxAgeMs,
          logger,
        });
        await scheduler.scheduleTask({
          id: 'canary-retention',
          frequency: canaryConfig.retention.frequency,
          timeout: { minutes: 10 },
          initialDelay: { minutes: 1 },
          scope: 'global',
          fn: async () => {
            await retention.run();
          },
        });
        lifecycle.addShutdownHook(() => engine.stop());

        httpRouter.use(
          createControllersRouter({
            logger,
            httpAuth,
            permissions,
            catalog,
            auditor,
            controllers: external,
            clusterNames: clusterClients.clusterNames(),
            authorizer: new RolloutAuthorizer(
              permissions,
              canaryConfig.servicePrincipals,
            ),
            auth,
          }),
        );
        httpRouter.use(
          await createRouter({
            logger,
            httpAuth,
            permissions,
            catalog,
            auditor,
            auth,
            store,
            config: canaryConfig,
            commands: rollouts,
            external: {
              status: (entity, status) =>
                withExternalControllers(external, entity, status),
              refuseStart: (entity, cluster) =>
                external.refuseIfManaged(entity, cluster),
              list: (credentials, catalogCredentials, filter) =>
                listExternalRollouts(
                  catalog,
                  permissions,
                  external,
                  { credentials, catalogCredentials },
                  filter,
                ),
            },
            redact: createRedactor(endpointsOf(config)),
          }),
        );
        // Flagger's webhooks cannot sign in; the gate check only answers open or shut.
        httpRouter.addAuthPolicy({
          path: FLAGGER_GATE_PATH,
          allow: 'unauthenticated',
        });
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
        // The same use cases for assistants (MCP) and automation.
        registerCanaryActions(actionsRegistry, {
          catalog,
          auth,
          permissions,
          authorizer: new RolloutAuthorizer(
            permissions,
            canaryConfig.servicePrincipals,
          ),
          auditor,
          store,
          config: canaryConfig,
          commands: rollouts,
          refuseStart: (entity, cluster) =>
            external.refuseIfManaged(entity, cluster),
        });
      },
    });
  },
});

/** Every internal endpoint in the config, so answers never show their host names. */
function endpointsOf(config: Config): string[] {
  const urls: string[] = [];
  for (const method of config.getOptionalConfigArray(
    'kubernetes.clusterLocatorMethods',
  ) ?? []) {
    for (const cluster of method.getOptionalConfigArray('clusters') ?? []) {
      const url = cluster.getOptionalString('url');
      if (url) urls.push(url);
    }
  }
  const prometheus = config.getOptionalString('canary.prometheus.url');
  if (prometheus) urls.push(prometheus);
  for (const name of config.getOptionalConfig('canary.clusters')?.keys() ??
    []) {
    const url = config.getOptionalString(
      `canary.clusters.${name}.prometheus.url`,
    );
    if (url) urls.push(url);
  }
  for (const policy of config.getOptionalConfig('canary.policies')?.keys() ??
    []) {
    for (const hook of config.getOptionalConfigArray(
      `canary.policies.${policy}.webhooks`,
    ) ?? []) {
      const url = hook.getOptionalString('url');
      if (url) urls.push(url);
    }
  }
  return urls;
}
