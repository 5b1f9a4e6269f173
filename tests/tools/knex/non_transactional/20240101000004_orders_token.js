// orders.token (uuid NOT NULL DEFAULT gen_random_uuid()) outside knex's transaction. Through
// schemagate: ADD COLUMN without the default, SET DEFAULT, a batched backfill and NOT NULL
// through a validated CHECK; every row gets its own uuid and the table is never rewritten.
exports.config = { transaction: false };

exports.up = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.uuid('token').notNullable().defaultTo(knex.raw('gen_random_uuid()'));
  });

exports.down = (knex) =>
  knex.schema.alterTable('orders', (t) => {
    t.dropColumn('token');
  });
