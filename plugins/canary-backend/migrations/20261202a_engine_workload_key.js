// @ts-check

/**
 * One active rollout per workload (cluster, namespace, Service), not only per
 * component: two components naming the same Service would fight over its
 * weights. Also the count of consecutive cluster errors as a column, so the
 * loop can run backed-off rollouts last on every database.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table
      .string('active_workload_key', 800)
      .nullable()
      .unique()
      .comment('cluster|namespace|service while not terminal');
    table.integer('cluster_errors').notNullable().defaultTo(0);
  });
  const active = await knex('canary_rollouts')
    .select('id', 'cluster', 'namespace', 'workload')
    .whereNotNull('active_key')
    .orderBy('created_at', 'asc');
  const taken = new Set();
  for (const row of active) {
    const key = `${row.cluster}|${row.namespace}|${row.workload}`;
    // Two active rollouts on one workload from before this rule: the older
    // one holds the key; both still finish.
    if (taken.has(key)) continue;
    taken.add(key);
    await knex('canary_rollouts')
      .where({ id: row.id })
      .update({ active_workload_key: key });
  }
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table.dropUnique(['active_workload_key']);
  });
  await knex.schema.alterTable('canary_rollouts', table => {
    table.dropColumn('active_workload_key');
    table.dropColumn('cluster_errors');
  });
};
