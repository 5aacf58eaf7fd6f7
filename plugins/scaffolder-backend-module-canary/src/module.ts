import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createCanaryStartAction } from './actions/canaryStart';

/**
 * Adds `canary:start` to the scaffolder.
 *
 * @public
 */
export const scaffolderModuleCanary = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'canary',
  register(env) {
    env.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        discovery: coreServices.discovery,
        auth: coreServices.auth,
      },
      async init({ scaffolder, discovery, auth }) {
        scaffolder.addActions(createCanaryStartAction({ discovery, auth }));
      },
    });
  },
});
