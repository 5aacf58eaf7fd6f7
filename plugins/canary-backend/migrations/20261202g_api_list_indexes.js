// @ts-check

/**
 * Indexes for the read side: a component's newest rollouts (the Canary tab's
 * status call) and the organisation-wide list, both newest first with the id
 * as tie-breaker, so either is one index range scan however many rollouts
 * the table holds.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table.index(
      ['entity_ref', 'created_at', 'id'],
      'canary_rollouts_entity_newest_idx',
    );
    table.index(['created_at', 'id'], 'canary_rollouts_newest_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('canary_rollouts', table => {
    table.dropIndex(
      ['entity_ref', 'created_at', 'id'],
      'canary_rollouts_entity_newest_idx',
    );
    table.dropIndex(['created_at', 'id'], 'canary_rollouts_newest_idx');
  });
};
