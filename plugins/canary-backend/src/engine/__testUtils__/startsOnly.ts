import { Knex } from 'knex';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import { Sandbox, backstageKubernetesConfig } from '@coalmine/sandbox';
import { ClusterClients } from '../../kubernetes/ClusterClients';
import { RolloutStore } from '../../store/RolloutStore';
import { WebhookDispatcher } from '../../webhooks/WebhookDispatcher';
import { KubernetesBindingReader, WorkloadBinding } from '../../binding';
import { KubernetesClusterAccess } from '../KubernetesClusterAccess';
import { RolloutEngine } from '../RolloutEngine';
import { RolloutService } from '../../service/RolloutService';
import { migrationsDir } from './harness';

/**
 * A RolloutService on the sandbox's cluster whose engine only accepts
 * starts (`advanceOnCommand: false`): the engine processes a test spawns run
 * the rollouts.
 */
export async function startsOnlyService(db: Knex, sb: Sandbox) {
  const store = await RolloutStore.create(db, migrationsDir);
  const clusterClients = ClusterClients.fromConfig(
    new ConfigReader({
      kubernetes: backstageKubernetesConfig([
        { url: sb.apiUrl, token: sb.token },
      ]),
    }),
  );
  const logger = mockServices.logger.mock();
  const commands = new RolloutService(
    store,
    new RolloutEngine({
      store,
      clusters: new KubernetesClusterAccess(clusterClients),
      logger,
      webhooks: new WebhookDispatcher(logger, () => undefined),
      binding: new WorkloadBinding(
        {},
        new KubernetesBindingReader(clusterClients),
      ),
      advanceOnCommand: false,
    }),
  );
  return { store, commands };
}
