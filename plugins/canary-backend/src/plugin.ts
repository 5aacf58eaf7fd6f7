import {
  coreServices,
  createBackendPlugin,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { NotImplementedError } from '@backstage/errors';
import { readCanaryConfig } from './config/CanaryConfig';
import { RolloutStore } from './store/RolloutStore';
import { createRouter } from './service/router';

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
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        permissions: coreServices.permissions,
        auditor: coreServices.auditor,
        catalog: catalogServiceRef,
      },
      async init({ config, logger, database, httpRouter, httpAuth, permissions, auditor, catalog }) {
        const canaryConfig = readCanaryConfig(config);
        const store = await RolloutStore.create(
          await database.getClient(),
          resolvePackagePath('@coalmine/backstage-plugin-canary-backend', 'migrations'),
        );
        httpRouter.use(
          await createRouter({
            logger,
            httpAuth,
            permissions,
            catalog,
            auditor,
            store,
            config: canaryConfig,
            commands: {
              async start() {
                throw new NotImplementedError('engine not wired yet');
              },
              async control() {
                throw new NotImplementedError('engine not wired yet');
              },
              async series() {
                return [];
              },
            },
          }),
        );
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
      },
    });
  },
});
