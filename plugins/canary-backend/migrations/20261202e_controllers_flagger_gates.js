// @ts-check

/**
 * Flagger's manual gates, served by Coalmine: a Canary's confirm-rollout,
 * confirm-promotion, rollback and confirm-traffic-increase webhooks ask
 * Coalmine, and owners open the gates from the Canary tab. A gate opened
 * for one revision (Flagger's checksum) does not open the next one.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('canary_flagger_gates', table => {
    table.comment('Open manual gates of Flagger Canaries, one row per gate');
    table.string('cluster', 255).notNullable();
    table.string('namespace', 255).notNullable();
    table.string('name', 255).notNullable();
    table
      .string('gate', 32)
      .notNullable()
      .comment(
        'confirm-rollout, confirm-promotion, rollback or traffic-paused',
      );
    table
      .string('checksum', 255)
      .nullable()
      .comment("Flagger's status.lastAppliedSpec when opened; null = any");
    table.string('opened_by', 512).notNullable();
    table.bigInteger('opened_at').notNullable();
    table.primary(['cluster', 'namespace', 'name', 'gate']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('canary_flagger_gates');
};
