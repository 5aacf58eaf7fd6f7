// @ts-check

/**
 * Consumers of the rollout event log (the notifier): how far each has read,
 * so a restart resumes where the last replica stopped.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('canary_event_consumers', table => {
    table.comment('Read position of each consumer of canary_rollout_events');
    table.string('name', 64).primary();
    table.bigInteger('last_event_id').notNullable();
    table.bigInteger('updated_at').notNullable();
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('canary_event_consumers');
};
