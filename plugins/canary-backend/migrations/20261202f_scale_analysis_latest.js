// @ts-check

/**
 * Analysis results are kept on a change of verdict and as a periodic sample,
 * not on every tick; between them one provisional row per rollout holds the
 * latest check (updated in place), so what the tab shows stays current while
 * the table grows by the kept rows only.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('canary_analysis_results', table => {
    table
      .boolean('provisional')
      .notNullable()
      .defaultTo(false)
      .comment('true: the latest check only, replaced by the next one');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('canary_analysis_results', table => {
    table.dropColumn('provisional');
  });
};
