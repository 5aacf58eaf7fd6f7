import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import knexFactory, { Knex } from 'knex';

/**
 * The database service for a test backend: each plugin gets its own
 * in-memory SQLite database, as with the default service, and every one is
 * destroyed when the backend stops.
 *
 * Backstage's DatabaseManager leaves SQLite clients open at shutdown (an
 * in-memory database would be gone with its client), so each test backend
 * left a connection pool behind whose reaping timer kept the jest worker
 * alive after its tests: "A worker process has failed to exit gracefully
 * and has been force exited".
 */
export const testDatabaseServiceFactory = createServiceFactory({
  service: coreServices.database,
  deps: {
    lifecycle: coreServices.rootLifecycle,
    plugin: coreServices.pluginMetadata,
  },
  createRootContext({ lifecycle }) {
    const clients = new Map<string, Knex>();
    lifecycle.addShutdownHook(async () => {
      await Promise.all([...clients.values()].map(client => client.destroy()));
    });
    return clients;
  },
  factory({ plugin }, clients) {
    return {
      getClient: async () => {
        const id = plugin.getId();
        let client = clients.get(id);
        if (!client) {
          client = knexFactory({
            client: 'better-sqlite3',
            connection: ':memory:',
            useNullAsDefault: true,
          });
          clients.set(id, client);
        }
        return client;
      },
    };
  },
});
