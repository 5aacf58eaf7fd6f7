// @ts-check

/**
 * The rollout store: rollouts (state machine + lease + pending cluster
 * intent), their events and analysis results, and the last pod template seen
 * per component for detection. Times are epoch milliseconds (bigint) so
 * SQLite and PostgreSQL compare them the same way.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('canary_rollouts', table => {
    table.comment('One run of a policy for one component on one cluster');
    table.string('id', 64).primary();
    table.string('entity_ref', 512).notNullable().index();
    table.string('cluster', 255).notNullable();
    table.string('namespace', 255).notNullable();
    table.string('workload', 255).notNullable();
    table.string('route', 255).nullable();
    table.string('policy', 255).notNullable();
    table.string('traffic_provider', 32).notNullable();
    table.string('phase', 32).notNullable().index();
    table.integer('step_index').notNullable();
    table.integer('weight').notNullable();
    table.integer('actual_weight').nullable();
    table.text('steps').notNullable();
    table.text('stable').notNullable();
    table.text('canary').notNullable();
    table.text('message').nullable();
    table.text('spec').notNullable().comment('policy snapshot and request');
    table.text('state').notNullable().comment('engine bookkeeping');
    table
      .text('intent')
      .nullable()
      .comment('cluster write recorded before it is made');
    table.string('started_by', 512).notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('finished_at').nullable();
    table.bigInteger('next_step_at').nullable();
    table.bigInteger('next_run_at').nullable().index();
    table.integer('version').notNullable().defaultTo(0);
    table.string('lease_owner', 255).nullable();
    table.bigInteger('lease_expires_at').nullable();
    table
      .string('active_key', 800)
      .nullable()
      .unique()
      .comment('entity|cluster while not terminal: one active rollout each');
  });
  await knex.schema.createTable('canary_rollout_events', table => {
    table.bigIncrements('id').primary();
    table
      .string('rollout_id', 64)
      .notNullable()
      .references('id')
      .inTable('canary_rollouts')
      .onDelete('CASCADE');
    table.bigInteger('time').notNullable();
    table.string('type', 64).notNullable();
    table.text('message').notNullable();
    table.string('actor', 512).notNullable();
    table.text('data').nullable();
    table.index(['rollout_id', 'id']);
  });
  await knex.schema.createTable('canary_analysis_results', table => {
    table.bigIncrements('id').primary();
    table
      .string('rollout_id', 64)
      .notNullable()
      .references('id')
      .inTable('canary_rollouts')
      .onDelete('CASCADE');
    table.bigInteger('time').notNullable();
    table.integer('step_index').notNullable();
    table.integer('weight').notNullable();
    table.string('action', 16).notNullable();
    table.text('reason').notNullable();
    table.integer('failed_checks').notNullable();
    table.text('checks').notNullable();
    table.index(['rollout_id', 'id']);
  });
  await knex.schema.createTable('canary_watched_workloads', table => {
    table.string('entity_ref', 512).notNullable();
    table.string('cluster', 255).notNullable();
    table.string('template_hash', 255).nullable();
    table.bigInteger('updated_at').notNullable();
    table.primary(['entity_ref', 'cluster']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('canary_watched_workloads');
  await knex.schema.dropTable('canary_analysis_results');
  await knex.schema.dropTable('canary_rollout_events');
  await knex.schema.dropTable('canary_rollouts');
};
