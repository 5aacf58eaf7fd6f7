// @ts-check

/**
 * Webhooks move out of rollout rows:
 * - `canary_webhook_outbox`: post-rollout and event webhooks to deliver,
 *   written in the same transaction as the rollout change that caused them
 *   and delivered at least once (also after a restart) by the outbox loop;
 *   the row id is sent as the `Idempotency-Key` header.
 * - every stored policy snapshot loses its webhooks' URLs, headers and
 *   secrets: they are read from the configuration at call time.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('canary_webhook_outbox', table => {
    table.comment('Post-rollout and event webhooks waiting for delivery');
    table.string('id', 64).primary().comment('also the Idempotency-Key');
    table
      .string('rollout_id', 64)
      .notNullable()
      .references('id')
      .inTable('canary_rollouts')
      .onDelete('CASCADE');
    table.string('policy', 255).notNullable();
    table.string('hook', 255).notNullable();
    table.string('hook_type', 32).notNullable();
    table.text('payload').notNullable();
    table.bigInteger('created_at').notNullable();
    table.integer('attempts').notNullable().defaultTo(0);
    table.bigInteger('next_attempt_at').notNullable().index();
    table.string('claimed_by', 255).nullable();
    table.bigInteger('claimed_until').nullable();
    table.bigInteger('delivered_at').nullable();
    table.bigInteger('gave_up_at').nullable();
    table.text('last_error').nullable();
  });

  const rows = await knex('canary_rollouts').select('id', 'spec');
  for (const row of rows) {
    let spec;
    try {
      spec = JSON.parse(row.spec);
    } catch {
      continue;
    }
    const hooks = spec?.policy?.webhooks;
    if (!Array.isArray(hooks)) continue;
    spec.policy.webhooks = hooks.map(h =>
      h.metadata
        ? { name: h.name, type: h.type, metadata: h.metadata }
        : { name: h.name, type: h.type },
    );
    await knex('canary_rollouts')
      .where({ id: row.id })
      .update({ spec: JSON.stringify(spec) });
  }
};

/**
 * The removed URLs and secrets cannot be put back; running rollouts read
 * them from the configuration either way.
 *
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('canary_webhook_outbox');
};
