// @ts-check

/**
 * Retention: finished rollouts are found by when they finished, so that
 * column gets an index. And promoted rollouts show where their traffic
 * ended: 100 % on the new version (rollouts promoted before this release
 * kept the weight of their last step, e.g. 50 % for a replica ratio).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table.index(['finished_at'], 'canary_rollouts_finished_at_idx');
  });
  await knex('canary_rollouts')
    .where({ phase: 'Succeeded' })
    .andWhere('weight', '<>', 100)
    .update({ weight: 100 });
  await knex('canary_rollouts')
    .where({ phase: 'Succeeded' })
    .whereNotNull('actual_weight')
    .andWhere('actual_weight', '<>', 100)
    .update({ actual_weight: 100 });
};

/**
 * The weights corrected by `up` stay corrected: the weight of the last step
 * was never the state a finished rollout ended in.
 *
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table.dropIndex(['finished_at'], 'canary_rollouts_finished_at_idx');
  });
};
